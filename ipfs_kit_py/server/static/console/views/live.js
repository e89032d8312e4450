// Live: the node's event stream (/ws/notifications through the shared hub) with type
// filters, a pause button, and the reconnects and resumptions shown in the stream.
import { esc } from "../api.js";
import { icon } from "../icons.js";

const MAX_ROWS = 500;
const TYPES = ["content_added", "content_removed", "pin_status_changed", "transfer_started", "transfer_progress",
  "transfer_completed", "transfer_failed", "webrtc_offer", "webrtc_connected", "webrtc_error",
  "webrtc_quality_changed", "peer_connected", "peer_disconnected", "system_status"];
const log = [];  // kept across view switches: {kind, msg}
let root, off, paused = false, held = [];

function record(kind, msg) {
  log.push({ kind, msg });
  if (log.length > MAX_ROWS) log.shift();
}
let collecting = false;
export function collect(hub) {  // from page load on, so the stream has what came before the view opened
  if (collecting) return;
  collecting = true;
  hub.on((kind, msg) => { if (kind !== "state") record(kind, msg); });
}

export function mount(el, ctx) {
  root = el;
  collect(ctx.hub);
  el.innerHTML = `
    <h1>${icon("live")} Live events</h1>
    <div class="panel">
      <fieldset style="border:none;padding:0;margin:0"><legend class="sr-only">Event types shown</legend>
        <div class="checks" id="types">${TYPES.map((t) => `<label><input type="checkbox" value="${t}" checked> ${t}</label>`).join("")}</div>
      </fieldset>
      <div class="row" style="margin-top:.75rem">
        <button type="button" id="pause" aria-pressed="false">${icon("pause")} Pause</button>
        <button type="button" id="clear">${icon("trash")} Clear</button>
        <button type="button" id="drop">${icon("refresh")} Reconnect</button>
        <span class="muted" id="live-status" aria-live="polite"></span>
      </div>
    </div>
    <ol class="events" id="events" aria-label="Events, newest first" tabindex="0"></ol>`;
  el.querySelector("#types").addEventListener("change", render);
  el.querySelector("#pause").addEventListener("click", (ev) => {
    paused = !paused;
    ev.currentTarget.setAttribute("aria-pressed", String(paused));
    ev.currentTarget.innerHTML = paused ? `${icon("play")} Resume` : `${icon("pause")} Pause`;
    if (!paused) { held = []; render(); }
    status();
  });
  el.querySelector("#clear").addEventListener("click", () => { log.length = 0; held = []; render(); });
  el.querySelector("#drop").addEventListener("click", () => { ctx.hub.drop(); setTimeout(() => ctx.hub.reconnect(), 300); });
  off = ctx.hub.on((kind) => {
    if (kind === "state") { status(); return; }
    if (paused) { held.push(kind); status(); return; }
    render();
  });
  render();
  status();

  function status() {
    const s = root.querySelector("#live-status");
    if (!s) return;
    s.textContent = `${ctx.hub.state}${ctx.hub.last !== null ? `, last seq ${ctx.hub.last}` : ""}${paused ? `, paused (${held.length} new)` : ""}`;
  }
}
export function unmount() { if (off) off(); }

function line({ kind, msg }) {
  if (kind === "note") return `<li class="note">${esc(msg.text)}</li>`;
  if (kind === "gap") return `<li class="gap">${esc(msg.text)}</li>`;
  const t = new Date(msg.timestamp * 1000).toLocaleTimeString();
  return `<li data-type="${esc(msg.type)}" data-seq="${msg.seq}"><span>#${msg.seq}</span><span class="time">${esc(t)}</span>
    <strong>${esc(msg.type)}</strong><span class="data">${esc(JSON.stringify(msg.data))}</span></li>`;
}

function render() {
  const list = root && root.querySelector("#events");
  if (!list) return;
  const on = new Set([...root.querySelectorAll("#types input:checked")].map((i) => i.value));
  const shown = log.filter((e) => e.kind !== "event" || on.has(e.msg.type));
  list.innerHTML = shown.slice().reverse().map(line).join("") || `<li class="note">No events yet.</li>`;
}
