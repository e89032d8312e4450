// Peers: connected libp2p peers, each direct or relayed (swarm/peers' Relayed), with its
// traffic and standing from the reputation ledger (ipfs-kit/peer_reputation: blocks and
// bytes each way, score, standing, latency, bans), the ledger's peers that are not
// connected now, and connect to a multiaddr (a /p2p-circuit address dials through a relay).
import { esc, humanSize, rpc } from "../api.js";
import { icon } from "../icons.js";

let ctx, root, off, timer, pending;

export function mount(el, context) {
  ctx = context; root = el;
  el.innerHTML = `
    <h1>${icon("peers")} Peers</h1>
    <form class="panel row" id="connect-form">
      <div class="field grow"><label for="peer-addr">Multiaddr to connect to</label>
        <input type="text" id="peer-addr" placeholder="/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... (or .../p2p-circuit/p2p/...)" autocomplete="off" spellcheck="false"></div>
      <button type="submit" class="primary" style="align-self:flex-end">${icon("link")} Connect</button>
    </form>
    <div class="row" style="margin-bottom:.6rem"><button type="button" id="peers-refresh">${icon("refresh")} Refresh</button>
      <span class="muted" id="peer-count" aria-live="polite"></span></div>
    <div class="table-wrap"><table id="peers"><caption class="sr-only">Connected peers</caption>
      <thead><tr><th>Peer ID</th><th>Address</th><th>Connection</th><th class="num">Received</th><th class="num">Sent</th><th>Standing</th></tr></thead>
      <tbody></tbody></table></div>
    <h2>Known peers, not connected now</h2>
    <p class="muted">From the reputation ledger (kept in the repo across restarts): what each peer did for this node.</p>
    <div class="table-wrap"><table id="ledger"><caption class="sr-only">Peers in the reputation ledger that are not connected</caption>
      <thead><tr><th>Peer ID</th><th class="num">Received</th><th class="num">Sent</th><th>Standing</th><th>Last seen</th></tr></thead>
      <tbody></tbody></table></div>`;
  el.querySelector("#connect-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = el.querySelector("#peer-addr");
    const addr = input.value.trim();
    if (!addr) return;
    const b = ev.submitter; if (b) b.disabled = true;
    try {
      const r = await rpc("swarm/connect", { arg: addr });
      ctx.toast((r.Strings && r.Strings.join(" ")) || `connected to ${addr}`);
      input.value = "";
      await load();
    } catch (e) { ctx.toast(`Connect failed: ${e.message}`, true); }
    finally { if (b) b.disabled = false; }
  });
  el.querySelector("#peers-refresh").addEventListener("click", load);
  off = ctx.hub.on((kind, msg) => {  // peer_connected, peer_disconnected, peer_reputation_changed
    if (kind === "event" && msg.type.startsWith("peer_") && !pending) pending = setTimeout(() => { pending = null; load(); }, 300);
  });
  timer = setInterval(load, 10000);
  load();
}
export function unmount() { if (off) off(); clearInterval(timer); clearTimeout(pending); pending = null; root = null; }

// swarm/peers lists connections (a peer may have several); Relayed is true for a connection
// through a circuit relay (its address holds /p2p-circuit), absent or false otherwise
const isRelayed = (c) => c.Relayed === true || (c.Addr || "").includes("/p2p-circuit");

function connection(c) {
  const dir = c.Direction === 1 || c.Direction === "inbound" ? "inbound" : c.Direction === 2 || c.Direction === "outbound" ? "outbound" : null;
  let out = isRelayed(c) ? `<span class="badge warn" title="through a circuit relay">relayed</span>` : `<span class="badge ok">direct</span>`;
  if (dir) out += ` <span class="badge">${dir}</span>`;
  if (c.Latency && c.Latency !== "n/a") out += ` <span class="muted">${esc(c.Latency)}</span>`;
  return out;
}

function traffic(blocks, bytes) {
  if (!blocks && !bytes) return `<span class="muted">0</span>`;
  return `${humanSize(bytes)}<br><span class="muted">${blocks} block${blocks === 1 ? "" : "s"}</span>`;
}

