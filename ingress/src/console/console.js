// The kitchen's console: plain JS, no build step, no CDN. Everything the page shows comes from
// the staff API and is written with textContent, never as HTML.
"use strict";

const state = { token: sessionStorage.getItem("kyte-staff-token"), selected: null, filter: "", deadlineSecs: 600, timer: null, actionsKey: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${state.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => null);
  if (res.status === 401) { signOut("Your staff token was not accepted."); throw new Error("unauthorized"); }
  if (!res.ok) throw new Error(data?.error?.message || `The server answered ${res.status}.`);
  return { status: res.status, data };
}

const money = (cents, currency) => `${(cents / 100).toFixed(2)} ${currency}`;
function age(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
const badge = (status) => el("span", { class: `badge ${status}` }, status);

async function refreshList() {
  const q = new URLSearchParams({ limit: "100" });
  if (state.filter) q.set("status", state.filter);
  try {
    const { data } = await api("GET", `/api/orders/?${q}`);
    renderList(data.orders);
    $("conn").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $("conn").textContent = `offline: ${e.message}`;
  }
}

function renderList(orders) {
  const list = $("orders");
  list.replaceChildren(...orders.map((o) => {
    const secs = (Date.now() - new Date(o.created_at).getTime()) / 1000;
    const urgent = o.status === "pending" && secs > state.deadlineSecs * 0.75;
    const button = el("button", { type: "button", "aria-current": String(o.id === state.selected), onclick: () => select(o.id) },
      el("span", { class: "id" }, o.id), badge(o.status),
      el("span", {}, `${o.customer.name} · ${money(o.total_cents, o.currency)}`),
      el("span", { class: "age", title: urgent ? "close to the acceptance deadline" : "" }, `${age(o.created_at)} ago`));
    return el("li", { class: urgent ? "urgent" : "", "data-order-id": o.id, "data-status": o.status }, button);
  }));
  $("empty").hidden = orders.length > 0;
}

async function select(id) {
  state.selected = id;
  $("action-error").textContent = "";
  await refreshDetail();
  refreshList();
}

async function refreshDetail() {
  if (!state.selected) return;
  try {
    const { data } = await api("GET", `/api/orders/${encodeURIComponent(state.selected)}/`);
    renderDetail(data);
  } catch (e) {
    $("action-error").textContent = e.message;
  }
}

function field(id, label, type = "number", attrs = {}) {
  return el("div", { class: "field" }, el("label", { for: id }, label), el("input", { id, type, ...attrs }));
}

function renderActions(o) {
  const actions = $("actions");
  const act = (body) => () => change(o.id, body());
  const num = (id) => { const v = $(id).value.trim(); return v === "" ? undefined : Number(v); };
  const text = (id) => $(id).value.trim() || undefined;
  const parts = [];
  if (o.status === "pending") {
    parts.push(field("prep-minutes", "Prep minutes", "number", { min: "1", max: "240", placeholder: "optional" }),
      el("button", { id: "action-accept", type: "button", onclick: act(() => ({ status: "accepted", prep_minutes: num("prep-minutes") })) }, "Accept"),
      field("reject-reason", "Reject reason", "text", { placeholder: "e.g. out_of_stock" }),
      el("button", { id: "action-reject", type: "button", class: "danger", onclick: act(() => ({ status: "rejected", reason: text("reject-reason") })) }, "Reject"));
  } else if (o.status === "accepted" || o.status === "delayed") {
    parts.push(field("delay-minutes", "Delay minutes", "number", { min: "1", max: "240", value: "10" }),
      el("button", { id: "action-delay", type: "button", class: "secondary", onclick: act(() => ({ status: "delayed", delay_minutes: num("delay-minutes") })) }, "Mark as delayed"),
      field("cancel-reason", "Cancel reason", "text", { placeholder: "e.g. kitchen_closed" }),
      el("button", { id: "action-cancel", type: "button", class: "danger", onclick: act(() => ({ status: "cancelled", reason: text("cancel-reason") })) }, "Cancel preparation"),
      el("button", { id: "action-done", type: "button", onclick: act(() => ({ status: "completed" })) }, "Mark as done"));
  } else {
    parts.push(el("p", { class: "muted" }, `This order is ${o.status}; nothing more to do.`));
  }
  actions.replaceChildren(...parts);
}

async function change(id, body) {
  $("action-error").textContent = "";
  try {
    const { status, data } = await api("PATCH", `/api/orders/${encodeURIComponent(id)}/`, body);
    if (status === 202) $("action-error").textContent = "Queued; the kitchen will see the change in a moment.";
    else renderDetail(data);
    refreshList();
  } catch (e) {
    $("action-error").textContent = e.message;
  }
}

function renderDetail(o) {
  $("detail").hidden = false;
  $("detail-title").textContent = `${o.id} · ${o.customer.name}`;
  const status = $("detail-status");
  status.replaceChildren(badge(o.status), ` version ${o.version} · placed ${age(o.placed_at)} ago`,
    o.estimated_ready_at ? ` · ready by ${new Date(o.estimated_ready_at).toLocaleTimeString()}` : "",
    o.customer.phone ? ` · ${o.customer.phone}` : "");
  status.dataset.status = o.status;
  // Rebuild the buttons only when the order changed, so a refresh never swaps them under a
  // click or erases what someone is typing.
  const key = `${o.id}@${o.version}`;
  if (state.actionsKey !== key) {
    state.actionsKey = key;
    renderActions(o);
  }
  $("items").tBodies[0].replaceChildren(...o.items.map((i) =>
    el("tr", {}, el("td", {}, i.name), el("td", {}, i.quantity), el("td", {}, money(i.unit_price_cents * i.quantity, o.currency)), el("td", {}, i.notes || ""))),
    el("tr", {}, el("th", {}, "Total"), el("td", {}), el("th", {}, money(o.total_cents, o.currency)), el("td", {})));
  $("notes").textContent = o.notes ? `Notes: ${o.notes}` : "";
  $("history").replaceChildren(...o.history.map((h) =>
    el("li", {}, `${new Date(h.at).toLocaleTimeString()} — ${h.event} (${h.from || "new"} → ${h.to}) by ${h.actor}${h.reason ? `: ${h.reason}` : ""}`)));
  $("notifications").replaceChildren(...(o.notifications.length ? o.notifications.map((n) =>
    el("li", { "data-type": n.type, "data-state": n.state }, `#${n.sequence} ${n.type} `, badge(n.state),
      ` ${n.attempts} attempt${n.attempts === 1 ? "" : "s"}`, n.last_error ? ` — last error: ${n.last_error}` : "")) : [el("li", { class: "muted" }, "none")]));
  $("refused-block").hidden = o.refused_events.length === 0;
  $("refused").replaceChildren(...o.refused_events.map((r) => el("li", {}, `${r.event} (${r.event_id}): ${r.reason}`)));
}

function tick() { refreshList(); refreshDetail(); }

async function start() {
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  try { const res = await fetch("/console/config.json"); state.deadlineSecs = (await res.json()).accept_deadline_secs || 600; } catch { /* default */ }
  tick();
  clearInterval(state.timer);
  state.timer = setInterval(tick, 1500);
}

function signOut(message = "") {
  sessionStorage.removeItem("kyte-staff-token");
  state.token = null;
  clearInterval(state.timer);
  $("app").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  state.token = $("token").value.trim();
  const res = await fetch("/api/orders/?limit=1", { headers: { Authorization: `Bearer ${state.token}` } });
  if (res.ok) { sessionStorage.setItem("kyte-staff-token", state.token); start(); }
  else $("signin-error").textContent = "That staff token was not accepted.";
});
$("signout").addEventListener("click", () => signOut());
$("filter").addEventListener("change", (e) => { state.filter = e.target.value; refreshList(); });
if (state.token) start();
