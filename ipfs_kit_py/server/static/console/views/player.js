// Player: a CID (or the node's test pattern) over WebRTC (/ws/webrtc: the browser offers,
// the node answers), quality choice, and live graphs from getStats(): bitrate, frames per
// second, packet loss, round-trip time; the node's rendition/bitrate switches are marked.
import { esc, openSocket } from "../api.js";
import { icon } from "../icons.js";

const WINDOW = 60;  // seconds shown in the graphs
const GRAPHS = [
  ["bitrate", "Bitrate", (v) => `${(v / 1000).toFixed(0)} kbit/s`],
  ["fps", "Frames per second", (v) => v.toFixed(1)],
  ["loss", "Packet loss", (v) => `${(v * 100).toFixed(1)} %`],
  ["rtt", "Round-trip time", (v) => `${(v * 1000).toFixed(1)} ms`],
];
const state = (window.ipfsPlayerConsole = { state: "idle", error: null, samples: [], switches: [], pcId: null, media: null });
let session = null;  // {ws, pc, timer, prev}
let root, ctx;

export function mount(el, context) {
  root = el; ctx = context;
  window.ipfsConsole.player = state;
  el.innerHTML = `
    <h1>${icon("play")} Player</h1>
    <form class="panel row" id="play-form">
      <div class="field grow"><label for="play-cid">CID or /ipfs path of a video</label>
        <input type="text" id="play-cid" autocomplete="off" spellcheck="false" placeholder="Qm... or /ipfs/CID/video.mp4"></div>
      <div class="field"><label for="play-quality">Quality</label>
        <select id="play-quality"><option value="auto">auto (adaptive)</option><option value="low">low, 400 kbit/s</option>
          <option value="medium">medium, 1 Mbit/s</option><option value="high">high, 2.5 Mbit/s</option></select></div>
      <div class="row" style="align-self:flex-end">
        <button type="submit" class="primary">${icon("play")} Play</button>
        <button type="button" id="play-pattern">Test pattern</button>
        <button type="button" id="play-stop">${icon("stop")} Stop</button>
      </div>
    </form>
    <video id="play-video" class="player-video" autoplay muted playsinline controls aria-label="WebRTC video"></video>
    <p id="play-status" class="muted" aria-live="polite">idle</p>
    <div class="graphs" id="graphs">${GRAPHS.map(([k, label]) => `
      <figure class="graph" style="margin:0"><header><span>${label}</span><strong id="val-${k}">-</strong></header>
        <canvas id="graph-${k}" role="img" aria-label="${label} over the last ${WINDOW} seconds"></canvas></figure>`).join("")}</div>
    <h2>Quality switches</h2><ol class="switches" id="switches"></ol>`;
  const cid = ctx.params.get("cid");
  if (cid) el.querySelector("#play-cid").value = cid;
  el.querySelector("#play-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = el.querySelector("#play-cid").value.trim();
    if (v) play({ cid: v });
  });
  el.querySelector("#play-pattern").addEventListener("click", () => play({ test_pattern: true, loop: true }));
  el.querySelector("#play-stop").addEventListener("click", () => { stop(); setStatus("stopped"); });
  el.querySelector("#play-quality").addEventListener("change", (ev) => {
    if (session && state.pcId) session.ws.send(JSON.stringify({ type: "quality_change", pc_id: state.pcId, quality: ev.target.value }));
  });
  if (session) attach(); else { drawAll(); renderSwitches(); }
}
export function unmount() { stop(); }

function setStatus(text, isError = false) {
  state.state = text;
  const s = root && root.querySelector("#play-status");
  if (s) { s.textContent = text; s.className = isError ? "badge err" : "muted"; }
}

function attach() {
  const v = root.querySelector("#play-video");
  if (session && session.stream) v.srcObject = session.stream;
}

function stop() {
  if (!session) return;
  clearInterval(session.timer);
  session.pc.close();
  session.ws.close();
  session = null;
  state.pcId = null;
  const v = root && root.querySelector("#play-video");
  if (v) v.srcObject = null;
}

function waitForIce(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
    setTimeout(resolve, ms);
  });
}

