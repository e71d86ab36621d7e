// The search page: query → ranked images with score and vokens; a click shows the image's partition and its
// nearest neighbours by shared voken prefix (GET /v1/images/{id}/neighbours).
"use strict";

(() => {
  const { api, el, thumb, vokenChips, number } = avg;
  const form = document.getElementById("search-form");
  const query = document.getElementById("query");
  const k = document.getElementById("k");
  const status = document.getElementById("status");
  const results = document.getElementById("results");
  const detail = document.getElementById("detail");

  form.addEventListener("submit", async event => {
    event.preventDefault();
    const text = query.value.trim();
    if (!text) return;
    status.className = "muted";
    status.textContent = "Searching…";
    try {
      const response = await api("/v1/search", { method: "POST", body: { query: text, k: Number(k.value) } });
      const t = response.timing;
      status.textContent = `${response.results.length} results in ${number(t.totalMs, 1)} ms ` +
        `(generator ${number(t.generatorMs, 1)} ms, ${t.fanOutCalls} fan-out calls) · index ${response.indexVersion.slice(0, 12)}`;
      results.replaceChildren(...response.results.map((hit, i) => card(hit, i + 1)));
      history.replaceState(null, "", "?q=" + encodeURIComponent(text));
    } catch (e) {
      status.className = "error";
      status.textContent = e.message;
    }
  });

  function card(hit, rank) {
    const node = el("article", { class: "card result", "data-id": hit.imageId, onclick: () => select(hit.imageId, node) },
      el("span", { class: "rank" }, "#" + rank),
      thumb(hit.uri, hit.imageId),
      el("div", { class: "meta" },
        el("span", { class: "id", title: hit.imageId }, hit.imageId),
        el("span", { class: "score", title: "sum of step log-probabilities" }, number(hit.score, 3))),
      vokenChips(hit.vokens));
    return node;
  }

  async function select(id, node) {
    for (const selected of results.querySelectorAll(".card.selected")) selected.classList.remove("selected");
    if (node) node.classList.add("selected");
    detail.replaceChildren(el("p", { class: "muted" }, "Loading " + id + "…"));
    try {
      const image = await api(`/v1/images/${encodeURIComponent(id)}/neighbours?k=12`);
      detail.replaceChildren(
        el("h2", {}, "Image " + image.id),
        thumb(image.uri, image.id),
        el("dl", {},
          el("dt", {}, "Vokens"), el("dd", { id: "detail-vokens" }, vokenChips(image.vokens)),
          el("dt", {}, "Partition"), el("dd", { id: "detail-partition" }, image.partition),
          el("dt", {}, "URI"), el("dd", {}, image.uri || "—")),
        el("h2", {}, "Nearest by shared prefix"),
        image.neighbours.length === 0
          ? el("p", { class: "muted" }, "No other image shares this image's first voken.")
          : el("div", { id: "neighbours" }, image.neighbours.map(n =>
            el("div", { class: "neighbour", "data-id": n.id, onclick: () => select(n.id, results.querySelector(`.card[data-id="${CSS.escape(n.id)}"]`)) },
              thumb(n.uri, n.id),
              el("div", {},
                el("div", {}, el("strong", {}, n.id), " ", el("span", { class: "shared-count" }, `shares ${n.sharedPrefix} of ${n.vokens.length}`)),
                vokenChips(n.vokens, n.sharedPrefix))))));
    } catch (e) {
      detail.replaceChildren(el("p", { class: "error" }, e.message));
    }
  }

  const initial = new URLSearchParams(location.search).get("q");
  if (initial) {
    query.value = initial;
    form.requestSubmit();
  }
})();
