// Plays a CID from this node over WebRTC. The browser offers (recvonly video
// and audio), the node answers on /ws/webrtc. State is exposed as
// window.ipfsPlayer for tests and debugging.
"use strict";

const player = (window.ipfsPlayer = { state: "idle", pcId: null, error: null, pc: null, ws: null, messages: [] });
const statusEl = document.getElementById("status");
const video = document.getElementById("video");

function setStatus(text, isError) {
  player.state = text;
  statusEl.textContent = text;
  statusEl.className = isError ? "error" : "";
}

function waitForIce(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms);  // send what we have; later candidates are trickled
  });
}

async function play(cid, quality) {
  stop();
  player.error = null;
  setStatus("connecting");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  // an API token (when the node requires one) comes in the page's fragment, #token=...: never sent
  // to the server with the page, it travels as a WebSocket subprotocol (docs/protocols.md, Access)
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  const protocols = token ? ["ipfs-kit", `ipfs-kit-token.${token}`] : [];
  const ws = (player.ws = new WebSocket(`${scheme}://${location.host}/ws/webrtc`, protocols));
  const pc = (player.pc = new RTCPeerConnection({ iceServers: [] }));
  const pending = [];
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.ontrack = (ev) => {
    if (!video.srcObject) video.srcObject = new MediaStream();
    video.srcObject.addTrack(ev.track);
  };
  pc.onicecandidate = (ev) => {
    const c = ev.candidate ? ev.candidate.toJSON() : null;
    if (player.pcId) send({ type: "candidate", pc_id: player.pcId, candidate: c });
    else pending.push(c);
  };
  pc.onconnectionstatechange = () => setStatus(`connection ${pc.connectionState}`, pc.connectionState === "failed");
  const send = (msg) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(msg));

  ws.onmessage = async (ev) => {
    const msg = JSON.parse(ev.data);
    player.messages.push(msg);
    if (msg.type === "answer") {
      player.pcId = msg.pc_id;
      await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      // candidates gathered before the answer are already in the offer's SDP
      pending.length = 0;
    } else if (msg.type === "error") {
      player.error = msg;
      setStatus(`error (${msg.code}): ${msg.error}`, true);
    } else if (msg.type === "quality_changed") {
      statusEl.textContent = `${player.state}\nquality ${msg.old_bitrate} -> ${msg.new_bitrate} bit/s (${msg.reason})`;
    } else if (msg.type === "ended") {
      setStatus("ended");
    } else if (msg.type === "stats" && player.onStats) {
      player.onStats(msg.stats);
    }
  };
  ws.onclose = () => { if (player.state !== "ended" && !player.error) setStatus("signaling closed"); };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error("signaling failed")); });
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIce(pc, 2000);
  send({ type: "offer", cid, sdp: pc.localDescription.sdp, codec: "h264", quality, tracks: ["video", "audio"] });
}

function stop() {
  if (player.pc) player.pc.close();
  if (player.ws) player.ws.close();
  player.pc = player.ws = player.pcId = null;
  video.srcObject = null;
}

async function stats() {
  // the figures the test reads: frames decoded and playback position
  const out = { framesDecoded: 0, currentTime: video.currentTime, codec: null };
  if (!player.pc) return out;
  const report = await player.pc.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      out.framesDecoded = s.framesDecoded || 0;
      const codec = report.get(s.codecId);
      if (codec) out.codec = codec.mimeType;
    }
  });
  return out;
}
function serverStats() {
  // the node's view of the session (mode, rendition, bitrate, receiver reports)
  return new Promise((resolve) => {
    player.onStats = resolve;
    player.ws.send(JSON.stringify({ type: "stats_request", pc_id: player.pcId }));
  });
}
player.play = play;
player.serverStats = serverStats;
player.stop = stop;
player.stats = stats;

const form = document.getElementById("form");
form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  play(form.cid.value.trim(), form.quality.value).catch((e) => setStatus(String(e), true));
});
const params = new URLSearchParams(location.search);
if (params.get("cid")) {
  form.cid.value = params.get("cid");
  if (params.get("quality")) form.quality.value = params.get("quality");
  play(params.get("cid"), params.get("quality") || "auto").catch((e) => setStatus(String(e), true));
}