export async function play(target) {
  stop();
  state.error = null; state.samples = []; state.switches = []; state.media = null;
  renderSwitches();
  setStatus("connecting");
  const quality = root.querySelector("#play-quality").value;
  const ws = openSocket("/ws/webrtc");
  const pc = new RTCPeerConnection({ iceServers: [] });
  const stream = new MediaStream();
  const s = (session = { ws, pc, stream, prev: null, timer: null });
  const serverOffers = Boolean(target.test_pattern);  // the test pattern: the node offers, we answer
  if (!serverOffers) {
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
  }
  pc.ontrack = (ev) => { stream.addTrack(ev.track); attach(); };
  pc.onicecandidate = (ev) => {
    if (state.pcId && session === s) ws.send(JSON.stringify({ type: "candidate", pc_id: state.pcId, candidate: ev.candidate ? ev.candidate.toJSON() : null }));
  };
  pc.onconnectionstatechange = () => session === s && setStatus(`connection ${pc.connectionState}`, pc.connectionState === "failed");
  ws.onmessage = async (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "offer" && serverOffers) {
      state.pcId = msg.pc_id; state.media = msg.media;
      await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await waitForIce(pc, 2000);
      ws.send(JSON.stringify({ type: "answer", pc_id: msg.pc_id, sdp: pc.localDescription.sdp }));
    } else if (msg.type === "answer") {
      state.pcId = msg.pc_id; state.media = msg.media;
      await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
    } else if (msg.type === "error") {
      state.error = msg;
      setStatus(`error (${msg.code}): ${msg.error}`, true);
    } else if (msg.type === "quality_changed") {
      const t = state.samples.length ? state.samples[state.samples.length - 1].t : 0;
      state.switches.push({ t, ...msg });
      renderSwitches();
    } else if (msg.type === "ended") setStatus("ended");
  };
  ws.onclose = () => { if (session === s && !state.error && state.state !== "ended") setStatus("signaling closed"); };
  try {
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error("the signaling WebSocket did not open")); });
    if (serverOffers) {
      ws.send(JSON.stringify({ type: "offer_request", quality, tracks: ["video"], ...target }));
    } else {
      await pc.setLocalDescription(await pc.createOffer());
      await waitForIce(pc, 2000);
      ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp, codec: "h264", quality, tracks: ["video", "audio"], ...target }));
    }
  } catch (e) { setStatus(String(e.message || e), true); return; }
  s.started = performance.now();
  s.timer = setInterval(() => sample(s), 1000);
}

async function sample(s) {
  if (session !== s) return;
  const report = await s.pc.getStats();
  let inbound = null, pair = null;
  report.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") inbound = r;
    if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r;
  });
  if (!inbound) return;
  const now = { t: (performance.now() - s.started) / 1000, bytes: inbound.bytesReceived || 0, frames: inbound.framesDecoded || 0,
    lost: inbound.packetsLost || 0, received: inbound.packetsReceived || 0 };
  const p = s.prev;
  s.prev = now;
  if (!p) return;
  const dt = now.t - p.t || 1;
  const dLost = now.lost - p.lost, dRecv = now.received - p.received;
  const point = { t: now.t, bitrate: (8 * (now.bytes - p.bytes)) / dt, fps: inbound.framesPerSecond ?? (now.frames - p.frames) / dt,
    loss: dLost + dRecv > 0 ? Math.max(0, dLost) / (dLost + dRecv) : 0,
    rtt: pair && pair.currentRoundTripTime !== undefined ? pair.currentRoundTripTime : 0, frames: now.frames };
  state.samples.push(point);
  if (state.samples.length > WINDOW * 4) state.samples.shift();
  drawAll();
}

function drawAll() {
  if (!root || !root.querySelector("#graphs")) return;
  const pts = state.samples.slice(-WINDOW);
  for (const [key, , fmt] of GRAPHS) {
    const last = pts[pts.length - 1];
    root.querySelector(`#val-${key}`).textContent = last ? fmt(last[key]) : "-";
    draw(root.querySelector(`#graph-${key}`), pts, key);
  }
}

function draw(canvas, pts, key) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 300, h = canvas.clientHeight || 90;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  const css = getComputedStyle(document.documentElement);
  g.strokeStyle = css.getPropertyValue("--line"); g.lineWidth = 1;
  for (let i = 1; i < 4; i++) { g.beginPath(); g.moveTo(0, (h * i) / 4); g.lineTo(w, (h * i) / 4); g.stroke(); }
  if (!pts.length) return;
  const tEnd = pts[pts.length - 1].t;
  const t0 = Math.max(pts[0].t, tEnd - WINDOW), span = Math.max(tEnd - t0, 10);  // fill the width from the start
  const max = Math.max(...pts.map((p) => p[key]), key === "loss" ? 0.05 : key === "rtt" ? 0.01 : 1) * 1.15;
  const x = (t) => ((t - t0) / span) * w, y = (v) => h - (v / max) * (h - 4) - 2;
  g.strokeStyle = css.getPropertyValue("--warn"); g.setLineDash([4, 3]);
  for (const sw of state.switches) { if (sw.t >= t0) { g.beginPath(); g.moveTo(x(sw.t), 0); g.lineTo(x(sw.t), h); g.stroke(); } }
  g.setLineDash([]);
  g.strokeStyle = css.getPropertyValue("--accent"); g.lineWidth = 2;
  g.beginPath();
  pts.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p[key])) : g.moveTo(x(p.t), y(p[key]))));
  g.stroke();
}

function renderSwitches() {
  const ol = root && root.querySelector("#switches");
  if (!ol) return;
  const kbps = (b) => (b ? `${Math.round(b / 1000)} kbit/s` : "");
  ol.innerHTML = state.switches.map((s) => `<li>at ${s.t.toFixed(0)} s: ${s.old_bitrate ? `${kbps(s.old_bitrate)} -> ` : "to "}${kbps(s.new_bitrate) || "source bitrate"}
    ${s.new_mode ? `(${s.old_mode ? `${esc(s.old_mode)} -> ` : ""}${esc(s.new_mode)})` : ""}${s.new_rendition ? `, rendition <span class="cid">${esc(s.new_rendition)}</span>` : ""} - ${esc(s.reason || "")}</li>`).join("")
    || `<li class="muted" style="list-style:none">None yet: marked on the graphs as dashed lines when the node changes level or rendition.</li>`;
}
