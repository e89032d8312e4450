// The MFS tree (Kubo's `ipfs files`, /api/v0/files/*) inside the Files view: browse it
// with breadcrumbs, make a folder, copy a CID in, remove, upload into the current folder
// (add without a pin, then files/cp: everything under the MFS root is kept by gc, as in
// Kubo and its WebUI). Another client's change (an mfs_changed event) shows at once.
import { esc, gatewayUrl, humanSize, rpc } from "../api.js";
import { icon } from "../icons.js";

let dir = "/";  // the folder shown; kept while the console is open
let ctx, box, hooks, off, pending;

/** Fill `section` with the MFS panel. hooks: {upload(entries, {into}), open(path)}. */
export function mountMfs(section, context, uploadAndOpen) {
  ctx = context; box = section; hooks = uploadAndOpen;
  section.innerHTML = `
    <h2 id="mfs-title" style="margin-top:0">${icon("folder")} My files <span class="muted" style="font-weight:400">(MFS)</span></h2>
    <ol class="crumbs" id="mfs-crumbs" aria-label="MFS folder"></ol>
    <div class="row mfs-tools">
      <input type="file" id="mfs-pick" multiple class="sr-only">
      <label class="button primary" for="mfs-pick">${icon("upload")} Upload here</label>
      <input type="file" id="mfs-pick-folder" webkitdirectory class="sr-only">
      <label class="button" for="mfs-pick-folder">${icon("folder")} Upload a folder here</label>
      <button type="button" id="mfs-refresh">${icon("refresh")} Refresh</button>
      <span class="muted" id="mfs-cid"></span>
    </div>
    <div class="grid2" style="margin:.75rem 0">
      <form class="row" id="mfs-mkdir-form">
        <label for="mfs-folder-name" class="sr-only">New folder name</label>
        <input type="text" id="mfs-folder-name" class="grow" placeholder="New folder name" autocomplete="off" spellcheck="false">
        <button type="submit">${icon("folder")} Make folder</button>
      </form>
      <form class="row" id="mfs-cp-form">
        <label for="mfs-cp-cid" class="sr-only">CID or /ipfs path to copy into this folder</label>
        <input type="text" id="mfs-cp-cid" class="grow" placeholder="CID or /ipfs path" autocomplete="off" spellcheck="false">
        <label for="mfs-cp-name" class="sr-only">Name in this folder (default: the CID)</label>
        <input type="text" id="mfs-cp-name" style="flex:0 1 9rem" placeholder="name (optional)" autocomplete="off" spellcheck="false">
        <button type="submit">${icon("copy")} Copy here</button>
      </form>
    </div>
    <div class="drop mfs-drop" id="mfs-drop">
      <div class="table-wrap"><table id="mfs"><caption class="sr-only">Contents of the MFS folder</caption>
        <thead><tr><th>Name</th><th class="num">Size</th><th>CID</th><th class="actions"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody></tbody></table></div>
      <p class="muted" style="margin:.4rem 0 0">Drop files or folders here to add them to this folder.</p>
    </div>`;
  const pick = (input, folder) => input.addEventListener("change", (ev) => {
    const files = [...ev.target.files];
    if (folder) { if (files.length) hooks.upload(files.map((f) => ({ path: f.webkitRelativePath || f.name, file: f })), { into: dir }); }
    else for (const f of files) hooks.upload([{ path: f.name, file: f }], { into: dir });
    ev.target.value = "";
  });
  pick(section.querySelector("#mfs-pick"), false);
  pick(section.querySelector("#mfs-pick-folder"), true);
  const drop = section.querySelector("#mfs-drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); ev.stopPropagation(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (ev) => {
    ev.preventDefault(); ev.stopPropagation(); drop.classList.remove("over");
    for (const g of await hooks.droppedGroups(ev.dataTransfer)) hooks.upload(g, { into: dir });
  });
  section.querySelector("#mfs-refresh").addEventListener("click", () => show(dir));
  section.querySelector("#mfs-mkdir-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = section.querySelector("#mfs-folder-name");
    const name = input.value.trim();
    if (!validName(name)) return;
    act(`Folder ${name} made`, () => rpc("files/mkdir", { arg: join(dir, name) }), () => { input.value = ""; });
  });
  section.querySelector("#mfs-cp-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const src = section.querySelector("#mfs-cp-cid").value.trim().replace(/^ipfs:\/\//, "/ipfs/").replace(/\/+$/, "");
    if (!src) return;
    const source = src.startsWith("/ipfs/") || src.startsWith("/ipns/") ? src : `/ipfs/${src}`;
    const name = section.querySelector("#mfs-cp-name").value.trim() || source.split("/").pop();
    if (!validName(name)) return;
    act(`Copied into ${join(dir, name)}`, () => rpc("files/cp", { arg: [source, join(dir, name)] }), () => {
      section.querySelector("#mfs-cp-cid").value = ""; section.querySelector("#mfs-cp-name").value = "";
    });
  });
  off = ctx.hub.on((kind, msg) => {  // any change of the tree, from this page or another client
    if (kind === "event" && msg.type === "mfs_changed" && !pending) pending = setTimeout(() => { pending = null; show(dir); }, 150);
  });
  show(dir);
}
export function unmountMfs() { if (off) off(); clearTimeout(pending); pending = null; box = null; }

