// Player: a CID (or the node's test pattern) over WebRTC (/ws/webrtc: the browser offers,
// the node answers), quality choice, and live graphs from getStats(): bitrate, frames per
// second, packet loss, round-trip time; the node's rendition/bitrate switches are marked.
// More CIDs join the same session (add_stream: the node re-offers, the page answers), each
// with its own video and graphs, and leave it (remove_stream); docs/protocols.md, "Several
// streams in one session".
import { esc, openSocket } from "../api.js";
import { icon } from "../icons.js";

const WINDOW = 60;  // seconds shown in the graphs
const MAX_STREAMS = 8;  // the node's limit per session
const GRAPHS = [
  ["bitrate", "Bitrate", (v) => `${(v / 1000).toFixed(0)} kbit/s`],
  ["fps", "Frames per second", (v) => v.toFixed(1)],
  ["loss", "Packet loss", (v) => `${(v * 100).toFixed(1)} %`],
  ["rtt", "Round-trip time", (v) => `${(v * 1000).toFixed(1)} ms`],
];
// state.samples are the first stream's (s0); state.streams[id] = {stream_id, cid, state, samples, media}
const state = (window.ipfsPlayerConsole = { state: "idle", error: null, samples: [], switches: [], pcId: null, media: null,
  streams: {}, mids: {}, connected: false });
let session = null;  // {ws, pc, timer, prevs, queue}
let root, ctx;

// element ids: the first stream keeps the short ones (play-video, graph-bitrate, val-bitrate)
const vid = (sid) => (sid === "s0" ? "play-video" : `play-video-${sid}`);
const gid = (sid, k) => (sid === "s0" ? `graph-${k}` : `graph-${sid}-${k}`);
const valId = (sid, k) => (sid === "s0" ? `val-${k}` : `val-${sid}-${k}`);

