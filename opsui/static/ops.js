// stocksync ops console: plain JavaScript over the JSON API; charts with the
// vendored uPlot (vendor/uplot/VERSION). Only the visible tab is refreshed.
"use strict";

let token = sessionStorage.getItem("stocksync-token") || "";
let tab = location.hash.slice(1) || "live";
const $ = (sel) => document.querySelector(sel);

// ---- plumbing ------------------------------------------------------------

async function api(method, path, body, opts = {}) {
  const headers = {};
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const who = res.headers.get("X-Stocksync-Owner") || res.headers.get("X-Stocksync-Instance");
  if (who) $("#answered").textContent = "answered by " + who;
  if (res.status === 401 || res.status === 403) $("#token-form").hidden = false;
  if (opts.raw) return res;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (opts.allow && opts.allow.includes(res.status)) return { status: res.status, data };
  if (!res.ok && res.status !== 409) {
    const msg = data && data.error ? data.error.type + ": " + data.error.message : res.status + " " + text;
    throw new Error(method + " " + path + " — " + msg);
  }
  return data;
}

function showError(err) {
  const el = $("#error");
  el.textContent = err.message || String(err);
  el.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function button(text, cls, onclick) {
  const b = document.createElement("button");
  b.textContent = text;
  if (cls) b.className = cls;
  b.onclick = () => Promise.resolve(onclick()).catch(showError);
  return b;
}

function esc(s) { return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function when(iso) { return iso ? new Date(iso).toLocaleString() : "—"; }
function num(v, digits = 1) { return v == null || Number.isNaN(v) ? "—" : (+v).toLocaleString(undefined, { maximumFractionDigits: digits }); }
const enc = encodeURIComponent;

// ask shows the confirmation dialog and resolves true on Confirm.
function ask(text) {
  $("#confirm-text").textContent = text;
  $("#confirm").hidden = false;
  return new Promise(resolve => {
    const done = (ok) => { $("#confirm").hidden = true; resolve(ok); };
    $("#confirm-yes").onclick = () => done(true);
    $("#confirm-no").onclick = () => done(false);
  });
}

// ---- tabs ----------------------------------------------------------------

function showTab(name) {
  tab = name;
  history.replaceState(null, "", "#" + name);
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== "tab-" + name;
  ticks = 0; // the new tab's data now, not at its next period
  tick();
}
for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => showTab(b.dataset.tab);

// ---- live series -----------------------------------------------------------

const WINDOW = 3600; // samples: one hour at 1/s
const S = { t: [], v: {}, lastMs: 0, sampleUs: 0 };

async function refreshSeries() {
  const r = await api("GET", "/v1/ops/series?since=" + S.lastMs, undefined, { allow: [404] });
  if (r && r.status === 404) { $("#kpis").textContent = "The live view is off on this instance."; return false; }
  const n = S.t.length;
  for (const k of Object.keys(r.values)) if (!S.v[k]) S.v[k] = new Array(n).fill(null);
  for (const ms of r.t) S.t.push(ms / 1000);
  for (const k of Object.keys(S.v)) {
    const add = r.values[k] || new Array(r.t.length).fill(null);
    for (const x of add) S.v[k].push(x);
  }
  if (r.t.length) S.lastMs = r.t[r.t.length - 1];
  const over = S.t.length - WINDOW;
  if (over > 0) { S.t.splice(0, over); for (const k of Object.keys(S.v)) S.v[k].splice(0, over); }
  S.sampleUs = r.sample_us;
  return true;
}

function last(key) {
  const a = S.v[key];
  if (!a) return null;
  for (let i = a.length - 1; i >= Math.max(0, a.length - 3); i--) if (a[i] != null) return a[i];
  return null;
}

// A chart shows the series its pick takes; a series is labelled by its key
// after the first slash ("orders/reserved": reserved), or by label.
const byChannel = k => { const [kind, ch] = k.split("/"); return ch + " " + kind.replace("ack_", "").replace("pushes", "ok"); };
const CHARTS = [
  { id: "orders", title: "Orders /s by outcome", pick: k => k.startsWith("orders/") },
  { id: "refusals", title: "Refusals /s by reason (insufficient_stock: out of stock)", pick: k => k.startsWith("refusals/") },
  { id: "units", title: "Units /s: reserved, committed (confirmed), shipped, released, expired", pick: k => k.startsWith("units/") },
  { id: "ack", title: "Stock change → marketplace ack, ms (p50 and p99 over 10 s)", pick: k => k.startsWith("ack_p50/") || k.startsWith("ack_p99/"), label: byChannel },
  { id: "pushes", title: "Pushes /s and throttled /s by marketplace channel", pick: k => k.startsWith("pushes/") || k.startsWith("throttled/"), label: byChannel },
  { id: "pending", title: "Values waiting for a marketplace ack, by channel", pick: k => k.startsWith("pending/") },
  { id: "fraud", title: "Fraud alerts /s and DLQ messages /s", pick: k => k === "fraud/alerts" || k === "dlq/all", label: k => k === "dlq/all" ? "DLQ" : "fraud alerts" },
  { id: "cpu", title: "CPU of this instance, % of one core", pick: k => k === "cpu/process" },
];
const LAG_CHART = { id: "lag", title: "Consumer lag by group (messages)", pick: k => k.startsWith("lag/") };
const COLORS = ["#2b6cb0", "#c05621", "#2f855a", "#b7791f", "#6b46c1", "#c53030", "#2c7a7b", "#97266d", "#4a5568"];
const plots = {};

function drawChart(def, parent) {
  let el = document.getElementById("chart-" + def.id);
  if (!el) {
    el = document.createElement("div");
    el.id = "chart-" + def.id;
    el.className = "chart";
    el.innerHTML = `<h3>${esc(def.title)}</h3>`;
    parent.append(el);
  }
  const keys = Object.keys(S.v).filter(def.pick).sort();
  const data = [S.t, ...keys.map(k => S.v[k])];
  const sig = keys.join(",");
  let p = plots[def.id];
  const width = Math.max(300, el.clientWidth - 10);
  if (!p || p.sig !== sig || p.width !== width) {
    if (p) p.u.destroy();
    const series = [{}, ...keys.map((k, i) => ({ label: def.label ? def.label(k) : k.slice(k.indexOf("/") + 1),
      stroke: COLORS[i % COLORS.length], width: 1.5, dash: k.startsWith("ack_p99/") || k.startsWith("throttled/") ? [6, 3] : undefined }))];
    p = plots[def.id] = { sig, width, u: new uPlot({ width, height: 200, series, scales: { x: { time: true } },
      axes: [{}, { size: 60 }], legend: { live: false } }, data, el) };
  } else {
    p.u.setData(data);
  }
  el.dataset.points = String(S.t.length);
  el.dataset.last = String(S.t[S.t.length - 1] || 0);
  let recent = 0;
  for (const k of keys) for (const x of S.v[k].slice(-10)) recent += x || 0;
  el.dataset.recent = String(recent);
}

function drawKPIs() {
  const k = [
    ["reserved /s", last("orders/reserved")], ["rejected /s", last("orders/rejected")],
    ["out of stock /s", last("refusals/insufficient_stock")], ["units reserved /s", last("units/reserved")],
    ["units committed /s", last("units/committed")], ["fraud alerts /s", last("fraud/alerts")],
    ["DLQ /s", last("dlq/all")], ["CPU % of a core", last("cpu/process")], ["console sample, µs", S.sampleUs],
  ];
  $("#kpis").innerHTML = k.map(([label, v], i) => `<div class="kpi" id="kpi-${i}"><b>${num(v)}</b><span>${esc(label)}</span></div>`).join("");
}

async function refreshTop() {
  const r = await api("GET", "/v1/ops/top?n=10", undefined, { allow: [404] });
  if (r && r.status === 404) return;
  for (const [sel, list] of [["#top-demand", r.demand], ["#top-refused", r.refused]]) {
    const body = $(sel + " tbody");
    body.replaceChildren();
    for (const c of list) { const row = body.insertRow(); cell(row, c.sku); cell(row, num(c.units, 0), "num"); }
  }
}

// refreshRecon shows the reconciliation runs (docs/api.md, Reconciliation);
// hidden while there are none, or reconciliation is off (503) or not
// allowed to the token.
async function refreshRecon() {
  const r = await api("GET", "/v1/reconciliations", undefined, { allow: [404, 403, 503] });
  const section = $("#recon-section");
  const runs = r && r.runs ? r.runs.slice().sort((a, b) => String(a.started_at).localeCompare(String(b.started_at))) : [];
  section.hidden = runs.length === 0;
  if (!runs.length) return;
  const body = $("#recon tbody");
  body.replaceChildren();
  for (const x of runs.slice().reverse().slice(0, 20)) {
    const row = body.insertRow();
    cell(row, x.id); cell(row, when(x.started_at)); cell(row, x.status);
    for (const f of ["rows", "drifted", "fixed", "reported"]) cell(row, num(x[f], 0), "num");
    cell(row, x.drift_rate == null ? "—" : (100 * x.drift_rate).toFixed(3) + " %", "num");
  }
  const el = $("#recon-chart");
  const data = [runs.map(x => Date.parse(x.started_at) / 1000), runs.map(x => x.drift_rate == null ? null : 100 * x.drift_rate)];
  if (plots.recon) plots.recon.destroy();
  plots.recon = new uPlot({ width: Math.max(300, el.clientWidth - 10), height: 180, legend: { live: false },
    series: [{}, { label: "drift rate, % of rows", stroke: "#c05621", width: 1.5, points: { show: true } }],
    scales: { x: { time: true, range: (u, lo, hi) => hi - lo < 3600 ? [lo - 1800, hi + 1800] : [lo, hi] }, y: { range: (u, lo, hi) => [0, Math.max(hi, 1)] } } }, data, el);
}

async function refreshFraud() {
  const res = await api("GET", "/v1/fraud/alerts?limit=50", undefined, { raw: true });
  const section = $("#fraud-section");
  section.hidden = !res.ok;
  if (!res.ok) return;
  const body = $("#fraud tbody");
  body.replaceChildren();
  for (const a of await res.json()) {
    const row = body.insertRow();
    cell(row, new Date(a.ts).toLocaleString());
    cell(row, a.entity_type + " " + a.entity_id);
    cell(row, a.score.toFixed(1));
    cell(row, a.reasons.map(r => `${r.rule} (${+r.value.toFixed(2)}, ${+r.population.median.toFixed(2)})`).join(", "));
    cell(row, String(a.event_ids.length));
    const label = row.insertCell();
    if (a.label) { label.textContent = a.label; continue; }
    for (const l of ["fraud", "legit"]) {
      label.append(button(l, "", () => api("POST", "/v1/fraud/alerts/" + enc(a.id) + "/label", { label: l }).then(refreshFraud)), " ");
    }
  }
}

// ---- cluster ---------------------------------------------------------------

async function refreshCluster() {
  const r = await api("GET", "/v1/ops/cluster", undefined, { allow: [404] });
  if (r && r.status === 404) return;
  const inst = $("#instances tbody");
  inst.replaceChildren();
  for (const i of r.instances) {
    const row = inst.insertRow();
    cell(row, i.name + (i.self ? " (this one)" : ""));
    cell(row, i.host || "—");
    cell(row, i.ready == null ? "?" : i.ready ? "ready" : "not ready: " + (i.status || ""), i.ready === false ? "bad-text" : "");
    cell(row, Object.entries(i.partitions).map(([g, ps]) => `${g}: ${ps.join(",")}`).join("  ·  ") || "—");
  }
  const groups = $("#groups tbody");
  groups.replaceChildren();
  const parts = $("#partitions tbody");
  parts.replaceChildren();
  for (const g of r.groups) {
    const row = groups.insertRow();
    cell(row, g.name); cell(row, g.state || "—"); cell(row, num(g.lag, 0), "num"); cell(row, g.rebalances == null ? "not counted" : num(g.rebalances, 0), "num");
    for (const p of g.partitions) {
      const pr = parts.insertRow();
      cell(pr, g.name); cell(pr, p.topic); cell(pr, String(p.partition), "num"); cell(pr, p.owner || "—"); cell(pr, num(p.lag, 0), "num");
    }
  }
  drawChart(LAG_CHART, $("#lag-chart"));
}

// ---- channels --------------------------------------------------------------

const pending = { channel: "", offset: 0, limit: 100, total: 0 };

// refreshChannels updates the rows in place, keyed by channel: a table
// redrawn under the operator's pointer would swallow a click.
const channelNow = {}; // name → its latest ChannelInfo, read when a button is clicked

async function refreshChannels() {
  const channels = await api("GET", "/v1/channels");
  const body = $("#channels tbody");
  for (const c of channels) {
    channelNow[c.name] = c;
    let row = body.querySelector(`tr[data-channel="${CSS.escape(c.name)}"]`);
    if (!row) {
      row = body.insertRow();
      row.dataset.channel = c.name;
      for (let i = 0; i < 7; i++) row.insertCell();
      row.insertCell().append(button("", "toggle-mode", () => switchMode(c.name)), " ",
        button("Pending", "show-pending", () => { pending.channel = c.name; pending.offset = 0; return refreshPending(); }));
    }
    const texts = [c.name, c.marketplace, c.mode, c.circuit, num(c.pending, 0), when(c.last_ack_at),
      c.last_error ? c.last_error + " (" + when(c.last_error_at) + ")" : "—"];
    const classes = ["", "", "mode-" + c.mode, "circuit-" + c.circuit, "num", "last-ack", "last-error"];
    texts.forEach((t, i) => {
      const td = row.cells[i];
      if (td.textContent !== t) td.textContent = t;
      td.className = classes[i];
    });
    row.querySelector("button.toggle-mode").textContent = c.mode === "manual" ? "Switch to auto" : "Switch to manual";
  }
}

// switchMode asks for confirmation, then switches the channel's mode.
async function switchMode(name) {
  const c = channelNow[name];
  const to = c.mode === "manual" ? "auto" : "manual";
  const what = to === "manual" ? "stop pushing to " + c.marketplace + " (values are kept for export and push-now)" : "resume pushing to " + c.marketplace;
  if (!await ask(`Switch channel ${c.name} to ${to}? This will ${what}, on every instance.`)) return;
  await api("POST", "/v1/channels/" + enc(c.name) + "/mode", { mode: to });
  await refreshChannels();
}

async function refreshPending() {
  if (!pending.channel) return;
  const base = "/v1/channels/" + enc(pending.channel);
  const p = await api("GET", `${base}/pending?offset=${pending.offset}&limit=${pending.limit}`);
  pending.total = p.total;
  if (pending.offset >= p.total && p.total > 0) { pending.offset = Math.floor((p.total - 1) / pending.limit) * pending.limit; return refreshPending(); }
  $("#pending-section").hidden = false;
  $("#pending-channel").textContent = pending.channel;
  const body = $("#pending tbody");
  body.replaceChildren();
  for (const v of p.items) {
    const row = body.insertRow();
    cell(row, v.sku); cell(row, String(v.available), "num"); cell(row, String(v.version), "num");
    cell(row, when(v.since)); cell(row, String(v.attempts), "num"); cell(row, v.last_error || "");
  }
  const pages = Math.max(1, Math.ceil(p.total / pending.limit));
  $("#page-info").textContent = `page ${Math.floor(pending.offset / pending.limit) + 1} of ${pages} · ${p.total} value(s) not acknowledged`;
  $("#page-prev").disabled = pending.offset === 0;
  $("#page-next").disabled = pending.offset + pending.limit >= p.total;
}

$("#page-prev").onclick = () => { pending.offset = Math.max(0, pending.offset - pending.limit); refreshPending().catch(showError); };
$("#page-next").onclick = () => { pending.offset += pending.limit; refreshPending().catch(showError); };
$("#push-now").onclick = () => api("POST", "/v1/channels/" + enc(pending.channel) + "/push")
  .then(() => { $("#pending-note").textContent = "push requested"; }).catch(showError);
$("#replay-dlq").onclick = () => api("POST", "/v1/channels/" + enc(pending.channel) + "/dlq/replay")
  .then(() => { $("#pending-note").textContent = "parked values sent again"; }).catch(showError);

// The CSV is fetched with the token, then handed to the browser as a file.
$("#export-csv").onclick = async () => {
  try {
    const res = await api("GET", "/v1/channels/" + enc(pending.channel) + "/pending.csv", undefined, { raw: true });
    if (!res.ok) throw new Error("export: " + res.status + " " + await res.text());
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await res.blob());
    a.download = pending.channel + "-pending.csv";
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000); // once the browser has saved it
  } catch (e) { showError(e); }
};

