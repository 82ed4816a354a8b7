// The sandbox dashboard: plain JavaScript, no framework, no external asset. Every change comes from the control
// API's event stream (GET /events); a terminal is read again when an event names it, the payments when the payment
// API reports a status. Nothing polls.
"use strict";

// ---------- small helpers ----------

/** Builds an element: h("button", {class: "x", onclick: f, "aria-label": "..."}, "text", child...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fill(el, ...children) {
  if (el) el.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const resp = await fetch(path, init);
  let data = null;
  try { data = await resp.json(); } catch (_) { data = null; }
  if (!resp.ok) {
    const msg = (data && (data.message || data.error)) || resp.statusText;
    throw new Error(`${resp.status}: ${msg}`);
  }
  return data;
}

function badge(text, kind) { return h("span", { class: `badge ${kind}` }, text); }

const MIGRATION = {
  cloud_connect_2: ["2.0 migrated", "ok"],
  cloud_connect_1: ["1.0 only", "warn"],
  tms_changed_not_installed: ["TMS changed, not installed", "bad"],
  not_migrated: ["not migrated", "muted"],
};

function migrationBadge(m) {
  const [text, kind] = MIGRATION[m] || [m || "?", "muted"];
  return badge(text, kind);
}

function mqttState(t) { return (t.status.mqtt.state || "off"); }

function mqttBadge(t) {
  const s = mqttState(t);
  const why = s !== "up" && t.status.mqtt.lastFailure ? ` (${t.status.mqtt.lastFailure})` : "";
  return badge(`MQTT ${s}${why}`, s === "up" ? "ok" : s === "off" ? "muted" : "bad");
}

function tasBadge(t) {
  if (t.status.linkUp) return badge("TAS connected", "ok");
  // Between payments a terminal is not connected to the TAS: a kick makes it dial.
  if (t.status.lastDialFailure) return badge(`TAS dial failed (${t.status.lastDialFailure})`, "bad");
  return badge("TAS idle", "muted");
}

function statusBadge(s) {
  const kind = s === "success" ? "ok" : s === "pending" ? "warn" : "bad";
  return badge(s, kind);
}

function time(ms) { return new Date(ms).toLocaleTimeString(); }

const TEST_CARDS = [
  ["maestro", "Maestro (debit, PIN, approved)"],
  ["v_pay", "V PAY (contactless, approved)"],
  ["bancontact", "Bancontact (debit, PIN, approved)"],
  ["mastercard", "Mastercard (contactless, approved)"],
  ["visa", "Visa (contactless, approved)"],
  ["visa_declined", "Visa, declined (05)"],
  ["mastercard_insufficient_funds", "Mastercard, insufficient funds (51)"],
  ["maestro_expired", "Maestro, expired (54)"],
  ["visa_host_unreachable", "Visa, issuer unreachable"],
];

// ---------- state kept from the API and the event stream ----------

const state = {
  info: null,
  terminals: new Map(), // tmsId -> the control API's view
  order: [],
  payments: [],
  events: [], // the latest events, oldest first
  doctor: new Map(), // tmsId -> the last doctor report
  route: null,
  tour: { payments: {} },
};
const MAX_EVENTS = 1000;

async function loadTerminal(id) {
  const t = await api(`/terminals/${encodeURIComponent(id)}`);
  state.terminals.set(id, t);
  return t;
}

async function loadAll() {
  const [info, list, payments, faults] = await Promise.all([api("/sandbox"), api("/terminals"), api("/payments"), api("/faults")]);
  state.info = info;
  state.faults = faults;
  state.order = list.map((t) => t.tmsId);
  for (const t of list) state.terminals.set(t.tmsId, t);
  state.payments = payments;
}

// Refreshes asked for by events, done once per turn of the event loop.
const pending = { terminals: new Set(), payments: false, scheduled: false };
function schedule() {
  if (pending.scheduled) return;
  pending.scheduled = true;
  queueMicrotask(async () => {
    // Events that arrive while these requests run schedule the next round.
    const ids = [...pending.terminals];
    const pay = pending.payments;
    pending.terminals.clear();
    pending.payments = false;
    pending.scheduled = false;
    try {
      await Promise.all(ids.map(loadTerminal));
      if (pay) state.payments = await api("/payments");
    } catch (e) {
      console.warn("refresh failed", e);
    }
    update();
  });
}

const seenSeq = new Set();

function onEvent(ev) {
  // The recent events sent first can come again live: each is taken once.
  if (ev.seq !== undefined) {
    if (seenSeq.has(ev.seq)) return;
    seenSeq.add(ev.seq);
    if (seenSeq.size > 4 * MAX_EVENTS) seenSeq.clear();
  }
  state.events.push(ev);
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  if (ev.tmsId && ev.type !== "opi") pending.terminals.add(ev.tmsId);
  if (ev.type === "payment") pending.payments = true;
  if (ev.type === "mqtt" || ev.type === "journal") state.doctor.delete(ev.tmsId);
  schedule();
  if (ev.type === "opi" || ev.type === "payment") update();
}

function connectEvents() {
  const live = document.getElementById("live");
  // The latest events first (a payment made before the page opened has its OPI conversation), then the live ones.
  const source = new EventSource("/events?replay=1000");
  source.onopen = () => { live.className = "live on"; live.textContent = "live: following the event stream"; };
  source.onerror = () => { live.className = "live off"; live.textContent = "event stream lost; reconnecting…"; };
  source.onmessage = (m) => {
    try { onEvent(JSON.parse(m.data)); } catch (e) { console.warn("bad event", e); }
  };
}

// ---------- routing ----------

function parseRoute() {
  const parts = (location.hash || "#/fleet").slice(2).split("/").map(decodeURIComponent);
  return { view: parts[0] || "fleet", arg: parts[1] };
}

function render() {
  state.route = parseRoute();
  for (const a of document.querySelectorAll("nav a")) {
    const current = a.id === `nav-${state.route.view === "payment" ? "payments" : state.route.view}`;
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  const views = { fleet: fleetView, terminal: terminalView, payments: paymentsView, payment: paymentView, tour: tourView };
  const view = views[state.route.view] || fleetView;
  fill(main, view(state.route.arg));
  update();
}

/** Fills in what changes, in place (controls keep their focus and what was typed). */
function update() {
  const r = state.route;
  if (!r) return;
  if (r.view === "fleet") updateFleet();
  else if (r.view === "terminal") updateTerminal(r.arg);
  else if (r.view === "payments") updatePayments();
  else if (r.view === "payment") updatePayment(r.arg);
  else if (r.view === "tour") updateTour(r.arg);
}

