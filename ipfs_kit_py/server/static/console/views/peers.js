// Peers: connected libp2p peers (with whatever the API reports about each: address,
// direct or relayed, reputation), and connect to a multiaddr.
import { esc, rpc } from "../api.js";
import { icon } from "../icons.js";

let ctx, root, off, timer;

export function mount(el, context) {
  ctx = context; root = el;
  el.innerHTML = `
    <h1>${icon("peers")} Peers</h1>
    <form class="panel row" id="connect-form">
      <div class="field grow"><label for="peer-addr">Multiaddr to connect to</label>
        <input type="text" id="peer-addr" placeholder="/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW..." autocomplete="off" spellcheck="false"></div>
      <button type="submit" class="primary" style="align-self:flex-end">${icon("link")} Connect</button>
    </form>
    <div class="row" style="margin-bottom:.6rem"><button type="button" id="peers-refresh">${icon("refresh")} Refresh</button>
      <span class="muted" id="peer-count" aria-live="polite"></span></div>
    <div class="table-wrap"><table id="peers"><caption class="sr-only">Connected peers</caption>
      <thead><tr><th>Peer ID</th><th>Address</th><th>Connection</th><th>Standing</th></tr></thead><tbody></tbody></table></div>`;
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
  off = ctx.hub.on((kind, msg) => { if (kind === "event" && msg.type.startsWith("peer_")) load(); });
  timer = setInterval(load, 10000);
  load();
}
export function unmount() { if (off) off(); clearInterval(timer); }

function connection(p) {
  const relayed = p.Relayed ?? p.relayed ?? (p.Addr ? p.Addr.includes("/p2p-circuit") : null);
  if (relayed === null || relayed === undefined) return `<span class="muted">-</span>`;
  return relayed ? `<span class="badge warn">relayed</span>` : `<span class="badge ok">direct</span>`;
}
function standing(p) {
  const rep = p.Reputation ?? p.reputation ?? p.Score ?? p.score;
  if (rep === undefined || rep === null) return `<span class="muted">-</span>`;
  return esc(typeof rep === "object" ? Object.entries(rep).map(([k, v]) => `${k}: ${v}`).join(", ") : rep);
}

async function load() {
  const tbody = root.querySelector("#peers tbody");
  if (!tbody) return;
  try {
    const res = await rpc("swarm/peers");
    const peers = res.Peers || [];
    root.querySelector("#peer-count").textContent = `${peers.length} connected`;
    tbody.innerHTML = peers.map((p) => `<tr data-peer="${esc(p.Peer)}"><td class="cid">${esc(p.Peer)}</td>
      <td class="cid">${esc(p.Addr || "")}</td><td>${connection(p)}${p.Direction !== undefined ? ` <span class="badge">${esc(String(p.Direction))}</span>` : ""}</td>
      <td>${standing(p)}</td></tr>`).join("") || `<tr><td colspan="4" class="empty">No peer connected</td></tr>`;
  } catch (e) {
    tbody.innerHTML = `<tr><td colspan="4" class="empty">${esc(e.message)}</td></tr>`;
  }
}