// ---- DLQ -------------------------------------------------------------------

const dlq = { cls: "", selected: "", shown: [], drawn: "" };

// refreshDLQ redraws the classes and the list only when they changed, so a
// click does not land on a row being replaced.
async function refreshDLQ() {
  const r = await api("GET", "/v1/dlq?limit=200&class=" + enc(dlq.cls), undefined, { allow: [404] });
  if (r && r.status === 404) { $("#dlq-note").textContent = "the DLQ browser is off on this instance"; return; }
  $("#dlq-note").textContent = `${r.total} message(s) of ${r.scanned} scanned`;
  const drawn = JSON.stringify([dlq.cls, r.classes, r.items.map(d => [d.id, d.replayed_at])]);
  if (drawn === dlq.drawn) return;
  dlq.drawn = drawn;
  const classes = $("#dlq-classes");
  classes.replaceChildren();
  const all = r.classes.reduce((n, c) => n + c.count, 0);
  for (const c of [{ class: "", count: all }, ...r.classes]) {
    const b = button(`${c.class || "all"} (${c.count})`, "chip" + (c.class === dlq.cls ? " active" : ""), () => { dlq.cls = c.class; return refreshDLQ(); });
    b.dataset.class = c.class;
    classes.append(b, " ");
  }
  dlq.shown = r.items;
  const body = $("#dlq tbody");
  body.replaceChildren();
  for (const d of r.items) {
    const row = body.insertRow();
    row.className = "clickable" + (d.id === dlq.selected ? " selected" : "");
    row.dataset.id = d.id;
    cell(row, d.id); cell(row, when(d.at)); cell(row, d.class); cell(row, d.topic); cell(row, d.key); cell(row, d.replayed_at ? when(d.replayed_at) : "—", "replayed");
    row.onclick = () => inspect(d.id).catch(showError);
  }
}

