// Plays a CID from this node over WebRTC. The browser offers (recvonly video
// and audio), the node answers on /ws/webrtc. State is exposed as
// window.ipfsPlayer for tests and debugging.
"use strict";

const player = (window.ipfsPlayer = { state: "idle", pcId: null, error: null, pc: null, ws: null, messages: [],
                                     media: null, sframe: { decrypted: 0, dropped: 0, failed: 0 } });
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

function fail(code, error) {
  player.error = { type: "error", code, error };
  setStatus(`error (${code}): ${error}`, true);
}

// End-to-end encrypted content (docs/sframe.md): the video receiver gets an encoded
// transform that decrypts each frame in a worker with the key typed in this page (or given
// in the fragment, #key=...). The key goes to the worker only, never to the server.
function attachTransform(pc) {
  // Chromium routes frames through an encoded transform only when it is set before the
  // offer: every session gets one, in "hold" until the answer says whether the content is
  // encrypted (then "decrypt" or "drop") or not ("pass").
  if (typeof RTCRtpScriptTransform === "undefined") return;
  const receiver = pc.getTransceivers().map((t) => t.receiver).find((r) => r.track && r.track.kind === "video");
  const worker = (player.worker = new Worker("/webrtc/sframe-worker.js"));
  let reported = false;
  worker.onmessage = (ev) => {
    const msg = ev.data;
    player.sframe = msg.counts;
    if (msg.error && !reported) {
      reported = true;  // the first failure is reported to the node (webrtc_error on its hub)
      fail(msg.error.code, msg.error.error);
      player.ws.send(JSON.stringify({ type: "frame_error", pc_id: player.pcId, code: msg.error.code,
                                     error: msg.error.error, track: "video" }));
    }
  };
  receiver.transform = new RTCRtpScriptTransform(worker, { kind: "video" });
}

function decryptVideo(media, key) {
  if (!media || !media.encryption) {
    if (player.worker) player.worker.postMessage({ mode: "pass" });
    return;
  }
  if (!player.worker) {
    fail("sframe_unsupported", "this browser has no RTCRtpScriptTransform: encrypted media cannot play here");
    return;
  }
  player.worker.postMessage(key ? { mode: "decrypt", key } : { mode: "drop" });
  if (!key) {
    fail("sframe_no_key", "this content is encrypted end to end: enter its media key to play it");
    player.ws.send(JSON.stringify({ type: "frame_error", pc_id: player.pcId, code: "sframe_no_key",
                                   error: "no media key in the player", track: "video" }));
  }
}

async function play(cid, quality, key) {
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
  attachTransform(pc);
  pc.ontrack = (ev) => {
    if (!video.srcObject) video.srcObject = new MediaStream();
    video.srcObject.addTrack(ev.track);
  };
  pc.onicecandidate = (ev) => {
    const c = ev.candidate ? ev.candidate.toJSON() : null;
    if (player.pcId) send({ type: "candidate", pc_id: player.pcId, candidate: c });
    else pending.push(c);
  };
  pc.onconnectionstatechange = () => {
    if (!player.error) setStatus(`connection ${pc.connectionState}`, pc.connectionState === "failed");
  };
  const send = (msg) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(msg));

  ws.onmessage = async (ev) => {
    const msg = JSON.parse(ev.data);
    player.messages.push(msg);
    if (msg.type === "answer") {
      player.pcId = msg.pc_id;
      player.media = msg.media;
      decryptVideo(msg.media, key);
      await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      // candidates gathered before the answer are already in the offer's SDP
      pending.length = 0;
    } else if (msg.type === "error") {
      if (player.error && msg.request === "frame_error") return;  // our own report's reply
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
  if (player.worker) player.worker.terminate();
  player.worker = null;
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
  play(form.cid.value.trim(), form.quality.value, form.key.value.trim() || null).catch((e) => setStatus(String(e), true));
});
const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1));  // #key=...: never sent to the server
if (fragment.get("key")) form.key.value = fragment.get("key");
if (params.get("cid")) {
  form.cid.value = params.get("cid");
  if (params.get("quality")) form.quality.value = params.get("quality");
  play(params.get("cid"), params.get("quality") || "auto", form.key.value.trim() || null)
    .catch((e) => setStatus(String(e), true));
}
