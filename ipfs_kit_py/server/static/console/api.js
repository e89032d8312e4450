// The node's public channels, same-origin: /api/v0 (Kubo RPC), /ws/notifications, /ws/webrtc.
// A token saved in this browser (when the node requires one) goes with every call.
const TOKEN_KEY = "ipfs-kit-token";

export function getToken() { return localStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value); else localStorage.removeItem(TOKEN_KEY);
}
export function authHeaders() {
  const t = getToken();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

export class ApiError extends Error {
  constructor(message, status, body) { super(message); this.status = status; this.body = body; }
}

function query(args) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(args || {})) {
    if (v === undefined || v === null) continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

function errorOf(status, text) {
  let msg = text || `HTTP ${status}`;
  try { const j = JSON.parse(text); msg = j.Message || j.detail || msg; } catch { /* not JSON */ }
  if (status === 401) msg += " (set the access token: button at the bottom of the menu)";
  return new ApiError(msg, status, text);
}

/** POST /api/v0/<path>?args. Returns parsed JSON, a list for NDJSON (ndjson: true), or text (raw: true). */
export async function rpc(path, args = {}, opts = {}) {
  const r = await fetch(`/api/v0/${path}${query(args)}`, {
    method: "POST", body: opts.body, signal: opts.signal,
    headers: { ...authHeaders(), ...(opts.headers || {}) },
  });
  const text = await r.text();
  if (!r.ok) throw errorOf(r.status, text);
  if (opts.raw) return text;
  if (opts.ndjson) return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  return text ? JSON.parse(text) : null;
}

/** Add files (Kubo's multipart form) with upload progress. entries: [{path, file}] (a file's
 *  path may hold folders: "dir/sub/a.txt"); the folders get their own parts first. */
export function addFiles(entries, { onProgress, args = {} } = {}) {
  const form = new FormData();
  const dirs = new Set();
  for (const e of entries) {
    const parts = e.path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  for (const d of [...dirs].sort()) {
    form.append("file", new Blob([], { type: "application/x-directory" }), encodeURIComponent(d));
  }
  for (const e of entries) form.append("file", e.file, encodeURIComponent(e.path));
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v0/add${query({ "cid-version": args.cidVersion, "raw-leaves": args.rawLeaves, pin: args.pin ?? true, recursive: dirs.size ? true : undefined })}`);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (ev) => ev.lengthComputable && onProgress && onProgress(ev.loaded, ev.total);
    xhr.onload = () => {
      if (xhr.status !== 200) { reject(errorOf(xhr.status, xhr.responseText)); return; }
      const lines = xhr.responseText.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
      resolve(lines.filter((l) => l.Hash));
    };
    xhr.onerror = () => reject(new ApiError("network error during upload", 0, ""));
    xhr.send(form);
  });
}

export function wsUrl(path) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}
/** A WebSocket to one of the node's routes, carrying the token as a subprotocol. */
export function openSocket(path) {
  const t = getToken();
  return new WebSocket(wsUrl(path), t ? ["ipfs-kit", `ipfs-kit-token.${t}`] : []);
}

/** Gateway URL of a CID or /ipfs path, with the name for downloads. */
export function gatewayUrl(path, { filename, download } = {}) {
  const p = path.startsWith("/ipfs/") ? path : `/ipfs/${path}`;
  const q = {};
  if (filename) q.filename = filename;
  if (download) q.download = "true";
  return p.split("/").map((s, i) => (i < 3 ? s : encodeURIComponent(s))).join("/") + query(q);
}

export function humanSize(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0; let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