async function inspect(id) {
  const d = await api("GET", "/v1/dlq/" + enc(id));
  dlq.selected = id;
  $("#dlq-detail").hidden = false;
  $("#dlq-id").textContent = id;
  let value = d.value;
  try { value = JSON.parse(d.value); } catch (e) { /* shown as it was */ }
  $("#dlq-json").textContent = JSON.stringify({ ...d, value }, null, 2);
  $("#dlq-one-note").textContent = d.replayed_at ? "replayed " + when(d.replayed_at) : "";
  for (const row of document.querySelectorAll("#dlq tbody tr")) row.classList.toggle("selected", row.dataset.id === id);
}

function replayNote(r) {
  const ok = r.replayed.filter(x => x.status === "replayed").length;
  const failed = r.replayed.filter(x => x.status !== "replayed");
  return `${ok} replayed` + (failed.length ? `, ${failed.length} failed: ${failed[0].error}` : "");
}

$("#dlq-replay-one").onclick = async () => {
  try {
    const r = await api("POST", "/v1/dlq/replay", { ids: [dlq.selected] });
    $("#dlq-one-note").textContent = replayNote(r);
    await refreshDLQ();
  } catch (e) { showError(e); }
};
$("#dlq-replay-all").onclick = async () => {
  try {
    const n = dlq.shown.filter(d => !d.replayed_at).length;
    if (!await ask(`Replay ${n} message(s) of class "${dlq.cls || "all"}" not replayed yet? Each is sent again to the topic it came from.`)) return;
    const r = await api("POST", "/v1/dlq/replay", { all: true, class: dlq.cls });
    await refreshDLQ();
    $("#dlq-note").textContent = replayNote(r);
  } catch (e) { showError(e); }
};

