// Files: add files and folders (drag and drop or pick) with a progress bar each, the MFS
// tree (mfs.js), and browse any CID or /ipfs path with breadcrumbs, preview and download.
import { addFiles, esc, gatewayUrl, humanSize, rpc } from "../api.js";
import { icon } from "../icons.js";
import { copyInto, mountMfs, unmountMfs } from "./mfs.js";

const TEXT_PREVIEW = 64 * 1024;
let ctx;
let root;
const recent = [];  // this session's uploads, newest first

export function mount(el, context) {
  ctx = context;
  root = el;
  el.innerHTML = `
    <h1>${icon("files")} Files</h1>
    <section class="panel" aria-labelledby="add-title">
      <h2 id="add-title" style="margin-top:0">Add</h2>
      <div class="drop" id="drop">
        <p>Drop files or folders here, or</p>
        <div class="row" style="justify-content:center">
          <input type="file" id="pick-files" multiple class="sr-only">
          <label class="button primary" for="pick-files">${icon("upload")} Pick files</label>
          <input type="file" id="pick-folder" webkitdirectory class="sr-only">
          <label class="button" for="pick-folder">${icon("folder")} Pick a folder</label>
          <label for="cid-version" class="sr-only">CID version</label>
          <select id="cid-version" title="CID version">
            <option value="0">CIDv0 (Kubo's default)</option><option value="1">CIDv1, raw leaves</option>
          </select>
        </div>
      </div>
      <ul class="uploads" id="uploads" aria-label="Uploads"></ul>
    </section>
    <section class="panel" aria-labelledby="mfs-title" id="mfs-panel"></section>
    <section class="panel" aria-labelledby="browse-title">
      <h2 id="browse-title" style="margin-top:0">Browse</h2>
      <form class="row" id="browse-form">
        <label for="browse-path" class="sr-only">CID or /ipfs path</label>
        <input type="text" id="browse-path" class="grow" placeholder="CID or /ipfs/CID/path" autocomplete="off" spellcheck="false">
        <button class="primary" type="submit">${icon("eye")} Open</button>
      </form>
      <div id="browse"></div>
    </section>`;
  const drop = el.querySelector("#drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (ev) => {
    ev.preventDefault(); drop.classList.remove("over");
    const groups = await droppedGroups(ev.dataTransfer);
    for (const g of groups) upload(g);
  });
  el.querySelector("#pick-files").addEventListener("change", (ev) => {
    for (const f of ev.target.files) upload([{ path: f.name, file: f }]);
    ev.target.value = "";
  });
  el.querySelector("#pick-folder").addEventListener("change", (ev) => {
    const entries = [...ev.target.files].map((f) => ({ path: f.webkitRelativePath || f.name, file: f }));
    if (entries.length) upload(entries);
    ev.target.value = "";
  });
  el.querySelector("#browse-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = el.querySelector("#browse-path").value.trim();
    if (v) open(normalize(v));
  });
  for (const r of recent) el.querySelector("#uploads").append(r.li);
  mountMfs(el.querySelector("#mfs-panel"), ctx, { upload, droppedGroups, open: (p, name) => {
    open(p, name);
    root.querySelector("#browse-title").scrollIntoView({ block: "start" });
  } });
  const path = ctx.params.get("path");
  if (path) open(path); else showRecent();
}
export function unmount() { unmountMfs(); }
export function update(params) {
  const path = params.get("path");
  if (path && path !== root.querySelector("#browse-path").value) open(path);
}

function normalize(v) {
  v = v.replace(/^ipfs:\/\//, "/ipfs/");
  if (!v.startsWith("/ipfs/")) v = `/ipfs/${v}`;
  return v.replace(/\/+$/, "");
}

/** Dropped items -> groups to upload: each file alone, each folder with everything in it. */
async function droppedGroups(dt) {
  const items = [...dt.items].map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (items.every((e) => !e)) return [...dt.files].map((f) => [{ path: f.name, file: f }]);
  const groups = [];
  for (const entry of items) {
    if (!entry) continue;
    const out = [];
    await walk(entry, "", out);
    if (out.length) groups.push(out);
  }
  return groups;
}
async function walk(entry, prefix, out) {
  const path = prefix + entry.name;
  if (entry.isFile) {
    out.push({ path, file: await new Promise((res, rej) => entry.file(res, rej)) });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (!batch.length) break;
      for (const e of batch) await walk(e, `${path}/`, out);
    }
  }
}

