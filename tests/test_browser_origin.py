"""A real Chromium cannot be turned against the node (issue 9, access).

- A page on another loopback origin (a small HTTP server this test starts) cannot
  open any control WebSocket nor cause any effect through /api/v0.
- HTML stored on the node and opened from the gateway on the API's own port runs
  sandboxed (opaque origin): it cannot call /api/v0 with success nor open a
  control WebSocket. Opened from the separate gateway listener (gateway.listen),
  it is another origin, refused likewise.

Effects are checked on the node afterwards, over HTTP without Origin: pins,
objects and metadata are exactly as before.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServerProcess, start_server

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
WS_ROUTES = ["/ws", "/ws/notifications", "/ws/webrtc", "/webrtc"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed")
pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

# The attack, run by the page: every control WebSocket, then requests that would read or
# change the node. fetch() in no-cors mode still sends the request (its answer is opaque),
# so an effect would show on the node even though the page cannot read the answer.
ATTACK_JS = """
const results = (window.results = {origin: self.origin});
function tryWs(url) {
  return new Promise((resolve) => {
    let ws;
    try { ws = new WebSocket(url); } catch (e) { resolve("throw"); return; }
    const timer = setTimeout(() => resolve("timeout"), 8000);
    ws.onopen = () => {
      clearTimeout(timer);
      // an open socket is a failure already; show what it would have done
      ws.send(JSON.stringify({id: 1, action: "pin_rm", cid: TARGET_CID}));
      resolve("open");
    };
    ws.onerror = () => { clearTimeout(timer); resolve("error"); };
  });
}
async function tryFetch(path, opts) {
  try {
    const r = await fetch(API + path, opts);
    return r.type === "opaque" ? "opaque" : "status:" + r.status;
  } catch (e) { return "error"; }
}
(async () => {
  for (const p of WS_ROUTES) results["ws " + p] = await tryWs(WS + p);
  results.pin_ls = await tryFetch("/api/v0/pin/ls", {method: "POST"});
  results.repo_stat = await tryFetch("/api/v0/repo/stat", {method: "POST"});
  const post = {method: "POST", mode: "no-cors"};
  results.pin_rm = await tryFetch("/api/v0/pin/rm?arg=" + TARGET_CID, post);
  const form = new FormData();
  form.append("file", new Blob(["planted by a web page\\n"]), "planted.html");
  results.add = await tryFetch("/api/v0/add", {...post, body: form});
  results.metadata = await tryFetch("/api/v0/ipfs-kit/metadata/set?arg=" + TARGET_CID,
                                    {...post, body: JSON.stringify({owner: "evil"}), headers: {"Content-Type": "text/plain"}});
  results.gc = await tryFetch("/api/v0/repo/gc", post);
  window.done = true;
})();
"""


def attack_page(api: str, target_cid: str) -> bytes:
    head = (f"const API = {json.dumps(api)}; const WS = {json.dumps(api.replace('http', 'ws', 1))};\n"
            f"const TARGET_CID = {json.dumps(target_cid)}; const WS_ROUTES = {json.dumps(WS_ROUTES)};\n")
    return f"<!doctype html><title>attack</title><script>{head}{ATTACK_JS}</script>".encode()


def post(srv: ServerProcess, path: str, **kw: Any) -> httpx.Response:
    r = httpx.post(f"{srv.url}/api/v0/{path}", timeout=30, **kw)
    assert r.status_code == 200, r.text
    return r


def node_state(srv: ServerProcess, cid: str) -> tuple[Any, ...]:
    """What a successful attack would change: pins, objects, the target's metadata."""
    pins = post(srv, "pin/ls").json()["Keys"]
    objects = post(srv, "repo/stat").json()["NumObjects"]
    md = post(srv, "ipfs-kit/metadata/get", params={"arg": cid}).json()
    return sorted(pins), objects, json.dumps(md, sort_keys=True)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, str]]:
    """A server with a separate gateway listener; (server, gateway URL, a pinned CID)."""
    s = start_server(tmp_path_factory.mktemp("browser-origin") / "repo",
                     env={"IPFS_KIT_GATEWAY_LISTEN": "127.0.0.1:0"})
    try:
        r = post(s, "add", files={"file": ("private.txt", b"someone's private, pinned data\n")})
        yield s, (s.repo / "gateway").read_text().strip(), json.loads(r.text)["Hash"]
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def other_origin() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A small web server on another loopback port: (its URL, path -> page)."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", pages
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def run_attack(browser: Any, url: str) -> dict[str, str]:
    page = browser.new_page()
    try:
        page.goto(url)
        page.wait_for_function("window.done === true", timeout=60_000)
        return page.evaluate("window.results")
    finally:
        page.close()


def assert_refused(results: dict[str, str]) -> None:
    for path in WS_ROUTES:
        assert results[f"ws {path}"] == "error", results  # the handshake was refused
    for name in ("pin_ls", "repo_stat"):  # a readable answer would leak the node's data
        assert results[name] != "status:200", results


def test_page_on_another_loopback_origin_cannot_drive_the_node(
        node: tuple[ServerProcess, str, str], browser: Any, other_origin: tuple[str, dict[str, bytes]]) -> None:
    srv, _, cid = node
    site, pages = other_origin
    pages["/"] = attack_page(srv.url, cid)
    before = node_state(srv, cid)
    results = run_attack(browser, f"{site}/")
    assert results["origin"] == site
    assert_refused(results)
    assert node_state(srv, cid) == before  # nothing unpinned, added, collected or rewritten


def test_html_from_the_gateway_on_the_api_port_runs_sandboxed(
        node: tuple[ServerProcess, str, str], browser: Any) -> None:
    srv, _, cid = node
    planted = post(srv, "add", files={"file": ("index.html", attack_page(srv.url, cid))})
    page_cid = json.loads(planted.text)["Hash"]
    before = node_state(srv, cid)
    results = run_attack(browser, f"{srv.url}/ipfs/{page_cid}")
    assert results["origin"] == "null", results  # CSP sandbox: an opaque origin, not the API's
    assert_refused(results)
    assert node_state(srv, cid) == before


def test_html_from_the_gateway_listener_is_another_origin(
        node: tuple[ServerProcess, str, str], browser: Any) -> None:
    srv, gateway, cid = node
    planted = post(srv, "add", files={"file": ("index.html", attack_page(srv.url, cid))})
    page_cid = json.loads(planted.text)["Hash"]
    before = node_state(srv, cid)
    results = run_attack(browser, f"{gateway}/ipfs/{page_cid}")
    assert results["origin"] == gateway
    assert_refused(results)
    assert node_state(srv, cid) == before


def test_the_node_s_own_page_still_works(node: tuple[ServerProcess, str, str], browser: Any,
                                        tmp_path: Path) -> None:
    """The allowlist is not a wall: a page the API serves itself (the player's origin)
    opens the control WebSockets."""
    srv, _, _ = node
    page = browser.new_page()
    try:
        page.goto(f"{srv.url}/webrtc/player")
        opened = page.evaluate("""async (routes) => {
            const out = {};
            for (const p of routes) {
                out[p] = await new Promise((resolve) => {
                    const ws = new WebSocket(location.origin.replace("http", "ws") + p);
                    const timer = setTimeout(() => resolve("timeout"), 8000);
                    ws.onopen = () => { clearTimeout(timer); ws.close(); resolve("open"); };
                    ws.onerror = () => { clearTimeout(timer); resolve("error"); };
                });
            }
            return out;
        }""", WS_ROUTES)
        assert opened == {p: "open" for p in WS_ROUTES}
    finally:
        page.close()
