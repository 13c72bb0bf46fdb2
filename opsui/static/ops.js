// stocksync ops page: plain JavaScript over the JSON API.
"use strict";

let token = sessionStorage.getItem("stocksync-token") || "";
let selected = "";

async function api(method, path, body) {
  const headers = {};
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 || res.status === 403) {
    document.getElementById("token-form").hidden = false;
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (!res.ok && res.status !== 409) {
    const msg = data && data.error ? data.error.type + ": " + data.error.message : res.status + " " + text;
    throw new Error(method + " " + path + " — " + msg);
  }
  return data;
}

function showError(err) {
  const el = document.getElementById("error");
  el.textContent = err.message || String(err);
  el.hidden = false;
  setTimeout(() => { el.hidden = true; }, 6000);
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

async function refreshReady() {
  const el = document.getElementById("ready");
  const res = await fetch("/readyz");
  el.textContent = res.ok ? "ready" : "not ready";
  el.className = "pill " + (res.ok ? "ok" : "bad");
}

async function refreshChannels() {
  const channels = await api("GET", "/v1/channels");
  const body = document.querySelector("#channels tbody");
  body.replaceChildren();
  for (const c of channels) {
    const row = body.insertRow();
    row.dataset.channel = c.name;
    cell(row, c.name);
    cell(row, c.marketplace);
    cell(row, c.mode, "mode-" + c.mode);
    cell(row, c.circuit, "circuit-" + c.circuit);
    cell(row, String(c.pending));
    cell(row, c.last_ack_at ? new Date(c.last_ack_at).toLocaleTimeString() : "—");
    const actions = row.insertCell();
    const toggle = document.createElement("button");
    toggle.textContent = c.mode === "manual" ? "Switch to auto" : "Switch to manual";
    toggle.className = "toggle-mode";
    toggle.onclick = () => setMode(c.name, c.mode === "manual" ? "auto" : "manual").catch(showError);
    const show = document.createElement("button");
    show.textContent = "Pending";
    show.className = "show-pending";
    show.onclick = () => { selected = c.name; refreshPending().catch(showError); };
    actions.append(toggle, " ", show);
  }
}

async function setMode(name, mode) {
  await api("POST", "/v1/channels/" + encodeURIComponent(name) + "/mode", { mode });
  await refreshChannels();
}

async function refreshPending() {
  if (!selected) return;
  const base = "/v1/channels/" + encodeURIComponent(selected);
  const pending = await api("GET", base + "/pending");
  document.getElementById("pending-section").hidden = false;
  document.getElementById("pending-channel").textContent = selected;
  const body = document.querySelector("#pending tbody");
  body.replaceChildren();
  for (const p of pending.items) {
    const row = body.insertRow();
    cell(row, p.sku);
    cell(row, String(p.available));
    cell(row, String(p.version));
    cell(row, new Date(p.since).toLocaleTimeString());
    cell(row, String(p.attempts));
    cell(row, p.last_error || "");
  }
  document.getElementById("pending-note").textContent = pending.items.length + " value(s) not acknowledged";
}

document.getElementById("push-now").onclick = async () => {
  try {
    await api("POST", "/v1/channels/" + encodeURIComponent(selected) + "/push");
    document.getElementById("pending-note").textContent = "push requested";
  } catch (e) { showError(e); }
};

// The CSV is fetched with the token, then handed to the browser as a file.
document.getElementById("export-csv").onclick = async () => {
  try {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const res = await fetch("/v1/channels/" + encodeURIComponent(selected) + "/pending.csv", { headers });
    if (!res.ok) throw new Error("export: " + res.status + " " + await res.text());
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await res.blob());
    a.download = selected + "-pending.csv";
    a.click();
    URL.revokeObjectURL(a.href);
  } catch (e) { showError(e); }
};

document.getElementById("replay-dlq").onclick = async () => {
  try {
    await api("POST", "/v1/channels/" + encodeURIComponent(selected) + "/dlq/replay");
    document.getElementById("pending-note").textContent = "parked values sent again";
  } catch (e) { showError(e); }
};

document.getElementById("stock-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const sku = document.getElementById("sku").value.trim();
  const out = document.getElementById("stock");
  try {
    const s = await api("GET", "/v1/stock/" + encodeURIComponent(sku));
    const rows = s.locations.map(l => `<tr><td>${esc(l.location)}</td><td>${l.on_hand}</td><td>${l.reserved}</td><td>${l.committed}</td><td>${l.available}</td></tr>`).join("");
    const chans = Object.entries(s.channels).map(([k, v]) => `${esc(k)}: ${v}`).join(", ");
    out.innerHTML = `<table id="stock-table"><thead><tr><th>location</th><th>on hand</th><th>reserved</th><th>committed</th><th>available</th></tr></thead><tbody>${rows}</tbody></table><p>channels: ${chans}</p>`;
  } catch (e) { out.textContent = ""; showError(e); }
};

document.getElementById("token-form").onsubmit = (ev) => {
  ev.preventDefault();
  token = document.getElementById("token").value.trim();
  sessionStorage.setItem("stocksync-token", token);
  document.getElementById("token-form").hidden = true;
  tick();
};

// refreshFraud lists the newest alerts; the section stays hidden when
// anti-fraud is off (404) or the token lacks fraud:review (403).
async function refreshFraud() {
  const headers = token ? { "Authorization": "Bearer " + token } : {};
  const res = await fetch("/v1/fraud/alerts?limit=50", { headers });
  const section = document.getElementById("fraud-section");
  section.hidden = !res.ok;
  if (!res.ok) return;
  const body = document.querySelector("#fraud tbody");
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
      const b = document.createElement("button");
      b.textContent = l;
      b.onclick = () => api("POST", "/v1/fraud/alerts/" + encodeURIComponent(a.id) + "/label", { label: l }).then(refreshFraud).catch(showError);
      label.append(b, " ");
    }
  }
}

function esc(s) { return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

async function tick() {
  try {
    await refreshReady();
    await refreshChannels();
    await refreshPending();
    await refreshFraud();
  } catch (e) { showError(e); }
}

tick();
setInterval(tick, 2000);