/** Add `entries` (one file, or a folder's files); with `into` (an MFS folder), without a pin,
 *  then copied into that folder under its own name (MFS keeps it from gc). */
async function upload(entries, { into } = {}) {
  const name = entries.length === 1 ? entries[0].path : entries[0].path.split("/")[0] + "/";
  const total = entries.reduce((n, e) => n + e.file.size, 0);
  const li = document.createElement("li");
  li.innerHTML = `<span class="name" title="${esc(name)}">${icon(entries.length === 1 ? "file" : "folder")} ${esc(name)}</span>
    <progress max="100" value="0" aria-label="Upload of ${esc(name)}"></progress>
    <span class="result muted">${humanSize(total)}</span>`;
  const item = { li, name };
  recent.unshift(item);
  root.querySelector("#uploads")?.prepend(li);
  const bar = li.querySelector("progress");
  const result = li.querySelector(".result");
  const v1 = root.querySelector("#cid-version")?.value === "1";
  try {
    const added = await addFiles(entries, {
      onProgress: (loaded, all) => { bar.value = Math.round((100 * loaded) / all); },
      args: { ...(v1 ? { cidVersion: 1, rawLeaves: true } : {}), ...(into ? { pin: false } : {}) },
    });
    const top = added[added.length - 1];  // the root comes last (Kubo's order)
    bar.value = 100;
    if (into) {
      const target = `${into.replace(/\/+$/, "")}/${name.replace(/\/$/, "")}`;
      await copyInto(top.Hash, into, name.replace(/\/$/, ""));
      li.dataset.mfs = target;
      li.querySelector(".name").title = `${name} in MFS ${target}`;
    }
    item.cid = top.Hash;
    li.dataset.cid = top.Hash;
    result.className = "result row";
    result.innerHTML = `${into ? `<span class="badge" title="in MFS">MFS ${esc(li.dataset.mfs)}</span> ` : ""}<a class="cid" href="#/files?path=/ipfs/${esc(top.Hash)}">${esc(top.Hash)}</a>`;
    result.append(ctx.copyButton(top.Hash));
    if (!root.querySelector("#browse-path")?.value) showRecent();
  } catch (e) {
    result.className = "result badge err";
    result.textContent = e.message;
    li.dataset.error = e.message;
    ctx.toast(`Upload of ${name} failed: ${e.message}`, true);
  }
}

function showRecent() {
  const box = root.querySelector("#browse");
  if (!box) return;
  box.innerHTML = `<p class="muted">Enter a CID to browse it, or open one of the CIDs above. Pinned content is listed under <a href="#/pins">Pins</a>.</p>`;
}

function crumbs(path) {
  const parts = path.split("/").filter(Boolean).slice(1);  // [cid, ...names]
  const ol = document.createElement("ol");
  ol.className = "crumbs";
  ol.setAttribute("aria-label", "Path");
  parts.forEach((p, i) => {
    const li = document.createElement("li");
    const target = `/ipfs/${parts.slice(0, i + 1).join("/")}`;
    if (i === parts.length - 1) {
      li.innerHTML = `<span aria-current="location" class="${i === 0 ? "cid" : ""}">${esc(p)}</span>`;
    } else {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = i === 0 ? `${p.slice(0, 10)}...` : p;
      b.title = target;
      b.addEventListener("click", () => open(target));
      li.append(b);
    }
    ol.append(li);
  });
  return ol;
}

let opening = 0;  // the latest open(): an earlier one still loading must not draw over it

export async function open(path, name) {
  const seq = ++opening;
  const live = () => seq === opening;
  const box = root.querySelector("#browse");
  root.querySelector("#browse-path").value = path;
  if (decodeURIComponent(location.hash) !== `#/files?path=${path}`) history.pushState(null, "", `#/files?path=${path}`);
  box.replaceChildren(crumbs(path));
  const status = document.createElement("p");
  status.className = "muted"; status.textContent = "Loading...";
  box.append(status);
  try {
    const st = await rpc("files/stat", { arg: path });
    if (!live()) return;
    status.remove();
    if (st.Type === "directory") await showDirectory(box, path, live);
    else await showFile(box, path, st, name, live);
  } catch (e) {
    if (!live()) return;
    status.className = "badge err";
    status.textContent = e.message;
  }
}

