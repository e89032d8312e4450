// Node: identity, addresses, version, repo size, garbage collection (after a confirmation),
// and the connectivity check run from this browser over each channel it can reach.
import { esc, humanSize, openSocket, rpc } from "../api.js";
import { icon } from "../icons.js";

let ctx, root;

export function mount(el, context) {
  ctx = context; root = el;
  el.innerHTML = `
    <h1>${icon("node")} Node</h1>
    <div class="grid2">
      <section class="panel" aria-labelledby="id-title"><h2 id="id-title" style="margin-top:0">Identity</h2><dl class="kv" id="ident"><dt>Peer ID</dt><dd>...</dd></dl></section>
      <section class="panel" aria-labelledby="repo-title"><h2 id="repo-title" style="margin-top:0">Repository</h2><dl class="kv" id="repo"><dt>Size</dt><dd>...</dd></dl>
        <div class="row" style="margin-top:.75rem"><button type="button" class="danger" id="gc">${icon("trash")} Collect garbage</button>
        <span id="gc-result" class="muted" aria-live="polite"></span></div></section>
    </div>
    <section class="panel" aria-labelledby="check-title">
      <div class="row"><h2 id="check-title" style="margin:0" class="grow">Connectivity check</h2>
        <button type="button" class="primary" id="check">${icon("refresh")} Run the check</button></div>
      <p class="muted">Real work over each channel, timed from this browser (the same checks as
        <code>python -m ipfs_kit_py.tools.check_connectivity --all</code>, which also probes libp2p).</p>
      <div class="table-wrap"><table id="checks"><thead><tr><th>Channel</th><th>Result</th><th class="num">Latency</th><th>Detail</th></tr></thead><tbody></tbody></table></div>
    </section>`;
  el.querySelector("#gc").addEventListener("click", gc);
  el.querySelector("#check").addEventListener("click", runChecks);
  load();
  renderChecks({});
}
export function unmount() {}

async function load() {
  try {
    const [id, version, repo] = await Promise.all([rpc("id"), rpc("version"), rpc("repo/stat")]);
    const ident = root.querySelector("#ident");
    ident.innerHTML = `<dt>Peer ID</dt><dd class="cid" id="peer-id">${esc(id.ID)}</dd><dt>Agent</dt><dd>${esc(id.AgentVersion)}</dd>
      <dt>Version</dt><dd id="node-version">${esc(version.Version)} (${esc(version.System)}, ${esc(version.Golang)})</dd>
      <dt>Addresses</dt><dd><ul class="plain" id="addresses">${(id.Addresses || []).map((a) => `<li class="cid">${esc(a)}</li>`).join("") || '<li class="muted">none (libp2p off)</li>'}</ul></dd>`;
    ident.querySelector("#peer-id").append(ctx.copyButton(id.ID, "Copy peer ID"));
    root.querySelector("#repo").innerHTML = `<dt>Size</dt><dd id="repo-size">${humanSize(repo.RepoSize)}</dd><dt>Objects</dt><dd>${repo.NumObjects}</dd>
      <dt>Path</dt><dd class="cid">${esc(repo.RepoPath)}</dd><dt>Format</dt><dd>${esc(repo.Version)}</dd>`;
  } catch (e) { ctx.toast(e.message, true); }
}

async function gc() {
  if (!await ctx.confirmAction("Collect garbage?", "Every block that no pin holds is removed from this node. Unpinned content is gone unless another node has it.", "Collect garbage")) return;
  const out = root.querySelector("#gc-result");
  out.textContent = "collecting...";
  try {
    const removed = await rpc("repo/gc", {}, { ndjson: true });
    out.textContent = `${removed.filter((r) => r.Key).length} blocks removed`;
    load();
  } catch (e) { out.textContent = ""; ctx.toast(`GC failed: ${e.message}`, true); }
}

const NAMES = ["http", "websocket", "webrtc", "libp2p"];
function renderChecks(results) {
  root.querySelector("#checks tbody").innerHTML = NAMES.map((n) => {
    const r = results[n];
    const badge = !r ? '<span class="badge">not run</span>' : r.running ? '<span class="badge warn">running</span>'
      : r.ok === null ? '<span class="badge">info</span>' : r.ok ? '<span class="badge ok">ok</span>' : '<span class="badge err">failed</span>';
    return `<tr data-check="${n}" data-ok="${r && !r.running ? r.ok : ""}"><td>${n}</td><td>${badge}</td>
      <td class="num">${r && r.ms !== undefined ? `${r.ms.toFixed(1)} ms` : ""}</td><td>${esc(r ? r.detail || "" : "")}</td></tr>`;
  }).join("");
}

function timeout(ms, what) { return new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)); }