const STANDING = { good: "ok", neutral: "", poor: "warn", banned: "err" };
function standing(r) {
  if (!r) return `<span class="muted" title="nothing exchanged yet">no record</span>`;
  const parts = [`<span class="badge ${STANDING[r.standing] ?? ""}">${esc(r.standing)}</span>`,
    `<span class="muted">score ${Number(r.score).toFixed(2)}</span>`];
  if (r.latency_ms !== null && r.latency_ms !== undefined) parts.push(`<span class="muted" title="want-block to block, moving average">latency ${r.latency_ms.toFixed(0)} ms</span>`);
  if (r.throughput) parts.push(`<span class="muted" title="while it had want-blocks in flight, moving average">${humanSize(r.throughput)}/s</span>`);
  const trouble = [r.failures && `${r.failures} failed`, r.bad_blocks && `${r.bad_blocks} bad blocks`, r.dup_blocks && `${r.dup_blocks} duplicates`]
    .filter(Boolean);
  if (trouble.length) parts.push(`<span class="muted">${trouble.join(", ")}</span>`);
  if (r.banned_for > 0) parts.push(`<span class="badge err" title="${esc(r.ban_reason)}">banned ${r.banned_for.toFixed(0)} s</span>`);
  return parts.join(" ");
}

function ago(t) {
  if (!t) return "";
  const s = Math.max(0, Date.now() / 1000 - t);
  return s < 90 ? `${s.toFixed(0)} s ago` : s < 5400 ? `${(s / 60).toFixed(0)} min ago` : new Date(t * 1000).toLocaleString();
}

async function load() {
  const tbody = root && root.querySelector("#peers tbody");
  if (!tbody) return;
  const [peers, ledger] = await Promise.allSettled([
    rpc("swarm/peers", { latency: true, direction: true }), rpc("ipfs-kit/peer_reputation")]);
  if (!root) return;
  const records = new Map(ledger.status === "fulfilled" ? (ledger.value.Peers || []).map((r) => [r.peer, r]) : []);
  const noLedger = ledger.status === "rejected" ? ledger.reason.message : null;
  if (peers.status === "rejected") {
    tbody.innerHTML = `<tr><td colspan="6" class="empty">${esc(peers.reason.message)}</td></tr>`;
  } else {
    const byPeer = new Map();
    for (const c of peers.value.Peers || []) byPeer.set(c.Peer, [...(byPeer.get(c.Peer) || []), c]);
    root.querySelector("#peer-count").textContent = `${byPeer.size} connected` + (noLedger ? ` (no ledger: ${noLedger})` : "");
    tbody.innerHTML = [...byPeer].map(([peer, conns]) => {
      const r = records.get(peer);
      const cell = (f) => conns.map((c) => `<div>${f(c)}</div>`).join("");
      return `<tr data-peer="${esc(peer)}" data-relayed="${conns.every(isRelayed)}" data-standing="${esc(r ? r.standing : "")}"
        data-received="${r ? r.bytes_received : 0}" data-sent="${r ? r.bytes_sent : 0}">
      <td class="cid">${esc(peer)}</td><td class="cid">${cell((c) => esc(c.Addr || ""))}</td><td>${cell(connection)}</td>
      <td class="num">${r ? traffic(r.blocks_received, r.bytes_received) : traffic(0, 0)}</td>
      <td class="num">${r ? traffic(r.blocks_sent, r.bytes_sent) : traffic(0, 0)}</td><td>${standing(r)}</td></tr>`;
    }).join("") || `<tr><td colspan="6" class="empty">No peer connected</td></tr>`;
    for (const peer of byPeer.keys()) records.delete(peer);
  }
  const lbody = root.querySelector("#ledger tbody");
  lbody.innerHTML = noLedger ? `<tr><td colspan="5" class="empty">${esc(noLedger)}</td></tr>`
    : [...records.values()].map((r) => `<tr data-peer="${esc(r.peer)}" data-standing="${esc(r.standing)}"><td class="cid">${esc(r.peer)}</td>
      <td class="num">${traffic(r.blocks_received, r.bytes_received)}</td><td class="num">${traffic(r.blocks_sent, r.bytes_sent)}</td>
      <td>${standing(r)}</td><td>${esc(ago(r.last_seen))}</td></tr>`).join("")
      || `<tr><td colspan="5" class="empty">None</td></tr>`;
}
