// Plays CIDs from this node over WebRTC. The browser offers (recvonly video and
// audio for the first CID, video for each other one: a grid in one session), the node
// answers on /ws/webrtc. More streams can be added mid-session (addStream: the node
// re-offers), and each paused, sought or ended (control). State is exposed as
// window.ipfsPlayer for tests and debugging.
"use strict";

const player = (window.ipfsPlayer = { state: "idle", pcId: null, error: null, pc: null, ws: null, messages: [],
                                     media: null, sframe: { decrypted: 0, dropped: 0, failed: 0 },
                                     mids: {}, videos: {}, transforms: [] });
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
function attachTransforms(pc) {
  // Chromium routes frames through an encoded transform only when it is set before the
  // offer: every video receiver gets one, in "hold" until the answer says whether its stream
  // is encrypted (then "decrypt" or "drop") or not ("pass"). One worker serves them all.
  if (typeof RTCRtpScriptTransform === "undefined") return;
  const worker = (player.worker = new Worker("/webrtc/sframe-worker.js"));
  let reported = false;
  worker.onmessage = (ev) => {
    const msg = ev.data;
    player.sframe = msg.counts;
    if (msg.error && !reported) {
      reported = true;  // the first failure is reported to the node (webrtc_error on its hub)
      fail(msg.error.code, msg.error.error);
      player.ws.send(JSON.stringify({ type: "frame_error", pc_id: player.pcId, code: msg.error.code,
                                     error: msg.error.error, track: msg.error.track || "video" }));
    }
  };
  pc.getTransceivers().filter((t) => t.receiver.track.kind === "video").forEach((t, index) => {
    t.receiver.transform = new RTCRtpScriptTransform(worker, { kind: "video", index });
    player.transforms.push(t);
  });
}

function decryptVideo(key) {
  // per video receiver: is its stream encrypted? (the answer's "tracks" map mids to streams)
  let missing = false;
  player.transforms.forEach((t, index) => {
    const info = player.mids[t.mid];
    const encrypted = !!(info && info.encrypted);
    if (encrypted && !key) missing = true;
    player.worker.postMessage(!encrypted ? { index, mode: "pass" }
      : key ? { index, mode: "decrypt", key, track: info.name } : { index, mode: "drop" });
  });
  const anyEncrypted = Object.values(player.mids).some((m) => m.encrypted);
  if (anyEncrypted && !player.worker) {
    fail("sframe_unsupported", "this browser has no RTCRtpScriptTransform: encrypted media cannot play here");
  } else if (missing) {
    fail("sframe_no_key", "this content is encrypted end to end: enter its media key to play it");
    player.ws.send(JSON.stringify({ type: "frame_error", pc_id: player.pcId, code: "sframe_no_key",
                                   error: "no media key in the player", track: "video" }));
  }
}

function videoFor(streamId) {
  // s0 plays in #video; every other stream gets its own element in the grid
  if (!streamId || streamId === "s0") return video;
  if (!player.videos[streamId]) {
    const el = document.createElement("video");
    Object.assign(el, { autoplay: true, muted: true, playsInline: true, controls: true });
    el.id = `video-${streamId}`;
    el.className = "extra";
    document.getElementById("grid").appendChild(el);
    player.videos[streamId] = el;
  }
  return player.videos[streamId];
}

function learnTracks(msg) {
  for (const t of msg.tracks || []) player.mids[t.mid] = t;
}

async function play(cids, quality, key) {
  cids = Array.isArray(cids) ? cids : [cids];
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
  cids.forEach((_, i) => {
    pc.addTransceiver("video", { direction: "recvonly" });
    if (i === 0) pc.addTransceiver("audio", { direction: "recvonly" });
  });
  attachTransforms(pc);
  pc.ontrack = (ev) => {
    const info = player.mids[ev.transceiver.mid];
    const el = videoFor(info && info.stream_id);
    if (!el.srcObject) el.srcObject = new MediaStream();
    el.srcObject.addTrack(ev.track);
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
      player.streams = msg.streams;
      learnTracks(msg);
      await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      decryptVideo(key);  // mids are known once the answer is applied; frames come after DTLS
      // candidates gathered before the answer are already in the offer's SDP
      pending.length = 0;
    } else if (msg.type === "offer") {
      // the node re-offers (add_stream / remove_stream): answer it
      learnTracks(msg);
      player.streams = msg.streams;
      try {
        await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
        await pc.setLocalDescription(await pc.createAnswer());
      } catch (e) {
        fail("renegotiation_failed", String(e));
        return;
      }
      send({ type: "answer", pc_id: player.pcId, sdp: pc.localDescription.sdp });
    } else if (msg.type === "stream_state" || msg.type === "stream_ended") {
      player.streamStates = { ...(player.streamStates || {}), [msg.stream_id]: msg.state || "ended" };
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
  const offer = { type: "offer", sdp: pc.localDescription.sdp, codec: "h264", quality };
  if (cids.length === 1) Object.assign(offer, { cid: cids[0], tracks: ["video", "audio"] });
  else offer.streams = cids.map((cid, i) => ({ cid, tracks: i === 0 ? ["video", "audio"] : ["video"], main: i === 0, loop: true }));
  send(offer);
}

function addStream(cid, options) {
  // mid-session: the node adds the stream's tracks and re-offers (handled in onmessage)
  player.ws.send(JSON.stringify({ type: "add_stream", pc_id: player.pcId,
                                  stream: { cid, tracks: ["video"], ...(options || {}) } }));
}
function removeStream(streamId) {
  player.ws.send(JSON.stringify({ type: "remove_stream", pc_id: player.pcId, stream_id: streamId }));
}
function control(streamId, action, position) {
  // pause | play | seek (position in seconds) | end, for one stream
  player.ws.send(JSON.stringify({ type: "stream_control", pc_id: player.pcId, stream_id: streamId, action,
                                  ...(position === undefined ? {} : { position }) }));
}

function stop() {
  if (player.worker) player.worker.terminate();
  player.worker = null;
  if (player.pc) player.pc.close();
  if (player.ws) player.ws.close();
  player.pc = player.ws = player.pcId = null;
  player.mids = {};
  player.transforms = [];
  for (const el of Object.values(player.videos)) el.remove();
  player.videos = {};
  video.srcObject = null;
}

async function stats() {
  // the figures the test reads: frames decoded and playback position
  // (of the first stream; "streams": frames decoded per stream id)
  const out = { framesDecoded: 0, currentTime: video.currentTime, codec: null, streams: {} };
  if (!player.pc) return out;
  const report = await player.pc.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      const info = player.mids[s.mid];
      const sid = info ? info.stream_id : "s0";
      out.streams[sid] = s.framesDecoded || 0;
      if (sid !== "s0") return;
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
player.addStream = addStream;
player.removeStream = removeStream;
player.control = control;
player.serverStats = serverStats;
player.stop = stop;
player.stats = stats;

const form = document.getElementById("form");
form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  play(form.cid.value.trim().split(/\s+/), form.quality.value, form.key.value.trim() || null)
    .catch((e) => setStatus(String(e), true));
});
const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1));  // #key=...: never sent to the server
if (fragment.get("key")) form.key.value = fragment.get("key");
if (params.get("cid")) {
  const cids = params.getAll("cid");  // ?cid=A&cid=B: a grid of streams in one session
  form.cid.value = cids.join(" ");
  if (params.get("quality")) form.quality.value = params.get("quality");
  play(cids, params.get("quality") || "auto", form.key.value.trim() || null)
    .catch((e) => setStatus(String(e), true));
}
