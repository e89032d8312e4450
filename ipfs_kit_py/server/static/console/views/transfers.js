// Transfers: push a CID to another node (the ipfs-kit/transfer operation: libp2p, else
// WebSocket, else HTTP) and watch each channel's attempt and progress from the events.
import { esc, humanSize, rpc } from "../api.js";
import { icon } from "../icons.js";

const CHANNELS = ["libp2p", "websocket", "http"];
const jobs = [];  // kept across view switches
let ctx, root, off;

export function mount(el, context) {
  ctx = context; root = el;
  el.innerHTML = `
    <h1>${icon("send")} Transfers</h1>
    <form class="panel" id="push-form">
      <div class="grid2">
        <div class="field"><label for="push-cid">CID to push</label>
          <input type="text" id="push-cid" autocomplete="off" spellcheck="false" placeholder="Qm..."></div>
        <div class="field"><label for="push-target">Target node: URL, peer ID or multiaddr</label>
          <input type="text" id="push-target" autocomplete="off" spellcheck="false" placeholder="http://127.0.0.1:8001"></div>
      </div>
      <fieldset style="border:none;padding:0;margin:.75rem 0 0"><legend>Channels, tried in order</legend>
        <div class="checks">${CHANNELS.map((c) => `<label><input type="checkbox" name="channel" value="${c}" checked> ${c}</label>`).join("")}</div>
      </fieldset>
      <p class="muted">A libp2p push is taken only by a target that lists this node's peer ID in its
        <code>libp2p.accept_push_from</code>; otherwise the next channel carries the content.</p>
      <button type="submit" class="primary">${icon("send")} Push</button>
    </form>
    <div id="jobs"></div>`;
  el.querySelector("#push-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const cid = el.querySelector("#push-cid").value.trim();
    const target = el.querySelector("#push-target").value.trim();
    const channels = [...el.querySelectorAll("input[name=channel]:checked")].map((i) => i.value);
    if (!cid || !target || !channels.length) { ctx.toast("Give a CID, a target and at least one channel", true); return; }
    push(cid, target, channels);
  });
  off = ctx.hub.on((kind, msg) => {
    if (kind !== "event" || !msg.type.startsWith("transfer_")) return;
    for (const j of jobs) {
      if (j.done || msg.data.cid !== j.cid || msg.timestamp < j.started) continue;
      const ch = msg.data.protocol === "libp2p" || !msg.data.protocol ? (j.channels.find((c) => j.state[c] === "trying") || "libp2p") : msg.data.protocol;
      const a = (j.state[ch] = j.state[ch] || "waiting");
      if (msg.type === "transfer_progress") { j.bytes[ch] = msg.data.bytes ?? msg.data.transferred ?? j.bytes[ch]; j.total[ch] = msg.data.total ?? msg.data.size ?? j.total[ch]; }
      if (msg.type === "transfer_started") { j.state[ch] = "trying"; j.total[ch] = msg.data.size ?? msg.data.total ?? j.total[ch]; }
      if (msg.type === "transfer_completed") { j.state[ch] = "ok"; j.bytes[ch] = msg.data.bytes ?? j.bytes[ch]; }
      if (msg.type === "transfer_failed") {
        j.state[msg.data.protocol || ch] = "failed"; j.errors[msg.data.protocol || ch] = msg.data.error;
        if (msg.data.next) j.state[msg.data.next] = "trying";
      }
      void a;
      render();
    }
  });
  render();
}
export function unmount() { if (off) off(); }

async function push(cid, target, channels) {
  const job = { id: jobs.length + 1, cid, target, channels, started: Date.now() / 1000 - 1, done: false, result: null, error: null,
    state: Object.fromEntries(channels.map((c, i) => [c, i === 0 ? "trying" : "waiting"])), bytes: {}, total: {}, errors: {}, seconds: {} };
  jobs.unshift(job);
  render();
  try {
    const r = await rpc("ipfs-kit/transfer", { arg: cid, target, channels: channels.join(",") });
    job.result = r;
    apply(job, r.attempts || r.Attempts || []);
    ctx.toast(`Pushed ${cid} over ${r.channel}`);
  } catch (e) {
    job.error = e.message;
    try { apply(job, JSON.parse(e.body).Attempts || []); } catch { /* not JSON */ }
  }
  job.done = true;
  render();
}

function apply(job, attempts) {
  for (const c of job.channels) if (job.state[c] === "trying" || job.state[c] === "waiting") job.state[c] = "not tried";
  for (const a of attempts) {
    job.state[a.channel] = a.ok ? "ok" : "failed";
    job.seconds[a.channel] = a.seconds;
    if (a.error) job.errors[a.channel] = a.error;
  }
  if (job.result) job.bytes[job.result.channel] = job.result.bytes;
}

const BADGE = { ok: "ok", failed: "err", trying: "warn" };
function render() {
  const box = root && root.querySelector("#jobs");
  if (!box) return;
  box.innerHTML = jobs.map((j) => `
    <section class="panel job" data-cid="${esc(j.cid)}" data-status="${j.done ? (j.error ? "failed" : "done") : "running"}">
      <div class="row"><strong>Push</strong><span class="cid">${esc(j.cid)}</span><span class="muted">to</span><span class="cid">${esc(j.target)}</span>
        <span class="badge ${j.done ? (j.error ? "err" : "ok") : "warn"}">${j.done ? (j.error ? "failed" : `done over ${esc(j.result.channel)}`) : "running"}</span></div>
      ${j.error ? `<p class="badge err">${esc(j.error)}</p>` : ""}
      <div class="table-wrap"><table><thead><tr><th>Channel</th><th>Attempt</th><th>Progress</th><th class="num">Time</th><th>Error</th></tr></thead><tbody>
      ${j.channels.map((c) => {
        const total = j.total[c], bytes = j.bytes[c];
        const pct = j.state[c] === "ok" ? 100 : total && bytes ? Math.round((100 * bytes) / total) : 0;
        return `<tr data-channel="${c}" data-state="${esc(j.state[c])}"><td>${c}</td><td><span class="badge ${BADGE[j.state[c]] || ""}">${esc(j.state[c])}</span></td>
          <td><progress max="100" value="${pct}" aria-label="${c} progress"></progress> ${bytes ? humanSize(bytes) : ""}</td>
          <td class="num">${j.seconds[c] !== undefined ? `${j.seconds[c].toFixed(2)} s` : ""}</td><td>${esc(j.errors[c] || "")}</td></tr>`;
      }).join("")}</tbody></table></div>
    </section>`).join("") || `<p class="muted">No transfer yet in this session.</p>`;
}