// ---- lookups ---------------------------------------------------------------

$("#stock-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const sku = $("#sku").value.trim();
  const out = $("#stock");
  try {
    const s = await api("GET", "/v1/stock/" + enc(sku));
    const rows = s.locations.map(l => `<tr><td>${esc(l.location)}</td><td class="num">${l.on_hand}</td><td class="num">${l.reserved}</td><td class="num">${l.committed}</td><td class="num">${l.available}</td></tr>`).join("");
    const channels = await api("GET", "/v1/channels");
    const chans = await Promise.all(channels.map(c => api("GET", `/v1/channels/${enc(c.name)}/stock/${enc(sku)}`, undefined, { allow: [404] })
      .then(v => (v && v.status === 404) ? { channel: c.name, none: true, projected: s.channels[c.name] } : v)));
    const crow = chans.map(v => v.none
      ? `<tr><td>${esc(v.channel)}</td><td class="num">${v.projected ?? "—"}</td><td colspan="3">no value pushed yet</td></tr>`
      : `<tr><td>${esc(v.channel)}</td><td class="num">${v.projected}</td><td class="num">${v.acknowledged}</td><td>${!v.acknowledged_at ? "not acknowledged yet" : v.projected === v.acknowledged ? "in step" : "<b>differs</b>"}${v.parked ? " · parked: " + esc(v.parked) : ""}</td><td>${when(v.acknowledged_at)}</td></tr>`).join("");
    out.innerHTML = `<table id="stock-table"><thead><tr><th>location</th><th class="num">on hand</th><th class="num">reserved</th><th class="num">committed</th><th class="num">available</th></tr></thead><tbody>${rows}</tbody></table>
      <table id="stock-channels"><thead><tr><th>channel</th><th class="num">projected</th><th class="num">acknowledged</th><th></th><th>acknowledged at</th></tr></thead><tbody>${crow}</tbody></table>`;
  } catch (e) { out.textContent = ""; showError(e); }
};

