/**
 * The status page (`GET /` on the `--metrics` address): one self-contained HTML document, with
 * the charting library (uPlot, vendored in ./uplot.ts) and the page's script inline, so it works
 * where the balancer host has no way out to a CDN. It is read-only: the script only polls
 * `/status.json` (lb/status.ts) and redraws; nothing on the page changes the balancer.
 *
 * Page parameters: `?poll=SECONDS` (default 2, the rate estimator's period; 0.2..60) and
 * `?page=N` (which page of real servers to show first). For tests and scrapers the DOM is
 * stable: `tr.service[data-service]`, `tr.real[data-real][data-health]`, each chart's
 * `data-points` (how many samples it draws), `#updated[data-polls]` (completed polls).
 *
 * @module
 */

import { UPLOT_CSS, UPLOT_JS } from "./uplot.ts";

const STYLE = `
body{font:13px/1.4 system-ui,sans-serif;margin:1em 1.5em;color:#222;background:#fafafa}
h1{font-size:18px;margin:0 0 .2em}h2{font-size:15px;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff;min-width:60%}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;vertical-align:middle}
th{background:#eee}td.l,th.l{text-align:left}
.up{color:#186a1e;font-weight:600}.down{color:#b00020;font-weight:700}.unchecked{color:#777}
tr.real.down-row{background:#fdecee}
.charts{display:flex;gap:6px}.chart{width:130px}.chart .t{font-size:10px;color:#666}
#pager button{margin:0 .4em}#meta{color:#555}
ol#events{font-family:ui-monospace,monospace;font-size:12px;max-height:18em;overflow:auto;
background:#fff;border:1px solid #ddd;padding:.4em 2.5em}
`;