async function checkHttp() {
  const t = performance.now();
  const v = await rpc("version");
  await rpc("id");
  return { ms: performance.now() - t, detail: `version ${v.Version}, id answered` };
}

function nextMessage(ws, pred) {
  return new Promise((resolve, reject) => {
    const h = (ev) => { const m = JSON.parse(ev.data); if (pred(m)) { ws.removeEventListener("message", h); resolve(m); } };
    ws.addEventListener("message", h);
    ws.addEventListener("close", () => reject(new Error("the WebSocket closed")), { once: true });
  });
}
async function opened(ws) {
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error("the WebSocket did not open (proxy stripping upgrades? token?)")); });
}
async function checkWebsocket() {
  const notes = openSocket("/ws/notifications"), general = openSocket("/ws");
  try {
    await Promise.all([opened(notes), opened(general)]);
    const confirmed = nextMessage(notes, (m) => m.type === "subscription_confirmed");
    notes.send(JSON.stringify({ action: "subscribe", notification_types: ["content_added"] }));
    await confirmed;
    const t = performance.now();
    const probe = btoa(`ipfs-kit connectivity probe\n${t}`);
    const reply = nextMessage(general, (m) => m.id === 1);
    general.send(JSON.stringify({ id: 1, action: "add", name: "probe.txt", pin: false, content: probe }));
    const r = await reply;
    if (r.type !== "result") throw new Error(`/ws add failed: ${r.message}`);
    const ev = await nextMessage(notes, (m) => m.type === "content_added" && m.data.cid === r.result.cid);
    return { ms: performance.now() - t, detail: `event round trip (add on /ws, content_added seq ${ev.seq})` };
  } finally { notes.close(); general.close(); }
}
async function checkWebrtc() {
  const ws = openSocket("/ws/webrtc");
  const pc = new RTCPeerConnection({ iceServers: [] });
  const video = document.createElement("video");
  video.muted = true; video.autoplay = true; video.playsInline = true;
  try {
    await opened(ws);
    pc.ontrack = (ev) => { video.srcObject = new MediaStream([ev.track]); };
    const t = performance.now();
    // the node offers its built-in test pattern (works on an empty node); the browser answers
    const offer = nextMessage(ws, (m) => m.type === "offer" || m.type === "error");
    ws.send(JSON.stringify({ type: "offer_request", test_pattern: true, loop: true, tracks: ["video"] }));
    const o = await offer;
    if (o.type === "error") throw new Error(`${o.code}: ${o.error}`);
    await pc.setRemoteDescription({ type: "offer", sdp: o.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise((res) => { if (pc.iceGatheringState === "complete") res(); pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && res(); setTimeout(res, 2000); });
    const ack = nextMessage(ws, (m) => m.type === "answer_ack" || m.type === "error");
    ws.send(JSON.stringify({ type: "answer", pc_id: o.pc_id, sdp: pc.localDescription.sdp }));
    const k = await ack;
    if (k.type === "error") throw new Error(`${k.code}: ${k.error}`);
    let first = null;
    for (;;) {
      const rep = await pc.getStats();
      let frames = 0, size = "";
      rep.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") { frames = s.framesDecoded || 0; size = `${s.frameWidth}x${s.frameHeight}`; } });
      if (frames && first === null) first = performance.now() - t;
      if (frames >= 10) return { ms: first, detail: `${frames} frames decoded (${size}), first after ${first.toFixed(0)} ms` };
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally { pc.close(); ws.close(); }
}
async function checkLibp2p() {
  const [id, peers] = await Promise.all([rpc("id"), rpc("swarm/peers")]);
  const addrs = (id.Addresses || []).filter((a) => a.includes("/p2p/"));
  if (!addrs.length) return { ok: false, detail: "the node reports no libp2p address (libp2p.enabled, libp2p.listen_addrs)" };
  return { ok: null, detail: `listening on ${addrs.length} address${addrs.length > 1 ? "es" : ""}, ${(peers.Peers || []).length} peers connected; a browser cannot dial TCP libp2p: run the CLI check for a probe` };
}

async function runChecks() {
  const results = {};
  const runners = { http: checkHttp, websocket: checkWebsocket, webrtc: checkWebrtc, libp2p: checkLibp2p };
  window.ipfsConsole.checks = results;
  for (const n of NAMES) {
    results[n] = { running: true };
    renderChecks(results);
    try {
      const r = await Promise.race([runners[n](), timeout(20000, n)]);
      results[n] = { ok: r.ok === undefined ? true : r.ok, ms: r.ms, detail: r.detail };
    } catch (e) { results[n] = { ok: false, detail: e.message }; }
    renderChecks(results);
  }
  results.done = true;
}