$("#order-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const id = $("#order-id").value.trim();
  const out = $("#order");
  try {
    const o = await api("GET", "/v1/orders/" + enc(id));
    const h = await api("GET", "/v1/orders/" + enc(id) + "/history", undefined, { allow: [404] });
    const events = h && h.events ? h.events : [];
    const lines = o.lines.map(l => `<tr><td>${esc(l.sku)}</td><td>${esc(l.location || "")}</td><td class="num">${l.qty}</td></tr>`).join("");
    const hist = events.map(e => `<tr><td>${when(e.at)}</td><td>${esc(e.type)}</td><td>${esc(e.status)}</td><td>${esc(e.error || "")}</td></tr>`).join("");
    out.innerHTML = `<dl id="order-view"><dt>state</dt><dd class="state">${esc(o.state)}</dd><dt>channel</dt><dd>${esc(o.channel || "—")}</dd>
        <dt>expires</dt><dd>${when(o.expires_at)}</dd>${o.error ? `<dt>error</dt><dd>${esc(o.error.type)} ${esc(o.error.message || "")}</dd>` : ""}</dl>
      <table id="order-lines"><thead><tr><th>SKU</th><th>location</th><th class="num">qty</th></tr></thead><tbody>${lines}</tbody></table>
      <h2>History <small>answers this instance read</small></h2>
      <table id="order-history"><thead><tr><th>at</th><th>command</th><th>status</th><th>error</th></tr></thead><tbody>${hist || '<tr><td colspan="4">none seen since this instance started</td></tr>'}</tbody></table>`;
  } catch (e) { out.textContent = ""; showError(e); }
};