/** The page's script: polls, renders tables, feeds the charts. Plain ES2020, no template. */
const SCRIPT = String.raw`
"use strict";
const qs = new URLSearchParams(location.search);
const pollS = Math.min(60, Math.max(0.2, Number(qs.get("poll")) || 2));
let page = Math.max(1, Number(qs.get("page")) || 1);
let polls = 0;
const charts = new Map(); // key -> {plot, el}
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
function si(n, unit) {
  const u = ["", "k", "M", "G", "T"];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + u[i] + (unit || "");
}
function ago(iso, now) {
  const s = Math.max(0, Math.round((Date.parse(now) - Date.parse(iso)) / 1000));
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  return Math.round(s / 3600) + " h";
}
/** One small chart per (key, series); created once, then only fed new data. */
function chart(key, title, times, values, unit) {
  let c = charts.get(key);
  if (!c) {
    const box = el("div", { class: "chart" }, el("div", { class: "t" }, title));
    const plot = new uPlot({
      width: 130, height: 36, legend: { show: false }, cursor: { show: false },
      axes: [{ show: false }, { show: false }], scales: { x: { time: true } },
      series: [{}, { stroke: "#2a6fdb", fill: "rgba(42,111,219,.12)", width: 1, spanGaps: false }],
    }, [[], []], box);
    c = { plot, box };
    charts.set(key, c);
  }
  const xs = times.map((t) => t / 1000);
  c.plot.setData([xs, values]);
  const points = values.filter((v) => v !== null).length;
  c.box.setAttribute("data-points", String(points));
  const last = values.length > 0 ? values[values.length - 1] : null;
  c.box.firstChild.textContent = title + " " + (last === null ? "-" : si(last, unit));
  return c.box;
}
function chartsCell(key, doc, series) {
  const td = el("td", { class: "l" });
  const wrap = el("div", { class: "charts" });
  wrap.append(
    chart(key + "/cps", "conn/s", doc.history, series.cps, ""),
    chart(key + "/pps", "pkt/s", doc.history, series.pps, ""),
    chart(key + "/bps", "B/s", doc.history, series.bps, "B"),
  );
  td.append(wrap);
  return td;
}
function healthCell(h, since, now) {
  const label = h === "unchecked" ? "no check" : h.toUpperCase();
  return el("td", { class: "l health " + h, title: since }, label + " ", el("small", {}, "for " + ago(since, now)));
}
function render(doc) {
  const used = new Set();
  const sb = $("services").tBodies[0];
  sb.replaceChildren();
  doc.services.forEach((s) => {
    used.add("s:" + s.name + "/cps"); used.add("s:" + s.name + "/pps"); used.add("s:" + s.name + "/bps");
    sb.append(el("tr", { class: "service", "data-service": s.name },
      el("td", { class: "l" }, s.name), el("td", { class: "l" }, s.scheduler + (s.persistence ? " persistent " + s.persistence + " s" : "")),
      el("td", { class: "l" }, s.check === null ? "none" : s.check),
      el("td", {}, s.reals.total), el("td", { class: s.reals.down > 0 ? "down" : "" }, s.reals.down),
      el("td", {}, s.activeConns), el("td", {}, s.inactiveConns), el("td", {}, si(s.conns)),
      chartsCell("s:" + s.name, doc, s.series)));
  });
  const rb = $("reals").tBodies[0];
  rb.replaceChildren();
  for (const r of doc.reals.items) {
    const svc = doc.services[r.service];
    const key = "r:" + svc.name + "/" + r.address + ":" + r.port;
    used.add(key + "/cps"); used.add(key + "/pps"); used.add(key + "/bps");
    rb.append(el("tr", { class: "real" + (r.health === "down" ? " down-row" : ""), "data-real": r.address + ":" + r.port, "data-service": svc.name, "data-health": r.health },
      el("td", { class: "l" }, svc.name), el("td", { class: "l" }, r.address + ":" + r.port), el("td", { class: "l" }, r.method),
      el("td", {}, r.weight), healthCell(r.health, r.healthSince, doc.time),
      el("td", {}, r.activeConns), el("td", {}, r.inactiveConns), el("td", {}, si(r.conns)),
      chartsCell(key, doc, r.series)));
  }
  // Charts of rows no longer shown (another page, a deleted server) are freed.
  for (const [k, c] of charts) if (!used.has(k)) { c.plot.destroy(); charts.delete(k); }
  $("pageinfo").textContent = "page " + doc.reals.page + " of " + doc.reals.pages + " (" + doc.reals.total + " real servers, " + doc.reals.perPage + " a page)";
  $("prev").disabled = doc.reals.page <= 1;
  $("next").disabled = doc.reals.page >= doc.reals.pages;
  page = doc.reals.page;
  const down = $("down");
  down.replaceChildren();
  for (const d of doc.down) {
    down.append(el("li", { "data-real": d.address + ":" + d.port }, doc.services[d.service].name + " real " + d.address + ":" + d.port + " DOWN for " + ago(d.since, doc.time)));
  }
  if (doc.down.length === 0) down.append(el("li", {}, "none"));
  const ev = $("events");
  ev.replaceChildren(...doc.events.slice().reverse().map((e) =>
    el("li", { "data-event": e.event }, e.ts.replace("T", " ").replace(/\.\d+Z$/, "Z") + " " + e.event + " " + e.message)));
  const db = $("drops").tBodies[0];
  db.replaceChildren(...doc.drops.map((d) =>
    el("tr", { "data-drop": d.layer + "/" + d.reason }, el("td", { class: "l" }, d.layer), el("td", { class: "l" }, d.reason), el("td", {}, d.count))));
  const t = doc.table;
  $("table").textContent = "connection table: " + t.entries + " of " + t.capacity + " flows (" + t.embryonic + " embryonic); refused " + (t.events.refused || 0) + ", evicted " + (t.events.evicted || 0);
}
async function poll() {
  try {
    const res = await fetch("status.json?page=" + page, { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    const doc = await res.json();
    render(doc);
    polls++;
    const u = $("updated");
    u.setAttribute("data-polls", String(polls));
    u.textContent = "updated " + doc.time + " (every " + pollS + " s)";
    u.className = "";
  } catch (e) {
    $("updated").textContent = "cannot read status.json: " + e.message;
    $("updated").className = "down";
  } finally {
    setTimeout(poll, pollS * 1000);
  }
}
$("prev").onclick = () => { page = Math.max(1, page - 1); poll0(); };
$("next").onclick = () => { page = page + 1; poll0(); };
// A page change redraws at once; the timer chain of poll() goes on as before.
function poll0() { fetch("status.json?page=" + page, { cache: "no-store" }).then((r) => r.json()).then(render).catch(() => {}); }
poll();
`;

/** The page's HTML, complete (about 60 KB, most of it uPlot). */
export function statusPageHtml(): string {
  // "</script" inside the script would end the element: the vendoring script refuses such a
  // library, and the page script has none.
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lb.ts status</title>
<style>${UPLOT_CSS}</style><style>${STYLE}</style>
</head><body>
<h1>lb.ts status</h1>
<p id="meta"><span id="updated" data-polls="0">loading…</span> · <span id="table"></span></p>
<h2>Virtual services</h2>
<table id="services"><thead><tr><th class="l">Service</th><th class="l">Scheduler</th>
<th class="l">Check</th><th>Servers</th><th>Down</th><th>ActiveConn</th><th>InActConn</th>
<th>Conns</th><th class="l">Rates (last minutes)</th></tr></thead><tbody></tbody></table>
<h2>Real servers</h2>
<p id="pager"><button id="prev">previous</button><span id="pageinfo"></span><button id="next">next</button></p>
<table id="reals"><thead><tr><th class="l">Service</th><th class="l">Server</th><th class="l">Method</th>
<th>Weight</th><th class="l">Health</th><th>ActiveConn</th><th>InActConn</th><th>Conns</th>
<th class="l">Rates (last minutes)</th></tr></thead><tbody></tbody></table>
<h2>Servers down</h2><ul id="down"></ul>
<h2>Recent events</h2><ol id="events" reversed></ol>
<h2>Drops by reason</h2>
<table id="drops"><thead><tr><th class="l">Layer</th><th class="l">Reason</th><th>Packets</th></tr>
</thead><tbody></tbody></table>
<script>${UPLOT_JS}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
