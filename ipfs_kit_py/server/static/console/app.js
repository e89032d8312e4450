// The console: a hash router over the views, the access-token dialog, toasts, confirmations.
// Plain ES modules served by the node (no build step); window.ipfsConsole is for tests and debugging.
import { getToken, setToken } from "./api.js";
import { hub } from "./events.js";
import { icon } from "./icons.js";
import * as files from "./views/files.js";
import * as live from "./views/live.js";
import * as node from "./views/node.js";
import * as peers from "./views/peers.js";
import * as pins from "./views/pins.js";
import * as player from "./views/player.js";
import * as transfers from "./views/transfers.js";

const VIEWS = [
  ["files", "Files", "files", files], ["pins", "Pins", "pin", pins], ["live", "Live", "live", live],
  ["player", "Player", "play", player], ["peers", "Peers", "peers", peers],
  ["transfers", "Transfers", "send", transfers], ["node", "Node", "node", node],
];
const main = document.getElementById("main");
let current = null;  // {name, module}

export function toast(text, isError = false) {
  const el = document.createElement("div");
  el.className = `toast${isError ? " err" : ""}`;
  el.textContent = text;
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), isError ? 9000 : 4000);
}

export function confirmAction(title, text, okLabel = "OK") {
  const dlg = document.getElementById("confirm-dialog");
  dlg.querySelector("#confirm-title").textContent = title;
  dlg.querySelector("#confirm-text").textContent = text;
  dlg.querySelector("#confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.showModal();
  });
}

/** A button that copies `text`; used next to every CID. */
export function copyButton(text, label = "Copy CID") {
  const b = document.createElement("button");
  b.type = "button"; b.className = "icon-only copy"; b.title = label;
  b.setAttribute("aria-label", `${label} ${text}`);
  b.innerHTML = icon("copy");
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {  // no clipboard permission (plain http on another name): select-and-copy fallback
      const ta = document.createElement("textarea");
      ta.value = text; document.body.append(ta); ta.select(); document.execCommand("copy"); ta.remove();
    }
    window.ipfsConsole.copied = text;
    toast("Copied");
  });
  return b;
}

function route() {
  const name = (location.hash.replace(/^#\/?/, "").split("?")[0] || "files").split("/")[0];
  const entry = VIEWS.find((v) => v[0] === name) || VIEWS[0];
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  if (current && current.name === entry[0]) {  // same view, new parameters (a link inside the view)
    if (current.module.update) current.module.update(params);
    return;
  }
  if (current && current.module.unmount) current.module.unmount();
  main.replaceChildren();
  current = { name: entry[0], module: entry[3] };
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === entry[0]) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  document.title = `${entry[1]} - ipfs_kit_py console`;
  entry[3].mount(main, { toast, confirmAction, copyButton, hub, params });
  window.ipfsConsole.view = entry[0];
}

function setupChrome() {
  document.getElementById("brand").innerHTML = `${icon("logo")}<span>ipfs_kit_py</span>`;
  document.getElementById("nav").innerHTML = VIEWS.map(([name, label, ic]) =>
    `<li><a href="#/${name}" data-view="${name}">${icon(ic)}<span class="label">${label}</span></a></li>`).join("");
  const conn = document.getElementById("conn");
  hub.on((kind, s) => {
    if (kind !== "state") return;
    conn.querySelector(".dot").className = `dot ${s === "connected" ? "on" : s === "disconnected" ? "off" : ""}`;
    conn.querySelector("span:last-child").textContent = s === "connected" ? "live" : s;
  });
  const dlg = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  document.getElementById("token-button").addEventListener("click", () => { input.value = getToken(); dlg.showModal(); });
  dlg.addEventListener("close", () => {
    if (dlg.returnValue === "save") setToken(input.value.trim());
    else if (dlg.returnValue === "clear") setToken("");
    else return;
    toast(getToken() ? "Token saved in this browser" : "Token forgotten");
    hub.drop(); hub.reconnect();
  });
}

window.ipfsConsole = { hub, view: null, copied: null };
setupChrome();
live.collect(hub);  // the Live view shows what came before it was opened
window.addEventListener("hashchange", route);
hub.start();
route();