async function showDirectory(box, path, live) {
  const res = await rpc("ls", { arg: path });
  if (!live()) return;
  const links = (res.Objects && res.Objects[0] && res.Objects[0].Links) || [];
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.innerHTML = `<table><caption class="sr-only">Contents of ${esc(path)}</caption>
    <thead><tr><th>Name</th><th class="num">Size</th><th>CID</th><th class="actions"><span class="sr-only">Actions</span></th></tr></thead><tbody></tbody></table>`;
  const tbody = wrap.querySelector("tbody");
  if (!links.length) tbody.innerHTML = `<tr><td colspan="4" class="empty">Empty directory</td></tr>`;
  for (const l of links) {
    const isDir = l.Type === 1 || l.Type === 5;
    const child = `${path}/${l.Name}`;
    const tr = document.createElement("tr");
    tr.innerHTML = `<td><button type="button" class="link-like" style="border:none;background:none;color:var(--accent);padding:0">${icon(isDir ? "folder" : "file")} ${esc(l.Name)}</button></td>
      <td class="num">${isDir ? "" : humanSize(l.Size)}</td><td class="cid"></td><td class="actions"></td>`;
    tr.querySelector("button").addEventListener("click", () => open(child));
    tr.querySelector("td.cid").append(document.createTextNode(l.Hash), ctx.copyButton(l.Hash));
    if (!isDir) {
      tr.querySelector("td.actions").innerHTML = `<a class="button icon-only" href="${gatewayUrl(child, { filename: l.Name, download: true })}" download="${esc(l.Name)}" aria-label="Download ${esc(l.Name)}" title="Download">${icon("download")}</a>`;
    }
    tbody.append(tr);
  }
  box.append(wrap);
}

async function showFile(box, path, st, known, live) {
  const name = path.split("/").length > 3 ? path.split("/").pop() : known || null;
  let meta = null;
  if (!name) { try { meta = await rpc("ipfs-kit/metadata/get", { arg: path.split("/")[2] }); } catch { /* no metadata */ } }
  const filename = name || (meta && meta.name) || path.split("/")[2];
  const head = await fetch(gatewayUrl(path), { method: "HEAD" });
  const type = (head.headers.get("content-type") || "application/octet-stream").split(";")[0];
  if (!live()) return;
  const panel = document.createElement("div");
  panel.innerHTML = `<dl class="kv"><dt>Name</dt><dd>${esc(filename)}</dd><dt>CID</dt><dd class="cid" id="file-cid">${esc(st.Hash)}</dd>
    <dt>Size</dt><dd>${humanSize(st.Size)} (${st.Size} bytes)</dd><dt>Type</dt><dd>${esc(type)}</dd></dl>
    <div class="row" style="margin-top:.75rem">
      <a class="button primary" href="${gatewayUrl(path, { filename, download: true })}" download="${esc(filename)}">${icon("download")} Download</a>
      <a class="button" href="${gatewayUrl(path)}" target="_blank" rel="noopener">${icon("link")} Open in the gateway</a>
      ${type.startsWith("video/") ? `<a class="button" href="#/player?cid=${encodeURIComponent(path)}">${icon("play")} Play over WebRTC</a>` : ""}
    </div><div class="preview" id="preview"></div>`;
  panel.querySelector("#file-cid").append(ctx.copyButton(st.Hash));
  box.append(panel);
  const preview = panel.querySelector("#preview");
  const src = gatewayUrl(path);
  if (type.startsWith("image/")) preview.innerHTML = `<img src="${src}" alt="${esc(filename)}">`;
  else if (type.startsWith("video/")) preview.innerHTML = `<video src="${src}" controls preload="metadata" aria-label="${esc(filename)}"></video>`;
  else if (type.startsWith("audio/")) preview.innerHTML = `<audio src="${src}" controls preload="metadata" aria-label="${esc(filename)}"></audio>`;
  else if (type.startsWith("text/") || /json|xml|javascript/.test(type)) {
    const r = await fetch(src, { headers: { Range: `bytes=0-${TEXT_PREVIEW - 1}` } });
    const text = await r.text();
    if (!live()) return;
    const pre = document.createElement("pre");
    pre.textContent = text + (st.Size > TEXT_PREVIEW ? `\n... (${humanSize(st.Size - TEXT_PREVIEW)} more)` : "");
    pre.setAttribute("aria-label", `Preview of ${filename}`);
    pre.tabIndex = 0;
    preview.append(pre);
  } else preview.innerHTML = `<p class="muted">No preview for ${esc(type)}.</p>`;
}