function graphsHtml(sid) {
  return GRAPHS.map(([k, label]) => `
      <figure class="graph" style="margin:0"><header><span>${label}</span><strong id="${valId(sid, k)}">-</strong></header>
        <canvas id="${gid(sid, k)}" role="img" aria-label="${label} of stream ${sid} over the last ${WINDOW} seconds"></canvas></figure>`).join("");
}

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
      <div class="checks" style="align-self:flex-end;padding-bottom:.45rem"><label><input type="checkbox" id="play-loop"> Loop</label></div>
      <div class="row" style="align-self:flex-end">
        <button type="submit" class="primary">${icon("play")} Play</button>
        <button type="button" id="play-pattern">Test pattern</button>
        <button type="button" id="play-stop">${icon("stop")} Stop</button>
      </div>
    </form>
    <video id="play-video" class="player-video" autoplay muted playsinline controls aria-label="WebRTC video, stream s0"></video>
    <p id="play-status" class="muted" aria-live="polite">idle</p>
    <div class="graphs" id="graphs">${graphsHtml("s0")}</div>
    <h2>More streams in this session</h2>
    <form class="panel row" id="add-stream-form">
      <div class="field grow"><label for="add-cid">Another CID to play beside the first, over the same connection</label>
        <input type="text" id="add-cid" autocomplete="off" spellcheck="false" placeholder="Qm... or /ipfs/CID/video.mp4"></div>
      <button type="submit" id="add-stream" style="align-self:flex-end" disabled>${icon("play")} Add stream</button>
    </form>
    <div class="streams" id="streams"></div>
    <h2>Quality switches</h2><ol class="switches" id="switches"></ol>`;
  const cid = ctx.params.get("cid");
  if (cid) el.querySelector("#play-cid").value = cid;
  el.querySelector("#play-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = el.querySelector("#play-cid").value.trim();
    if (v) play({ cid: v, loop: el.querySelector("#play-loop").checked });
  });
  el.querySelector("#play-pattern").addEventListener("click", () => play({ test_pattern: true, loop: true }));
  el.querySelector("#play-stop").addEventListener("click", () => { stop(); setStatus("stopped"); });
  el.querySelector("#play-quality").addEventListener("change", (ev) => {
    send({ type: "quality_change", pc_id: state.pcId, quality: ev.target.value });
  });
  el.querySelector("#add-stream-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = el.querySelector("#add-cid");
    const v = input.value.trim();
    if (!v || !session || !state.pcId) return;
    if (Object.keys(state.streams).length >= MAX_STREAMS) { ctx.toast(`A session carries at most ${MAX_STREAMS} streams`, true); return; }
    send({ type: "add_stream", pc_id: state.pcId, stream: { cid: v, tracks: ["video"], loop: el.querySelector("#play-loop").checked } });
    input.value = "";
  });
  drawAll(); renderSwitches(); renderStreams();
}
export function unmount() { stop(); root = null; }

function send(msg) {
  if (session && session.ws.readyState === WebSocket.OPEN && msg.pc_id) session.ws.send(JSON.stringify(msg));
}

function setStatus(text, isError = false) {
  state.state = text;
  const s = root && root.querySelector("#play-status");
  if (s) { s.textContent = text; s.className = isError ? "badge err" : "muted"; }
}
function setConnected(on) {
  state.connected = on;
  const b = root && root.querySelector("#add-stream");
  if (b) b.disabled = !on;
}

function stop() {
  setConnected(false);
  if (!session) return;
  clearInterval(session.timer);
  session.pc.close();
  session.ws.close();
  session = null;
  state.pcId = null;
  for (const st of Object.values(state.streams)) { st.media = null; if (st.stream_id !== "s0") delete state.streams[st.stream_id]; }
  const v = root && root.querySelector("#play-video");
  if (v) v.srcObject = null;
  if (root) root.querySelector("#streams").replaceChildren();
}

function waitForIce(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
    setTimeout(resolve, ms);
  });
}

/** The stream `sid` (created on first sight), its MediaStream shown in its video element. */
function streamOf(sid, info) {
  let st = state.streams[sid];
  if (!st) {
    st = state.streams[sid] = { stream_id: sid, cid: null, state: "playing", samples: sid === "s0" ? state.samples : [], media: null };
  }
  if (info) { st.cid = info.cid ?? st.cid; st.main = info.main; if (info.state) st.state = info.state; }
  if (!st.media) st.media = new MediaStream();
  return st;
}

/** What the node says of the session's streams and of which transceiver (mid) carries which. */
function learn(msg) {
  for (const t of msg.tracks || []) state.mids[t.mid] = t;
  for (const s of msg.streams || []) {
    if (s.state === "removed") { delete state.streams[s.stream_id]; continue; }
    streamOf(s.stream_id, s);
  }
  renderStreams();
}

function renderStreams() {
  const box = root && root.querySelector("#streams");
  if (!box) return;
  const extra = Object.values(state.streams).filter((s) => s.stream_id !== "s0");
  for (const card of [...box.children]) if (!state.streams[card.dataset.stream]) card.remove();
  for (const st of extra) {
    let card = box.querySelector(`[data-stream="${st.stream_id}"]`);
    if (!card) {
      card = document.createElement("section");
      card.className = "panel stream";
      card.dataset.stream = st.stream_id;
      card.setAttribute("aria-label", `Stream ${st.stream_id}`);
      card.innerHTML = `<header class="row"><strong>${esc(st.stream_id)}</strong><span class="cid grow"></span>
          <span class="badge state"></span>
          <button type="button" class="remove-stream">${icon("x")} Remove</button></header>
        <video id="${vid(st.stream_id)}" class="player-video" autoplay muted playsinline controls aria-label="WebRTC video, stream ${esc(st.stream_id)}"></video>
        <div class="graphs">${graphsHtml(st.stream_id)}</div>`;
      card.querySelector(".remove-stream").addEventListener("click", () =>
        send({ type: "remove_stream", pc_id: state.pcId, stream_id: st.stream_id }));
      box.append(card);
    }
    card.querySelector(".cid").textContent = st.cid || "";
    card.querySelector(".state").textContent = st.state;
    card.dataset.state = st.state;
    show(card.querySelector("video"), st.media);
  }
  const s0 = state.streams.s0;
  if (s0) show(root.querySelector("#play-video"), s0.media);
  drawAll();
}

function show(video, media) {
  if (!media || video.srcObject === media) return;
  video.srcObject = media;
  // play() rather than autoplay alone: Chromium pauses muted autoplay videos that are out of view
  video.play().catch(() => { /* no track yet, or stopped meanwhile: the next track plays it */ });
}

export async function play(target) {
  stop();
  state.error = null; state.samples = []; state.switches = []; state.media = null; state.streams = {}; state.mids = {};
  renderSwitches(); renderStreams();
  setStatus("connecting");
  const quality = root.querySelector("#play-quality").value;
  const ws = openSocket("/ws/webrtc");
  const pc = new RTCPeerConnection({ iceServers: [] });
  const s = (session = { ws, pc, prevs: {}, timer: null, queue: Promise.resolve() });
  const serverOffers = Boolean(target.test_pattern);  // the test pattern: the node offers, we answer
  if (!serverOffers) {
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
  }
  pc.ontrack = (ev) => {  // routed by the transceiver's mid (the node's "tracks" list)
    const info = state.mids[ev.transceiver.mid];
    const st = streamOf((info && info.stream_id) || "s0");
    st.media.addTrack(ev.track);
    renderStreams();
    const v = root && root.querySelector(`#${vid(st.stream_id)}`);
    if (v && v.paused) v.play().catch(() => {});
  };
  pc.onicecandidate = (ev) => {
    if (state.pcId && session === s) send({ type: "candidate", pc_id: state.pcId, candidate: ev.candidate ? ev.candidate.toJSON() : null });
  };
  pc.onconnectionstatechange = () => session === s && setStatus(`connection ${pc.connectionState}`, pc.connectionState === "failed");
  const handle = async (msg) => {
    if (session !== s) return;
    if (msg.type === "offer") {  // the node's first offer (test pattern) or a re-offer (add/remove_stream)
      const first = !state.pcId;
      state.pcId = msg.pc_id;
      if (first) state.media = msg.media;
      learn(msg);
      try {
        await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
        await pc.setLocalDescription(await pc.createAnswer());
        if (first) await waitForIce(pc, 2000);
      } catch (e) { setStatus(`renegotiation failed: ${e.message || e}`, true); return; }
      ws.send(JSON.stringify({ type: "answer", pc_id: msg.pc_id, sdp: pc.localDescription.sdp }));
      if (!first && msg.stream_id) ctx.toast(state.streams[msg.stream_id] ? `Stream ${msg.stream_id} added` : `Stream ${msg.stream_id} removed`);
    } else if (msg.type === "answer") {
      state.pcId = msg.pc_id; state.media = msg.media;
      learn(msg);
      await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
    } else if (msg.type === "connected") {
      setConnected(true);
    } else if (msg.type === "error") {
      if (msg.request && msg.request !== "offer" && msg.request !== "offer_request" && msg.request !== "answer") {
        ctx.toast(`${msg.request}: ${msg.error}`, true);  // the session goes on
        return;
      }
      state.error = msg;
      setConnected(false);
      setStatus(`error (${msg.code}): ${msg.error}`, true);
    } else if (msg.type === "quality_changed") {
      const t = state.samples.length ? state.samples[state.samples.length - 1].t : 0;
      state.switches.push({ t, ...msg });
      renderSwitches();
    } else if (msg.type === "stream_ended") {
      if (state.streams[msg.stream_id]) state.streams[msg.stream_id].state = "ended";
      renderStreams();
    } else if (msg.type === "ended") { setConnected(false); setStatus("ended"); }
  };
  ws.onmessage = (ev) => {  // one message at a time: a re-offer must not overtake the answer before it
    const msg = JSON.parse(ev.data);
    s.queue = s.queue.then(() => handle(msg)).catch((e) => setStatus(String(e.message || e), true));
  };
  ws.onclose = () => { if (session === s && !state.error && state.state !== "ended") { setConnected(false); setStatus("signaling closed"); } };
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
  let pair = null;
  const inbound = [];
  report.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") inbound.push(r);
    if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r;
  });
  const t = (performance.now() - s.started) / 1000;
  const rtt = pair && pair.currentRoundTripTime !== undefined ? pair.currentRoundTripTime : 0;  // one path for every stream
  for (const r of inbound) {
    const info = state.mids[r.mid];
    const sid = (info && info.stream_id) || "s0";
    const st = state.streams[sid] || (sid === "s0" ? streamOf("s0") : null);
    if (!st || st.state === "removed") continue;
    const now = { t, bytes: r.bytesReceived || 0, frames: r.framesDecoded || 0, lost: r.packetsLost || 0, received: r.packetsReceived || 0 };
    const p = s.prevs[sid];
    s.prevs[sid] = now;
    if (!p) continue;
    const dt = now.t - p.t || 1;
    const dLost = now.lost - p.lost, dRecv = now.received - p.received;
    st.samples.push({ t, bitrate: (8 * (now.bytes - p.bytes)) / dt, fps: r.framesPerSecond ?? (now.frames - p.frames) / dt,
      loss: dLost + dRecv > 0 ? Math.max(0, dLost) / (dLost + dRecv) : 0, rtt, frames: now.frames });
    if (st.samples.length > WINDOW * 4) st.samples.shift();
  }
  drawAll();
}

function drawAll() {
  if (!root || !root.querySelector("#graphs")) return;
  const streams = state.streams.s0 ? Object.values(state.streams) : [{ stream_id: "s0", samples: state.samples }];
  for (const st of streams) {
    const pts = st.samples.slice(-WINDOW);
    for (const [key, , fmt] of GRAPHS) {
      const val = root.querySelector(`#${valId(st.stream_id, key)}`);
      const canvas = root.querySelector(`#${gid(st.stream_id, key)}`);
      if (!val || !canvas) continue;
      const last = pts[pts.length - 1];
      val.textContent = last ? fmt(last[key]) : "-";
      draw(canvas, pts, key);
    }
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
