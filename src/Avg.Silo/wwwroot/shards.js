// The shard dashboard: polls GET /v1/stats every 2 s; charts each tokenization shard's images/s over the last five
// minutes (history kept by the silos), and lists partitions with their load, query latency and the silos.
"use strict";

(() => {
  const { api, el, number } = avg;
  const PollMs = 2000;
  const colours = ["#2f6fde", "#16855b", "#d9480f", "#7048e8", "#c2255c", "#0b7285", "#e67700", "#5c940d"];
  const svgNs = "http://www.w3.org/2000/svg";
  const text = (id, value) => { document.getElementById(id).textContent = value; };

  function svg(tag, attributes = {}) {
    const node = document.createElementNS(svgNs, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    return node;
  }

  function points(values, width, height, max) {
    const step = values.length > 1 ? width / (values.length - 1) : 0;
    return values.map((v, i) => `${(i * step).toFixed(1)},${(height - (v / max) * (height - 4) - 2).toFixed(1)}`).join(" ");
  }

  function chart(shards) {
    const node = document.getElementById("shard-chart");
    const [width, height] = [600, 160];
    const max = Math.max(1, ...shards.flatMap(s => s.history || []));
    text("chart-max", `${number(max, 1)} images/s`);
    const children = [svg("line", { class: "axis", x1: 0, y1: height - 1, x2: width, y2: height - 1, "vector-effect": "non-scaling-stroke" })];
    shards.forEach((s, i) => children.push(svg("polyline", {
      fill: "none", stroke: colours[i % colours.length], "stroke-width": 2, "vector-effect": "non-scaling-stroke",
      points: points(s.history || [], width, height, max), "data-shard": s.shard,
    })));
    node.replaceChildren(...children);
  }

  function spark(values, colour) {
    const node = svg("svg", { class: "spark", viewBox: "0 0 100 20", preserveAspectRatio: "none" });
    node.append(svg("polyline", { fill: "none", stroke: colour, "stroke-width": 1.5, "vector-effect": "non-scaling-stroke", points: points(values, 100, 20, Math.max(1, ...values)) }));
    return node;
  }

  function render(stats) {
    const shards = [...stats.shards].sort((a, b) => a.shard - b.shard);
    text("images", number(stats.images));
    text("partitions", number(stats.partitions));
    text("ingest-rate", number(shards.reduce((sum, s) => sum + (s.recentImagesPerSecond || 0), 0), 1));
    text("queries", number(stats.queries.count));
    text("qps", number(stats.queries.queriesPerSecond, 1));
    text("latency-p50", `${number(stats.queries.p50Ms, 1)} ms`);
    text("latency-p99", `${number(stats.queries.p99Ms, 1)} ms`);

    chart(shards);
    document.querySelector("#shards tbody").replaceChildren(...shards.map((s, i) => el("tr", { class: "shard", "data-shard": s.shard },
      el("td", {}, el("span", { class: "swatch", style: `background:${colours[i % colours.length]}` }), s.shard),
      el("td", { class: "num images" }, number(s.images)),
      el("td", { class: "num rate" }, number(s.recentImagesPerSecond || 0, 1)),
      el("td", { class: "num busy-rate" }, number(s.imagesPerSecond, 1)),
      el("td", {}, spark(s.history || [], colours[i % colours.length])))));

    const load = [...stats.partitionLoad].sort((a, b) => a.partition - b.partition);
    const maxImages = Math.max(1, ...load.map(p => p.images));
    const maxQueries = Math.max(1, ...load.map(p => p.queries));
    document.querySelector("#partitions tbody").replaceChildren(...load.map(p => el("tr", { class: "partition", "data-partition": p.partition },
      el("td", {}, p.partition),
      el("td", { class: "num images" }, number(p.images)),
      el("td", { class: "num queries" }, number(p.queries)),
      el("td", { class: "bars" },
        el("div", { class: "bar", style: `width:${(100 * p.images / maxImages).toFixed(1)}%`, title: `${p.images} images` }),
        el("div", { class: "bar queries", style: `width:${(100 * p.queries / maxQueries).toFixed(1)}%`, title: `${p.queries} queries` })))));

    document.querySelector("#silos tbody").replaceChildren(...stats.silos.map(s => el("tr", { class: "silo" },
      el("td", {}, s.address),
      el("td", { class: "roles" }, s.roles.join(", ")),
      el("td", { class: s.model ? "yes" : "" }, s.model ? "yes" : "no"),
      el("td", { class: s.gpu ? "yes" : "" }, s.gpu ? "yes" : "no"),
      el("td", {}, s.status))));
    text("updated", `Index ${stats.indexVersion.slice(0, 12)} · updated ${new Date().toLocaleTimeString()} · every ${PollMs / 1000} s`);
  }

  async function poll() {
    try {
      render(await api("/v1/stats"));
    } catch (e) {
      const updated = document.getElementById("updated");
      updated.className = "error";
      updated.textContent = e.message;
    } finally {
      setTimeout(poll, PollMs);
    }
  }

  poll();
})();
