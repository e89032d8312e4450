// Pins: the node's pins with names and sizes; pin, unpin, filter. Follows pin events live.
import { esc, humanSize, rpc } from "../api.js";
import { icon } from "../icons.js";

let ctx, root, off, rows = [], refreshTimer = null;

export function mount(el, context) {
  ctx = context; root = el;
  el.innerHTML = `
    <h1>${icon("pin")} Pins</h1>
    <div class="panel">
      <form class="row" id="pin-form">
        <label for="pin-cid" class="sr-only">CID to pin</label>
        <input type="text" id="pin-cid" class="grow" placeholder="CID to pin (it must be on this node)" autocomplete="off" spellcheck="false">
        <button type="submit" class="primary">${icon("pin")} Pin</button>
      </form>
    </div>
    <div class="row" style="margin-bottom:.6rem">
      <label for="pin-filter" class="sr-only">Filter pins</label>
      <input type="search" id="pin-filter" class="grow" placeholder="Filter by name, CID or type">
      <button type="button" id="pin-refresh">${icon("refresh")} Refresh</button>
      <span class="muted" id="pin-count" aria-live="polite"></span>
    </div>
    <div class="table-wrap"><table id="pins"><caption class="sr-only">Pins</caption>
      <thead><tr><th>Name</th><th>CID</th><th>Type</th><th class="num">Size</th><th class="actions"><span class="sr-only">Actions</span></th></tr></thead>
      <tbody><tr><td colspan="5" class="empty">Loading...</td></tr></tbody></table></div>`;
  el.querySelector("#pin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = el.querySelector("#pin-cid");
    const cid = input.value.trim();
    if (!cid) return;
    try { await rpc("pin/add", { arg: cid }); ctx.toast(`Pinned ${cid}`); input.value = ""; await load(); }
    catch (e) { ctx.toast(`Pin failed: ${e.message}`, true); }
  });
  el.querySelector("#pin-filter").addEventListener("input", render);
  el.querySelector("#pin-refresh").addEventListener("click", load);
  off = ctx.hub.on((kind, msg) => {
    if (kind === "event" && (msg.type === "pin_status_changed" || msg.type === "content_removed")) {
      clearTimeout(refreshTimer); refreshTimer = setTimeout(load, 150);  // a burst of events: one reload
    }
  });
  load();
}
export function unmount() { if (off) off(); clearTimeout(refreshTimer); }

async function describe(cid, type) {
  let name = "", size = null;
  try { const m = await rpc("ipfs-kit/metadata/get", { arg: cid }); name = m.name || ""; size = m.size; } catch { /* none */ }
  if (!size) {  // no metadata, or a directory (its metadata size is 0): the DAG's size
    try { const st = await rpc("files/stat", { arg: `/ipfs/${cid}` }); size = st.CumulativeSize ?? st.Size; } catch { /* not local */ }
  }
  return { cid, type, name, size };
}

async function load() {
  try {
    const res = await rpc("pin/ls", { type: "all" });
    const keys = Object.entries(res.Keys || {});
    const out = [];
    for (let i = 0; i < keys.length; i += 8) {  // a few at a time: the node stays responsive
      out.push(...await Promise.all(keys.slice(i, i + 8).map(([cid, v]) => describe(cid, v.Type))));
    }
    rows = out.sort((a, b) => (a.name || "~").localeCompare(b.name || "~") || a.cid.localeCompare(b.cid));
    render();
  } catch (e) {
    root.querySelector("#pins tbody").innerHTML = `<tr><td colspan="5" class="empty">${esc(e.message)}</td></tr>`;
  }
}

function render() {
  const tbody = root.querySelector("#pins tbody");
  if (!tbody) return;
  const f = root.querySelector("#pin-filter").value.trim().toLowerCase();
  const shown = rows.filter((r) => !f || r.cid.toLowerCase().includes(f) || r.name.toLowerCase().includes(f) || r.type.includes(f));
  root.querySelector("#pin-count").textContent = `${shown.length} of ${rows.length} pins`;
  tbody.replaceChildren();
  if (!shown.length) tbody.innerHTML = `<tr><td colspan="5" class="empty">${rows.length ? "No pin matches the filter" : "No pins yet: add files under Files"}</td></tr>`;
  for (const r of shown) {
    const tr = document.createElement("tr");
    tr.dataset.cid = r.cid;
    tr.innerHTML = `<td>${r.name ? esc(r.name) : '<span class="muted">(no name)</span>'}</td>
      <td class="cid"><a href="#/files?path=/ipfs/${esc(r.cid)}">${esc(r.cid)}</a></td>
      <td><span class="badge">${esc(r.type)}</span></td><td class="num">${humanSize(r.size)}</td><td class="actions"></td>`;
    tr.querySelector("td.cid").append(ctx.copyButton(r.cid));
    if (r.type === "recursive" || r.type === "direct") {
      const b = document.createElement("button");
      b.type = "button"; b.className = "danger unpin";
      b.innerHTML = `${icon("x")} Unpin`;
      b.setAttribute("aria-label", `Unpin ${r.name || r.cid}`);
      b.addEventListener("click", async () => {
        b.disabled = true;
        try { await rpc("pin/rm", { arg: r.cid }); ctx.toast(`Unpinned ${r.name || r.cid}`); await load(); }
        catch (e) { b.disabled = false; ctx.toast(`Unpin failed: ${e.message}`, true); }
      });
      tr.querySelector("td.actions").append(b);
    }
    tbody.append(tr);
  }
}
