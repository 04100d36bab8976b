// Live alarm console: a snapshot on connect, then deltas over the websocket (/ws/alarms/).
// Priority is shown with colour, text and shape; actions POST to the server, which records who and when.
(function () {
  "use strict";
  const root = document.getElementById("console");
  if (!root) return;
  const rows = document.getElementById("alarm-rows");
  const conn = document.getElementById("conn");
  const floodBox = document.getElementById("flood");
  const floodText = document.getElementById("flood-text");
  const service = document.getElementById("service");
  const shedding = document.getElementById("shedding");
  const sheddingText = document.getElementById("shedding-text");
  const pending = document.getElementById("pending");
  const hiddenBox = document.getElementById("hidden-box");
  const hiddenRows = document.getElementById("hidden-rows");
  const hiddenCount = document.getElementById("hidden-count");
  const HIDDEN = new Set(["shelved", "suppressed", "out_of_service"]);
  const can = { ack: root.dataset.canAck === "1", shelve: root.dataset.canShelve === "1", comment: root.dataset.canComment === "1" };
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const alarms = new Map();
  const floods = new Map();
  const STATE_ORDER = { active_unacknowledged: 0, returned_unacknowledged: 1, active_acknowledged: 2, shelved: 3, suppressed: 4, out_of_service: 5, normal: 6 };
  const PRIO_ORDER = { high: 0, medium: 1, low: 2 };
  const SHAPE = { high: "!!!", medium: "!!", low: "!" };
  const STATE_TEXT = {
    active_unacknowledged: "\u25CF ACTIVE, NOT ACKNOWLEDGED", active_acknowledged: "\u25C9 active, acknowledged",
    returned_unacknowledged: "\u25CB returned, not acknowledged", shelved: "\u2298 shelved", suppressed: "\u2298 suppressed",
    out_of_service: "\u2715 out of service", normal: "normal",
  };

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (k === "class") e.className = v; else e.setAttribute(k, v); });
    children.forEach((c) => e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c))));
    return e;
  }
  function prio(p) { return el("span", { class: "prio prio-" + p }, el("span", { class: "prio-shape", "aria-hidden": "true" }, SHAPE[p] || "!"), " " + p.toUpperCase()); }
  function fmt(iso) { return iso ? new Date(iso).toLocaleString() : ""; }

  async function act(id, kind, body) {
    const form = new URLSearchParams(body || {});
    const r = await fetch(root.dataset.actionUrl + id + "/" + kind + "/", {
      method: "POST", headers: { "X-CSRFToken": csrf, "Accept": "application/json" }, body: form, credentials: "same-origin",
    });
    const data = await r.json().catch(() => ({}));
    pending.textContent = r.ok ? kind + " recorded; waiting for the alarm service…" : "Could not " + kind + ": " + (data.error || r.status);
  }

  function buttons(a) {
    const td = el("td");
    if (can.ack && (a.state === "active_unacknowledged" || a.state === "returned_unacknowledged")) {
      const b = el("button", { type: "button" }, "Acknowledge"); b.onclick = () => act(a.id, "acknowledge"); td.append(b);
    }
    if (can.shelve && a.state !== "shelved" && a.state !== "normal") {
      const b = el("button", { type: "button" }, "Shelve…");
      b.onclick = () => {
        const reason = prompt("Shelve " + a.title + " – reason (recorded with your name):");
        if (!reason) return;
        const minutes = prompt("For how many minutes? (15, 60, 240, 480, 1440)", "60");
        if (minutes) act(a.id, "shelve", { reason, minutes });
      };
      td.append(b);
    }
    if (can.comment) {
      const b = el("button", { type: "button" }, "Comment…");
      b.onclick = () => { const text = prompt("Comment on " + a.title + ":"); if (text) act(a.id, "comment", { text }); };
      td.append(b);
    }
    td.append(el("a", { href: a.url }, "history"));
    return td;
  }

  function render() {
    const all = [...alarms.values()].filter((a) => a.state !== "normal").sort((x, y) =>
      (STATE_ORDER[x.state] - STATE_ORDER[y.state]) || (PRIO_ORDER[x.priority] - PRIO_ORDER[y.priority]) || (y.since < x.since ? -1 : 1));
    const list = all.filter((a) => !HIDDEN.has(a.state));
    const hidden = all.filter((a) => HIDDEN.has(a.state));
    hiddenRows.replaceChildren(...hidden.map((a) => el("tr", {}, el("td", {}, prio(a.priority)),
      el("td", {}, el("span", { class: "state state-" + a.state }, STATE_TEXT[a.state] || a.state)), el("td", {}, a.title),
      el("td", {}, el("a", { href: a.url }, a.rule)), el("td", {}, fmt(a.since)))));
    hiddenCount.textContent = String(hidden.length);
    hiddenBox.hidden = !hidden.length;
    rows.replaceChildren();
    if (!list.length) {
      rows.append(el("tr", { class: "empty-row" }, el("td", { colspan: "7", class: "empty" }, "No alarms. All monitored rooms and equipment are within their limits.")));
    }
    list.forEach((a) => {
      const what = el("td", {}, el("a", { href: a.url }, a.rule), el("br"), el("small", {}, a.message || ""));
      const state = el("td", {}, el("span", { class: "state state-" + a.state }, STATE_TEXT[a.state] || a.state));
      if (a.acknowledged_by && a.state === "active_acknowledged") state.append(el("br"), el("small", {}, "by " + a.acknowledged_by));
      if (a.shelved_until && a.state === "shelved") state.append(el("br"), el("small", {}, "until " + fmt(a.shelved_until) + " (" + (a.shelved_by || "") + ")"));
      rows.append(el("tr", { class: "row-" + a.state + " row-" + a.priority, "data-id": a.id },
        el("td", {}, prio(a.priority)), state, el("td", {}, a.title), what,
        el("td", {}, a.value == null ? "" : a.value), el("td", {}, fmt(a.since)), buttons(a)));
    });
    const open = [...floods.values()].filter((f) => !f.ended_at);
    floodBox.hidden = !open.length;
    floodText.textContent = open.map((f) => f.headline).join(" · ");
  }

  // Service health: the alarm service's heartbeat, and whether ingest sheds load (tag sightings only).
  function showService(svc) {
    if (!svc) return;
    service.hidden = !!svc.running;
    const ingest = svc.ingest || {};
    shedding.hidden = !ingest.shedding;
    sheddingText.textContent = ingest.shedding
      ? "since " + (ingest.since || "").slice(11, 16) + " UTC: keeping 1 in " + ingest.keep_one_in +
        " tag sightings, " + Number(ingest.lag_s || 0).toFixed(1) + " s behind."
      : "";
  }

  function apply(a) {
    const old = alarms.get(a.id);
    if (!old || (a.version || 0) >= (old.version || 0)) alarms.set(a.id, a);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + root.dataset.ws);
    ws.onopen = () => { conn.textContent = "live"; conn.className = "conn conn-on"; };
    ws.onclose = () => { conn.textContent = "disconnected – reconnecting…"; conn.className = "conn conn-off"; setTimeout(connect, 2000); };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "alarms.snapshot") {
        alarms.clear(); floods.clear();
        msg.alarms.forEach(apply); msg.floods.forEach((f) => floods.set(f.id, f));
        showService(msg.service);
      } else if (msg.type === "alarms.delta") {
        msg.alarms.forEach(apply); msg.floods.forEach((f) => floods.set(f.id, f));
        if (msg.alarms.length) pending.textContent = "";
      } else if (msg.type === "alarms.service") {
        showService(msg.service);
      } else if (msg.type === "alarms.action") {
        const a = msg.action;
        pending.textContent = a.kind + " by " + (a.user || "system") + ": " + a.status + (a.result ? " (" + a.result + ")" : "");
      }
      render();
    };
    setInterval(() => { if (ws.readyState === 1) ws.send(JSON.stringify({ type: "alarms.ping" })); }, 25000);
  }
  connect();
})();
