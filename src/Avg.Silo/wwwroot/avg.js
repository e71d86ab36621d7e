// Shared by the pages: calls to the HTTP API (with the API key if one is set) and small DOM helpers.
"use strict";

const avg = (() => {
  // The header is the same on every page: built here, with the current page's link marked.
  const pages = [["/", "Search"], ["/shards.html", "Shards"], ["/dashboard", "Orleans dashboard"], ["/metrics", "Metrics"]];
  const header = document.querySelector("header.top");
  if (header) {
    const path = location.pathname === "/index.html" ? "/" : location.pathname;
    const nav = document.createElement("nav");
    for (const [href, text] of pages) {
      const link = document.createElement("a");
      link.href = href;
      link.textContent = text;
      if (href === path) link.className = "here";
      nav.append(link);
    }
    const brand = document.createElement("span");
    brand.className = "brand";
    brand.textContent = "AVG Cluster";
    const key = document.createElement("label");
    key.className = "key";
    key.title = "Needed when the silo has Avg__ApiKeys";
    key.append("API key ");
    const input = document.createElement("input");
    Object.assign(input, { id: "api-key", type: "password", autocomplete: "off" });
    key.append(input);
    header.replaceChildren(brand, nav, key);
  }

  const keyInput = document.getElementById("api-key");
  if (keyInput) {
    keyInput.value = localStorage.getItem("avg.apiKey") || "";
    keyInput.addEventListener("change", () => localStorage.setItem("avg.apiKey", keyInput.value.trim()));
  }

  async function api(path, options = {}) {
    const headers = { "Accept": "application/json", ...(options.headers || {}) };
    const key = localStorage.getItem("avg.apiKey");
    if (key) headers["X-Api-Key"] = key;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { ...options, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
    const text = await response.text();
    const body = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const detail = body && (body.detail || body.title) || response.statusText;
      const fields = body && body.errors ? " " + Object.values(body.errors).flat().join(" ") : "";
      throw new Error(`${response.status}: ${detail}${fields}`);
    }
    return body;
  }

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    for (const child of children.flat()) {
      if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // An http(s) uri is shown as is; any other uri (file path, shapes://name.png) by its file name from the silo's
  // image folder (Avg__ImageRoot, GET /images/{fileName}); no uri, no picture.
  function imageUrl(uri) {
    if (!uri) return null;
    if (/^https?:\/\//i.test(uri)) return uri;
    const name = uri.split(/[\/\\:]/).filter(Boolean).pop();
    return name ? "/images/" + encodeURIComponent(name) : null;
  }

  function thumb(uri, label) {
    const url = imageUrl(uri);
    const none = () => el("div", { class: "thumb none" }, "no image");
    if (!url) return none();
    const img = el("img", { class: "thumb", src: url, alt: label, loading: "lazy" });
    img.addEventListener("error", () => img.replaceWith(none()));
    return img;
  }

  function vokenChips(vokens, shared = 0) {
    return el("span", { class: "vokens" }, vokens.map((v, i) => el("span", { class: i < shared ? "chip shared" : "chip" }, v)));
  }

  const number = (value, digits = 0) => Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

  return { api, el, thumb, vokenChips, number };
})();
