// Academy dashboard: fetch each panel's JSON (/dashboard/api/<panel>) and draw it with Plotly.
// Every figure drawn is also exposed in the DOM: each table cell and summary figure carries its exact
// value in data-value (JSON), and each chart div holds Plotly's traces (gd.data), so a browser test
// can compare what the page shows with what the JSON API returned.
(function () {
  "use strict";

  const cfg = JSON.parse(document.getElementById("dashboard-config").textContent);
  const url = new URLSearchParams(window.location.search);
  const key = url.get("key");
  const headers = key ? { Authorization: "Bearer " + key } : {};
  const DASH = "–";
  const SYMBOLS = {
    candidate: "circle-open", staging: "square", production: "triangle-up", rejected: "x",
    archived: "triangle-down-open", "rolled back": "triangle-down", rollback: "star",
  };

  // The same colour for the same thing in every chart (routes, roles, the teacher, the cache).
  const COLORS = {
    novel: "#1f77b4", familiar: "#ff7f0e", cache: "#9aa4b2", "shadow answers": "#d62728",
    teacher: "#6a3d9a", ta: "#1b9e77", student: "#e6ab02", unknown: "#cccccc",
    Academy: "#1f77b4", "always-teacher": "#6a3d9a", "with a peer teacher": "#ff7f0e",
    "without a peer teacher": "#1f77b4", "selected gap": "#d62728", "other cluster": "#9aa4b2",
  };

  function fmt(value, digits) {
    if (value === null || value === undefined) return DASH;
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "number" && digits !== null && digits !== undefined) return value.toFixed(digits);
    return String(value);
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function query(panel) {
    const params = new URLSearchParams();
    if (cfg.tenant) params.set("tenant", cfg.tenant);
    if (panel === "traffic" && cfg.bucket) params.set("bucket", cfg.bucket);
    const text = params.toString();
    return cfg.api + "/" + panel + (text ? "?" + text : "");
  }

  function traces(chart) {
    if (chart.kind === "heatmap") {
      return [{
        type: "heatmap", x: chart.x, y: chart.y, z: chart.z, text: chart.text,
        zmin: 0, zmax: 1, colorscale: [[0, "#d73027"], [0.5, "#fee08b"], [1, "#1a9850"]], texttemplate: "%{z:.2f}",
        hovertemplate: "%{y} · %{x}: %{z:.3f} (%{text} judged)<extra></extra>",
      }];
    }
    if (chart.kind === "scatter") {
      return chart.series.map((s) => ({
        type: "scatter", mode: "markers", name: s.name, x: s.x, y: s.y, text: s.text,
        marker: { size: 12, symbol: SYMBOLS[s.name] || (s.name.startsWith("role:") ? "diamond" : "circle") },
        hovertemplate: "%{x}<br>%{y} %{text}<extra>" + s.name + "</extra>",
      }));
    }
    return chart.series.map((s) => {
      const color = COLORS[s.name];
      return s.kind === "line"
        ? { type: "scatter", mode: "lines+markers", name: s.name, x: s.x, y: s.y, line: { color: color } }
        : { type: "bar", name: s.name, x: s.x, y: s.y, marker: { color: color } };
    });
  }

  function layout(chart) {
    const dates = chart.kind === "scatter";
    return {
      title: { text: chart.title, font: { size: 13 } },
      barmode: chart.stacked ? "stack" : "group",
      height: chart.kind === "heatmap" ? Math.max(260, 60 + 34 * chart.y.length) : 300,
      margin: { l: 70, r: 20, t: 40, b: 60 },
      xaxis: { title: { text: chart.xtitle || "" }, type: dates ? "date" : "category", automargin: true },
      yaxis: {
        title: { text: chart.ytitle || "" }, type: chart.kind === "bar" ? "linear" : "category", automargin: true,
        tickformat: chart.ytitle === "USD" ? "$.5f" : undefined,
      },
      legend: { orientation: "h", y: -0.25 },
      paper_bgcolor: "rgba(0,0,0,0)",
    };
  }

  function table(spec) {
    const wrap = el("div", { class: "table-wrap" });
    wrap.appendChild(el("h3", {}, spec.title));
    const t = el("table", { class: "figures", "data-table": spec.id });
    const head = el("tr");
    spec.columns.forEach((c) => head.appendChild(el("th", {}, c.name)));
    t.appendChild(el("thead")).appendChild(head);
    const body = t.appendChild(el("tbody"));
    spec.rows.forEach((row) => {
      const tr = body.appendChild(el("tr"));
      row.forEach((value, i) => {
        const digits = spec.columns[i] ? spec.columns[i].digits : null;
        const cell = el("td", { "data-value": JSON.stringify(value) }, fmt(value, digits));
        if (typeof value === "number") cell.className = "num";
        tr.appendChild(cell);
      });
    });
    wrap.appendChild(t);
    return wrap;
  }

  async function render(section, data) {
    const status = section.querySelector(".status");
    const summary = section.querySelector(".summary");
    const charts = section.querySelector(".charts");
    const tables = section.querySelector(".tables");
    charts.querySelectorAll(".chart").forEach((div) => Plotly.purge(div));
    [summary, charts, tables].forEach((node) => node.replaceChildren());
    status.textContent = data.message || "";
    section.querySelector(".source").textContent = data.source ? "Source: " + data.source : "";
    const notes = section.querySelector(".notes");
    notes.replaceChildren(...(data.notes || []).map((n) => el("li", {}, n)));
    (data.summary || []).forEach((f) => {
      const item = el("div", { class: "figure", "data-label": f.label, "data-value": JSON.stringify(f.value) });
      item.appendChild(el("dt", {}, f.label));
      item.appendChild(el("dd", {}, fmt(f.value, f.digits)));
      summary.appendChild(item);
    });
    // Every chart div first, then the plots: Plotly sizes a plot to its div when drawn.
    const divs = (data.charts || []).map((chart) =>
      charts.appendChild(el("div", { class: "chart", id: "chart-" + chart.id, "data-chart": chart.id })));
    const plots = (data.charts || []).map((chart, i) =>
      Plotly.newPlot(divs[i], traces(chart), layout(chart), { displayModeBar: false, responsive: true }));
    (data.tables || []).forEach((spec) => tables.appendChild(table(spec)));
    await Promise.all(plots);
    section.dataset.state = data.state === "ok" ? "ready" : data.state;
  }

  async function load(section) {
    const name = section.dataset.panel;
    try {
      const response = await fetch(query(name), { headers: headers, cache: "no-store" });
      const data = await response.json();
      if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
      await render(section, data);
    } catch (err) {
      section.dataset.state = "error";
      section.querySelector(".status").textContent = "could not load this panel: " + err.message;
    }
    section.dataset.loads = String(Number(section.dataset.loads || 0) + 1);
  }

  async function loadAll() {
    await Promise.all(Array.from(document.querySelectorAll("section.panel")).map(load));
    document.getElementById("updated").textContent = new Date().toLocaleTimeString();
    document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
  }

  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const next = new URLSearchParams(window.location.search);
    for (const name of ["tenant", "bucket"]) {
      const value = String(form.get(name) || "").trim();
      if (value) next.set(name, value); else next.delete(name);
    }
    window.location.search = next.toString();
  });

  loadAll();
  if (cfg.refresh > 0) window.setInterval(loadAll, cfg.refresh * 1000);
})();