// ---------- fleet ----------

function fleetView() {
  const filter = h("select", { id: "fleet-filter", onchange: updateFleet },
    h("option", { value: "" }, "every terminal"),
    ...Object.entries(MIGRATION).map(([k, [text]]) => h("option", { value: `m:${k}` }, `migration: ${text}`)),
    ...["up", "connecting", "down", "off"].map((s) => h("option", { value: `q:${s}` }, `MQTT ${s}`)));
  return [
    h("h2", {}, "Fleet"),
    h("section", { class: "panel" },
      h("div", { class: "row" }, h("label", { for: "fleet-filter" }, "Show"), filter,
        h("span", { id: "fleet-count", class: "muted" })),
      h("table", { "aria-label": "Terminals" },
        h("thead", {}, h("tr", {}, ...["TMS ID", "terminal", "migration", "links", "screen", "merchant", "whitelist"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", { id: "fleet-rows" }))),
    h("section", { class: "panel" }, h("h3", {}, "Latest payments"), h("div", { id: "fleet-payments" })),
  ];
}

function updateFleet() {
  const body = document.getElementById("fleet-rows");
  if (!body) return;
  const f = document.getElementById("fleet-filter").value;
  const rows = state.order.map((id) => state.terminals.get(id)).filter((t) => {
    if (!f) return true;
    if (f.startsWith("m:")) return t.migration === f.slice(2);
    return mqttState(t) === f.slice(2);
  });
  fill(body, rows.map((t) => h("tr", { "data-tms": t.tmsId },
    h("td", {}, h("a", { href: `#/terminal/${t.tmsId}` }, t.tmsId)),
    h("td", {}, t.label),
    h("td", {}, migrationBadge(t.migration)),
    h("td", {}, mqttBadge(t), " ", tasBadge(t)),
    h("td", { class: "mono" }, t.status.screen.join(" | ")),
    h("td", {}, t.merchant),
    h("td", {}, t.onWhitelist ? badge("on whitelist", "ok") : badge("not on whitelist", "muted")))));
  fill(document.getElementById("fleet-count"), `${rows.length} of ${state.order.length}`);
  fill(document.getElementById("fleet-payments"), paymentsTable(state.payments.slice(0, 10)));
}

// ---------- one terminal ----------

const KEYS = [
  ["1", "1"], ["2", "2"], ["3", "3"], ["4", "4"], ["5", "5"], ["6", "6"], ["7", "7"], ["8", "8"], ["9", "9"],
  ["STOP", "STOP"], ["0", "0"], ["OK", "OK"], [".", "."], ["CLEAR", "CORR"],
];

function terminalView(id) {
  if (!state.terminals.has(id)) {
    return [h("h2", {}, `No terminal ${id}`), h("p", {}, h("a", { href: "#/fleet" }, "Back to the fleet"))];
  }
  const t = state.terminals.get(id);
  const key = (k, label, cls) => h("button", {
    class: cls, "aria-label": k === "MENU" ? "START MENU" : k === "CLEAR" ? "CORR (clear)" : /\d/.test(k) ? `digit ${k}` : k === "." ? "dot" : k,
    "data-key": k, onclick: () => press(id, k),
  }, label);
  const cardSelect = h("select", { id: "card" }, TEST_CARDS.map(([v, text]) => h("option", { value: v }, text)));
  const pin = h("input", { id: "pin", type: "password", inputmode: "numeric", autocomplete: "off", size: 6, value: "1234" });
  const amount = h("input", { id: "amount", type: "text", inputmode: "decimal", value: "12.50", size: 8 });
  const system = h("select", { id: "system" },
    h("option", { value: "GrundmasterNL" }, "GrundmasterNL (2.0, cloud kick)"),
    h("option", { value: "GrundmasterBE" }, "GrundmasterBE (2.0, cloud kick)"),
    h("option", { value: "08900000002" }, "08900000002 (1.0, local kick)"));
  const latency = h("input", { id: "latency", type: "number", min: 0, max: 10000, step: 50, value: t.status.latencyMs || 0 });
  const toggle = (idAttr, label, onchange) => h("span", {},
    h("input", { type: "checkbox", id: idAttr, onchange }), h("label", { for: idAttr }, label));
  return [
    h("h2", {}, `Terminal ${id} `, h("span", { class: "muted" }, t.label)),
    h("div", { class: "grid" },
      h("div", {},
        h("section", { class: "device", "aria-label": "The terminal" },
          h("div", { class: "lcd", id: "lcd", role: "status", "aria-live": "polite", "aria-label": "Display" }),
          h("p", { class: "gloss", id: "gloss" }),
          h("div", { class: "keypad", role: "group", "aria-label": "Keypad" },
            key("MENU", "START MENU", "k-menu"),
            ...KEYS.map(([k, label]) => key(k, label, k === "OK" ? "k-ok" : k === "STOP" ? "k-stop" : k === "CLEAR" ? "k-clear" : "")))),
        h("section", { class: "panel" }, h("h3", {}, "Customer"),
          h("div", { class: "row" }, h("label", { for: "card" }, "Test card"), cardSelect,
            h("button", { id: "present-card", onclick: () => cardEvent(id, { presented: cardSelect.value }) }, "Present card")),
          h("div", { class: "row" }, h("label", { for: "pin" }, "PIN"), pin,
            h("button", { id: "enter-pin", onclick: () => cardEvent(id, { pin: pin.value }) }, "Enter PIN")),
          h("div", { class: "row" },
            h("button", { id: "remove-card", onclick: () => cardEvent(id, "removed") }, "Remove card"),
            h("button", { id: "customer-cancel", onclick: () => cardEvent(id, "customer_cancel") }, "Customer cancel"))),
        h("section", { class: "panel" }, h("h3", {}, "POS: make a payment"),
          h("div", { class: "row" }, h("label", { for: "amount" }, "Amount (EUR)"), amount),
          h("div", { class: "row" }, h("label", { for: "system" }, "POS configuration"), system),
          h("div", { class: "row" }, h("button", { id: "pay", class: "primary", onclick: () => pay(id, amount.value, system.value) }, "Pay")),
          h("p", { id: "pay-result", role: "status", "aria-live": "polite" }))),
      h("div", {},
        h("div", { class: "cols" },
          h("section", { class: "panel" }, h("h3", {}, "Links"), h("div", { id: "links" })),
          h("section", { class: "panel" }, h("h3", {}, "Terminal"), h("div", { id: "facts" }))),
        h("section", { class: "panel" }, h("h3", {}, "TMS parameters and what is installed"), h("div", { id: "params" })),
        h("section", { class: "panel" }, h("h3", {}, "Faults"),
          h("div", { class: "row" },
            toggle("f-dns", "DNS configured", (e) => fault(id, { dnsConfigured: e.target.checked })),
            toggle("f-443", "outgoing 443 open", (e) => fault(id, { outgoing443: e.target.checked })),
            toggle("f-printer", "printer out of paper", (e) => fault(id, { printerOutOfPaper: e.target.checked }))),
          h("div", { class: "row" },
            toggle("f-tas", "TAS down", (e) => sandboxFault(id, { tasDown: e.target.checked })),
            toggle("f-iot", "IoT endpoint down", (e) => sandboxFault(id, { iotDown: e.target.checked }))),
          h("div", { class: "row" }, h("label", { for: "latency" }, "Added latency (ms)"), latency,
            h("button", { id: "apply-latency", onclick: () => fault(id, { latencyMs: Number(latency.value) || 0 }) }, "Apply latency")),
          h("div", { class: "row" },
            h("button", { id: "power", onclick: () => power(id) }, "Power off"),
            h("span", { class: "muted" }, "(power loss: a payment in progress is lost)"))),
        h("div", { class: "cols" },
          h("section", { class: "panel" }, h("h3", {}, "Diagnosis (doctor)"),
            h("div", { class: "row" }, h("button", { id: "run-doctor", onclick: () => runDoctor(id) }, "Check again")),
            h("ul", { class: "plain", id: "doctor" })),
          h("section", { class: "panel" }, h("h3", {}, "Journal and day totals"), h("div", { id: "journal" }))),
        h("section", { class: "panel" }, h("h3", {}, "Events of this terminal"), h("ul", { class: "plain events mono", id: "term-events" })))),
    h("p", { id: "error", class: "error", role: "alert" }),
  ];
}

function showError(e) { fill(document.getElementById("error"), String(e && e.message ? e.message : e)); }

async function operate(id, path, body) {
  try {
    const t = await api(`/terminals/${encodeURIComponent(id)}/${path}`, body);
    state.terminals.set(id, t);
    fill(document.getElementById("error"));
    update();
    return t;
  } catch (e) { showError(e); throw e; }
}

function press(id, key) { return operate(id, "keys", { script: key }).catch(() => {}); }
function cardEvent(id, ev) { return operate(id, "card", ev).catch(() => {}); }
function fault(id, f) { state.doctor.delete(id); return operate(id, "faults", f).catch(() => {}); }
async function sandboxFault(id, f) {
  try {
    state.faults = await api("/faults", f);
    state.doctor.delete(id);
    await loadTerminal(id);
    update();
  } catch (e) { showError(e); }
}

function power(id) {
  const on = !state.terminals.get(id).status.settings.powered;
  return operate(id, "power", { on }).catch(() => {});
}

async function pay(id, amount, system) {
  const out = document.getElementById("pay-result");
  fill(out, "sending…");
  try {
    const p = await api("/payments", { tmsId: id, amount, managementSystemId: system });
    state.lastPayment = p.reference;
    fill(out, "payment ", h("a", { href: `#/payment/${p.reference}`, id: "pay-ref" }, p.reference), " ", statusBadge(p.status));
    state.payments = await api("/payments");
    update();
  } catch (e) { fill(out, h("span", { class: "error" }, String(e.message))); }
}

async function runDoctor(id) {
  try { state.doctor.set(id, await api(`/terminals/${encodeURIComponent(id)}/doctor`)); update(); } catch (e) { showError(e); }
}

const PARAMS = [
  ["cloud_connection", "CCV Cloud Connection"], ["mqt", "MQT"], ["mqt_service_enable", "MqtServiceEnable"],
  ["mqt_service_use_ssl", "MqtServiceUseSsl"], ["mgt_subscription", "MgtSubscription"],
  ["signature_algorithm", "SSL/TLS Signature Algorithm"], ["mqt_service", "MQT service"], ["tas", "TAS"],
  ["software_target", "software to install"],
];

function show(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "Enabled" : "Disabled";
  if (typeof v === "object" && "host" in v) return `${v.host}:${v.port}`;
  return String(v);
}

function updateTerminal(id) {
  const t = state.terminals.get(id);
  const lcd = document.getElementById("lcd");
  if (!t || !lcd) return;
  const st = t.status;
  const s = st.settings || {};
  fill(lcd, (st.screen.length ? st.screen : [""]).map((l) => h("div", {}, l)));
  fill(document.getElementById("gloss"), st.screenGloss ? `means: ${st.screenGloss}` : "");
  fill(document.getElementById("links"),
    h("ul", { class: "plain" },
      h("li", {}, mqttBadge(t), st.mqtt.endpoint ? h("span", { class: "muted" }, ` ${st.mqtt.endpoint}`) : ""),
      h("li", {}, tasBadge(t), h("span", { class: "muted" }, ` ${t.tas}`)),
      h("li", {}, `local kicks ${st.localKicks}, cloud commands ${st.mqtt.commands}, TAS dials ${st.dialAttempts}`),
      h("li", {}, `network: DNS ${st.network.dns_configured ? "configured" : "missing"}, outgoing 443 ${st.network.outgoing_443_allowed === false ? "blocked" : "open"}, latency ${st.latencyMs || 0} ms`)));
  const day = { open: "open", closed_by_pos: "closed by the POS", closed_by_hand: "closed by hand" }[s.day] || s.day;
  fill(document.getElementById("facts"),
    h("table", { "aria-label": "Terminal facts" }, h("tbody", {},
      h("tr", {}, h("th", { scope: "row" }, "migration"), h("td", {}, migrationBadge(t.migration))),
      h("tr", {}, h("th", { scope: "row" }, "software"), h("td", {}, show(s.software))),
      h("tr", {}, h("th", { scope: "row" }, "POS OPI mode"), h("td", { id: "fact-mode" }, t.posOpiMode)),
      h("tr", {}, h("th", { scope: "row" }, "trigger port"), h("td", { id: "fact-trigger" }, s.triggerPort === 0 ? "0 (off: cloud kicks only)" : show(s.triggerPort))),
      h("tr", {}, h("th", { scope: "row" }, "day"), h("td", { id: "fact-day" }, `${day}, period ${s.totals ? s.totals.period : "?"}`)),
      h("tr", {}, h("th", { scope: "row" }, "activated"), h("td", {}, s.activated ? "yes" : "no")),
      h("tr", {}, h("th", { scope: "row" }, "whitelist"), h("td", {}, t.onWhitelist ? `on ${t.merchant}'s` : `not on ${t.merchant}'s`)))));
  if (s.tms) {
    fill(document.getElementById("params"), h("table", { "aria-label": "TMS parameters" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "parameter"), h("th", { scope: "col" }, "in TMS"), h("th", { scope: "col" }, "installed"), h("th", { scope: "col" }, ""))),
      h("tbody", {}, PARAMS.map(([k, label]) => {
        const a = show(s.tms[k]);
        const b = show(s.installed[k]);
        const differs = a !== b && k !== "software_target";
        return h("tr", { class: differs ? "differs" : "" }, h("td", {}, label), h("td", {}, a), h("td", {}, b),
          h("td", {}, differs ? badge("differs: hardware installation needed", "warn") : ""));
      }))));
  }
  const setChecked = (idAttr, v) => { const el = document.getElementById(idAttr); if (el && el !== document.activeElement) el.checked = v; };
  setChecked("f-dns", st.network.dns_configured);
  setChecked("f-443", st.network.outgoing_443_allowed !== false);
  setChecked("f-printer", !!t.printerOutOfPaper);
  fill(document.getElementById("power"), s.powered === false ? "Power on" : "Power off");
  if (state.faults) {
    setChecked("f-tas", state.faults.tasDown);
    setChecked("f-iot", state.faults.iotDown);
  }
  const report = state.doctor.get(id);
  if (!report) runDoctor(id);
  else {
    fill(document.getElementById("doctor"), report.checks.map((c) => h("li", { class: `check ${c.pass ? "pass" : "fail"}`, "data-check": c.name },
      `${c.name}: ${c.seen}`,
      c.pass ? "" : h("div", { class: "fix" }, `fix: ${c.fix}`, c.menu ? ` (menu: ${c.menu})` : "", ` [${c.rule}]`))));
  }
  const totals = s.totals || { period: "?", net_minor: 0, circuits: [] };
  fill(document.getElementById("journal"),
    h("p", {}, `period ${totals.period}: net ${(Number(totals.net_minor) / 100).toFixed(2)} EUR`),
    h("ul", { class: "plain mono" }, (st.journal || []).slice(-12).map((l) => h("li", {}, l))));
  const mine = state.lastPayment && state.payments.find((p) => p.reference === state.lastPayment);
  const out = document.getElementById("pay-result");
  if (mine && out && document.getElementById("pay-ref")) {
    fill(out, "payment ", h("a", { href: `#/payment/${mine.reference}`, id: "pay-ref" }, mine.reference), " ",
      h("span", { id: "pay-status" }, statusBadge(mine.status)), mine.failureMessage ? ` ${mine.failureMessage}` : "");
  }
  fill(document.getElementById("term-events"), state.events.filter((e) => e.tmsId === id).slice(-40).reverse().map(eventLine));
}

function eventLine(e) {
  let what;
  switch (e.type) {
    case "screen": what = `screen: ${e.lines.join(" | ")}`; break;
    case "mqtt": what = `MQTT ${e.state}${e.reason ? ` (${e.reason})` : ""}`; break;
    case "link": what = `TAS link ${e.up ? "up" : "down"}`; break;
    case "journal": what = `journal: ${e.line}`; break;
    case "kick": what = `${e.via} kick`; break;
    case "opi": what = `OPI ${e.direction === "toTerminal" ? "TAS → terminal" : "terminal → TAS"}: ${e.kind}`; break;
    case "payment": what = `payment API: ${JSON.stringify(e.event)}`; break;
    default: what = JSON.stringify(e);
  }
  return h("li", { "data-type": e.type }, `${time(e.at)} ${what}`);
}

// ---------- payments ----------

function paymentsTable(list) {
  if (!list.length) return h("p", { class: "muted" }, "No payments yet.");
  return h("table", { "aria-label": "Payments" },
    h("thead", {}, h("tr", {}, ...["reference", "terminal", "POS configuration", "amount", "status", "failure", "created"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, list.map((p) => h("tr", { "data-ref": p.reference },
      h("td", { class: "mono" }, h("a", { href: `#/payment/${p.reference}` }, p.reference)),
      h("td", {}, p.details.terminalId),
      h("td", {}, p.details.managementSystemId),
      h("td", {}, `${p.type === "refund" ? "−" : ""}${Number(p.amount).toFixed(2)} ${p.currency}`),
      h("td", {}, statusBadge(p.status)),
      h("td", {}, p.failureCode || ""),
      h("td", {}, time(p.created))))));
}

function paymentsView() {
  return [h("h2", {}, "Payments"), h("section", { class: "panel" }, h("div", { id: "payments" }))];
}

function updatePayments() { fill(document.getElementById("payments"), paymentsTable(state.payments)); }

function paymentView(ref) {
  return [h("h2", {}, `Payment ${ref}`), h("div", { id: "payment" }, h("p", {}, "Loading…"))];
}

// One read of the payment at a time; events that come meanwhile ask for one more read after it.
const paymentRead = { running: false, again: false };

async function updatePayment(ref) {
  if (paymentRead.running) { paymentRead.again = true; return; }
  paymentRead.running = true;
  try {
    do {
      paymentRead.again = false;
      await showPayment(ref);
    } while (paymentRead.again);
  } finally {
    paymentRead.running = false;
  }
}

async function showPayment(ref) {
  const box = document.getElementById("payment");
  if (!box) return;
  let p;
  try { p = await api(`/payments/${encodeURIComponent(ref)}`); } catch (e) { fill(box, h("p", { class: "error" }, e.message)); return; }
  const t = p.transaction;
  const receipt = (name, text) => {
    if (!text) return "";
    let lines;
    try { lines = JSON.parse(text); } catch (_) { lines = [text]; }
    return h("div", {}, h("h3", {}, name), h("div", { class: "receipt" }, lines.join("\n")));
  };
  // The OPI conversation on the payment's terminal from its creation to its end (as the event stream told it).
  const end = (t.statusFinalDate || Date.now()) + 2000;
  const opi = state.events.filter((e) => e.type === "opi" && e.tmsId === t.details.terminalId && e.at >= t.created - 500 && e.at <= end);
  fill(box,
    h("section", { class: "panel" },
      h("p", {}, statusBadge(t.status), ` ${t.type} of ${Number(t.amount).toFixed(2)} ${t.currency} on `, h("a", { href: `#/terminal/${t.details.terminalId}` }, t.details.terminalId),
        ` via ${t.details.managementSystemId} (${t.details.wakeUpType})`),
      t.failureCode ? h("p", { class: "error" }, `${t.failureCode}: ${t.failureMessage || ""}`) : "",
      t.details.terminalMessage ? h("p", {}, `terminal says: ${t.details.terminalMessage}`) : ""),
    h("div", { class: "cols" },
      h("section", { class: "panel" }, h("h3", {}, "OPI conversation"),
        opi.length ? h("ol", { class: "timeline", id: "timeline" }, opi.map((e) => h("li", {},
          h("details", {}, h("summary", {}, `${time(e.at)} ${e.direction === "toTerminal" ? "TAS → terminal" : "terminal → TAS"}: ${e.kind}`),
            h("pre", { class: "xml" }, e.xml)))))
          : h("p", { class: "muted" }, "No OPI messages seen: the page follows the event stream from when it was opened.")),
      h("section", { class: "panel" }, receipt("Customer receipt", t.details.customerReceipt), receipt("Merchant receipt", t.details.merchantReceipt)),
      h("section", { class: "panel" }, h("h3", {}, "Webhook deliveries"),
        p.webhooks.length ? h("table", { "aria-label": "Webhook deliveries" }, h("tbody", {}, p.webhooks.map((w) => h("tr", {},
          h("td", {}, `#${w.attempt}`), h("td", {}, time(w.attemptedMs)), h("td", { class: "mono" }, w.url),
          h("td", {}, w.httpStatus ? String(w.httpStatus) : (w.error || "")))))) : h("p", { class: "muted" }, "None (no webhookUrl, or not final yet)."))));
}

// ---------- the migration tour ----------

const TOUR = [
  {
    title: "Set the TMS parameters (R5, R6)",
    real: "In TMS (Grundmaster): group MQT parameters: MQT Enabled, MqtServiceEnable Enabled, MqtServiceUseSsl Enabled, MgtSubscription NL-CAT; general parameters: CCV Cloud Connection Enabled, SSL/TLS Signature Algorithm SHA-256; software 14.0.11.01 or newer.",
    async run(id) {
      const changes = [{ cloud_connection: true }, { mqt: true }, { mqt_service_enable: true }, { mqt_service_use_ssl: true },
        { mgt_subscription: "NL-CAT" }, { signature_algorithm: "sha256" }, { software_target: "14.0.11.01" }];
      for (const c of changes) await operate(id, "tms", c);
    },
    check: (t) => { const p = t.status.settings.tms; return p.mqt && p.mqt_service_enable && p.mqt_service_use_ssl && p.cloud_connection && p.mgt_subscription === "NL-CAT"; },
    seen: (t) => { const p = t.status.settings.tms; return `in TMS: MQT ${show(p.mqt)}, MqtServiceEnable ${show(p.mqt_service_enable)}, MqtServiceUseSsl ${show(p.mqt_service_use_ssl)}, Cloud Connection ${show(p.cloud_connection)}, MgtSubscription ${p.mgt_subscription}`; },
  },
  {
    title: "Close the day (R15)",
    real: "START MENU → MANAGER MENU → password 99999 → FUNCTIES → BETAALTERMINAL → DAGAFSLUITING → JA = OK. The installation needs a closed day (R16).",
    run: (id) => operate(id, "keys", { script: "MENU 1 99999 OK 1 1 1 OK OK STOP STOP STOP STOP" }),
    check: (t) => t.status.settings.day !== "open" || t.status.settings.installed.mqt,
    seen: (t) => `day: ${t.status.settings.day}`,
  },
  {
    title: "Hardware installation with the service password (R16–R19)",
    real: "START MENU → SERVICE MENU → the service password of the day → FUNCTIES → BETAALTERMINAL → HARDWARE INSTALLATIE → TERM.INSTALLATIE → TMS ID, TMS ID again → OK keeps the TMS address → OK installs; never downgrade (R18); check the merchant data and OK.",
    async run(id) {
      const pw = (await api(`/terminals/${encodeURIComponent(id)}/service-password`)).servicePassword;
      await operate(id, "keys", { script: `MENU 2 ${pw} OK 1 1 1 1 ${id} OK ${id} OK OK OK OK OK` });
    },
    check: (t) => t.status.settings.installed.mqt && t.status.settings.installed.cloud_connection,
    seen: (t) => `installed: MQT ${show(t.status.settings.installed.mqt)}, software ${t.status.settings.software}; ${t.migration}`,
  },
  {
    title: "OPI settings: POS MODE TCP FLAT-OUTGOING (R20)",
    real: "START MENU → SERVICE MENU → service password → TERMINAL → CONFIGUREREN → OPI INSTELLINGEN → POS MODE → TCP FLAT-OUTGOING → JA = OK saves (only offered with Cloud Connect on in TMS).",
    async run(id) {
      const pw = (await api(`/terminals/${encodeURIComponent(id)}/service-password`)).servicePassword;
      await operate(id, "keys", { script: `MENU 2 ${pw} OK 2 1 1 1 2 OK OK STOP STOP STOP STOP STOP` });
    },
    check: (t) => t.status.settings.posOpiMode === "tcp_flat_outgoing" && t.status.settings.installed.mqt,
    seen: (t) => `POS OPI mode: ${t.posOpiMode}`,
  },
  {
    title: "Activate and reopen the day (R19)",
    real: "START MENU → MANAGER MENU → 99999 → FUNCTIES → BETAALTERMINAL → ACTIVEREN, then DAG OPENEN: a day closed by hand is reopened by hand.",
    run: (id) => operate(id, "keys", { script: "MENU 1 99999 OK 1 1 3 OK 2 OK STOP STOP STOP STOP" }),
    check: (t) => t.status.settings.activated && t.status.settings.day === "open" && t.status.settings.installed.mqt && mqttState(t) === "up",
    seen: (t) => `activated: ${t.status.settings.activated ? "yes" : "no"}, day: ${t.status.settings.day}, MQTT ${mqttState(t)}`,
  },
  {
    title: "Whitelist and POS configuration (R8, R10)",
    real: "In VPOS: put the TMS ID on the merchant's whitelist. In the POS: TMS ID, TMS system name GrundmasterNL (or GrundmasterBE), access protocol OPI_NL; no IP or port.",
    async run(id) { await operate(id, "whitelist", { on: true }); state.tour.posConfig = "GrundmasterNL"; },
    check: (t) => t.onWhitelist && state.tour.posConfig === "GrundmasterNL",
    seen: (t) => `${t.onWhitelist ? "on" : "not on"} the whitelist; POS configuration: ${state.tour.posConfig || "08900000002 (1.0)"}`,
  },
  {
    title: "Test payment (R22)",
    real: "The customer makes a test payment; it must succeed and print its receipts.",
    async run(id) { const p = await api("/payments", { tmsId: id, amount: "1.00", managementSystemId: "GrundmasterNL" }); state.tour.payments.test = p.reference; },
    check: () => tourPaymentOk("test"),
    seen: () => tourPaymentSeen("test"),
  },
  {
    title: "Prove it runs over 2.0: trigger port 0 (R21)",
    real: "START MENU → SERVICE MENU → service password → TERMINAL → CONFIGUREREN → OPI INSTELLINGEN → TRIGGER POORT → 0 → OK. Only cloud kicks arrive now; if payments still work, everything runs over Cloud Connect 2.0.",
    async run(id) {
      const pw = (await api(`/terminals/${encodeURIComponent(id)}/service-password`)).servicePassword;
      await operate(id, "keys", { script: `MENU 2 ${pw} OK 2 1 1 2 0 OK OK OK STOP STOP STOP STOP STOP` });
      const p = await api("/payments", { tmsId: id, amount: "2.00", managementSystemId: "GrundmasterNL" });
      state.tour.payments.proof = p.reference;
    },
    check: (t) => t.status.settings.triggerPort === 0 && tourPaymentOk("proof", "CLOUD_CONNECT"),
    seen: (t) => `trigger port ${t.status.settings.triggerPort}; ${tourPaymentSeen("proof")}`,
  },
];

function tourPaymentSeen(name) {
  const ref = state.tour.payments[name];
  const p = ref && state.payments.find((x) => x.reference === ref);
  return p ? `payment ${p.status} via ${p.details.wakeUpType}` : "no payment yet";
}

function tourPaymentOk(name, wakeUp) {
  const ref = state.tour.payments[name];
  const p = ref && state.payments.find((x) => x.reference === ref);
  return !!p && p.status === "success" && (!wakeUp || p.details.wakeUpType === wakeUp);
}

function tourView(id) {
  const t = state.terminals.get(id);
  if (!t) return [h("h2", {}, `No terminal ${id}`)];
  return [
    h("h2", {}, `The migration tour on ${id} `, h("span", { class: "muted" }, t.label)),
    h("p", {}, "The installer's guide, step by step, on a live terminal. Each step says what you do on a real terminal; do it on ",
      h("a", { href: `#/terminal/${id}` }, "the terminal's page"), " (keypad, TMS, VPOS) or let the step do it, and the check turns green once it happened."),
    h("p", { id: "tour-progress", role: "status", "aria-live": "polite" }),
    h("ol", { class: "tour" }, TOUR.map((step, i) => h("li", { id: `tour-step-${i + 1}` },
      h("h3", {}, step.title),
      h("p", {}, h("strong", {}, "On a real terminal: "), step.real),
      h("div", { class: "row" },
        h("button", { id: `tour-run-${i + 1}`, onclick: (e) => runTourStep(id, i, e.target) }, `Do step ${i + 1} for me`),
        h("span", { class: "check", id: `tour-check-${i + 1}` }))))),
  ];
}

// One step at a time, in the order asked: a step's keys never mix with another's.
let tourQueue = Promise.resolve();

function runTourStep(id, i, button) {
  button.disabled = true;
  state.tour.running = (state.tour.running || 0) + 1;
  update();
  tourQueue = tourQueue.then(async () => {
    try { await TOUR[i].run(id); state.payments = await api("/payments"); } catch (e) { showError(e); }
    await loadTerminal(id).catch(showError);
  }).finally(() => {
    state.tour.running -= 1;
    button.disabled = false;
    update();
  });
  return tourQueue;
}

function updateTour(id) {
  const t = state.terminals.get(id);
  if (!t || !document.getElementById("tour-progress")) return;
  let done = 0;
  const running = state.tour.running > 0;
  TOUR.forEach((step, i) => {
    let ok = false;
    // While a step runs, what the terminal shows is on its way; the checks wait for it to finish.
    try { ok = !running && !!step.check(t); } catch (_) { ok = false; }
    if (ok) done++;
    const li = document.getElementById(`tour-step-${i + 1}`);
    li.className = ok ? "done" : "";
    const mark = document.getElementById(`tour-check-${i + 1}`);
    mark.className = `check ${ok ? "pass" : "fail"}`;
    let seen = "";
    try { seen = step.seen(t); } catch (_) { seen = ""; }
    fill(mark, ok ? "done" : running ? "…" : "not yet", seen ? h("span", { class: "muted" }, ` (seen: ${seen})`) : "");
  });
  fill(document.getElementById("tour-progress"), running ? "running a step…" : `${done} of ${TOUR.length} steps done${done === TOUR.length ? ": the terminal is migrated to Cloud Connect 2.0 and proven." : ""}`);
}

// ---------- start ----------

window.addEventListener("hashchange", render);
(async () => {
  try {
    connectEvents();
    await loadAll();
    render();
    document.body.dataset.ready = "true";
  } catch (e) {
    fill(document.getElementById("main"), h("p", { class: "error" }, `The control API did not answer: ${e.message}`));
  }
})();