$("#token-form").onsubmit = (ev) => {
  ev.preventDefault();
  token = $("#token").value.trim();
  sessionStorage.setItem("stocksync-token", token);
  $("#token-form").hidden = true;
  tick();
};

// ---- refresh ---------------------------------------------------------------

async function refreshReady() {
  const el = $("#ready");
  const res = await fetch("/readyz");
  el.textContent = res.ok ? "ready" : "not ready";
  el.className = "pill " + (res.ok ? "ok" : "bad");
}

let ticks = 0;
let busy = false;
async function tick() {
  if (busy || document.hidden) return;
  busy = true;
  try {
    if (ticks % 2 === 0) await refreshReady();
    const live = await refreshSeries();
    if (tab === "live" && live) {
      drawKPIs();
      for (const c of CHARTS) drawChart(c, $("#charts"));
      if (ticks % 2 === 0) await refreshTop();
      if (ticks % 10 === 0) { await refreshRecon(); await refreshFraud(); }
    }
    if (tab === "cluster" && ticks % 3 === 0) await refreshCluster();
    if (tab === "channels" && ticks % 2 === 0) { await refreshChannels(); await refreshPending(); }
    if (tab === "dlq" && ticks % 5 === 0) await refreshDLQ();
  } catch (e) { showError(e); }
  busy = false;
  ticks++;
}

function start() {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== "tab-" + tab;
  tick();
  setInterval(tick, 1000);
}
start();