/** Copy an added CID into `folder` under `name` (the upload's last step). */
export async function copyInto(cid, folder, name) {
  await rpc("files/cp", { arg: [`/ipfs/${cid}`, join(folder, name)] });
}

function join(folder, name) { return `${folder.replace(/\/+$/, "")}/${name}`; }

function validName(name) {
  if (!name) return false;
  if (name.includes("/") || name === "." || name === "..") { ctx.toast(`Not a name: ${name} (no "/", "." or "..")`, true); return false; }
  return true;
}

async function act(done, fn, after) {
  try {
    await fn();
    if (after) after();
    ctx.toast(done);
    await show(dir);
  } catch (e) { ctx.toast(e.message, true); }
}

function crumbs() {
  const ol = box.querySelector("#mfs-crumbs");
  const parts = dir.split("/").filter(Boolean);
  ol.replaceChildren();
  ["", ...parts].forEach((p, i) => {
    const li = document.createElement("li");
    const target = `/${parts.slice(0, i).join("/")}`;
    const label = i === 0 ? "Files" : p;
    if (i === parts.length) {
      li.innerHTML = `<span aria-current="location">${esc(label)}</span>`;
    } else {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = label; b.title = target;
      b.addEventListener("click", () => show(target));
      li.append(b);
    }
    ol.append(li);
  });
}

/** Show the MFS folder `path`. */
export async function show(path) {
  if (!box) return;
  const want = path === "" ? "/" : path;
  dir = want;
  crumbs();
  const tbody = box.querySelector("#mfs tbody");
  box.dataset.dir = want;
  try {
    const [ls, st] = await Promise.all([rpc("files/ls", { arg: want, long: true }), rpc("files/stat", { arg: want })]);
    // another folder was opened meanwhile: `dir` is already that folder, so compare this call's own
    if (!box || box.dataset.dir !== want) return;
    const cidEl = box.querySelector("#mfs-cid");
    cidEl.replaceChildren(document.createTextNode("this folder: "), Object.assign(document.createElement("span"),
      { className: "cid", textContent: st.Hash }), ctx.copyButton(st.Hash));
    const entries = ls.Entries || [];
    tbody.replaceChildren();
    if (!entries.length) tbody.innerHTML = `<tr><td colspan="4" class="empty">Empty folder: upload, drop, make a folder or copy a CID here</td></tr>`;
    for (const e of entries) tbody.append(row(e));
    box.dataset.loaded = want;
  } catch (e) {
    if (!box || box.dataset.dir !== want) return;
    tbody.innerHTML = `<tr><td colspan="4" class="empty"></td></tr>`;
    tbody.querySelector("td").textContent = e.message;
    if (dir !== "/") {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = "Back to the top folder";
      b.addEventListener("click", () => show("/"));
      tbody.querySelector("td").append(" ", b);
    }
  }
}

function row(e) {
  const isDir = e.Type === 1;
  const path = join(dir, e.Name);
  const tr = document.createElement("tr");
  tr.dataset.name = e.Name; tr.dataset.cid = e.Hash; tr.dataset.type = isDir ? "directory" : "file";
  tr.innerHTML = `<td><button type="button" class="open" style="border:none;background:none;color:var(--accent);padding:0">${icon(isDir ? "folder" : "file")} ${esc(e.Name)}</button></td>
    <td class="num">${isDir ? "" : humanSize(e.Size)}</td><td class="cid"></td><td class="actions"></td>`;
  tr.querySelector("button.open").addEventListener("click", () => (isDir ? show(path) : hooks.open(`/ipfs/${e.Hash}`, e.Name)));
  tr.querySelector("td.cid").append(document.createTextNode(e.Hash), ctx.copyButton(e.Hash));
  const actions = tr.querySelector("td.actions");
  if (!isDir) {
    actions.insertAdjacentHTML("beforeend", `<a class="button icon-only" href="${gatewayUrl(e.Hash, { filename: e.Name, download: true })}" download="${esc(e.Name)}" aria-label="Download ${esc(e.Name)}" title="Download">${icon("download")}</a> `);
  }
  const rm = document.createElement("button");
  rm.type = "button"; rm.className = "icon-only danger remove"; rm.title = "Remove";
  rm.setAttribute("aria-label", `Remove ${e.Name}`);
  rm.innerHTML = icon("trash");
  rm.addEventListener("click", async () => {
    const ok = await ctx.confirmAction(`Remove ${e.Name}?`, `${path} leaves the MFS tree${isDir ? " with everything in it" : ""}. `
      + "Its blocks stay until the next garbage collection unless they are pinned or used elsewhere.", "Remove");
    if (!ok) return;
    act(`${path} removed`, async () => {
      // Kubo answers 200 with one JSON string per path it could not remove
      const text = await rpc("files/rm", { arg: path, recursive: isDir || undefined }, { raw: true });
      if (text.trim()) throw new Error(text.trim().split("\n").map((l) => { try { return JSON.parse(l); } catch { return l; } }).join("; "));
    });
  });
  actions.append(rm);
  return tr;
}
