"""Browsers as peers: js-libp2p in Chromium dials the node over libp2p WebSockets
(``libp2p.listen_ws``), fetches a file over bitswap (Helia's bitswap) and over
``/ipfs-kit/content/1.0.0`` written from docs/protocols.md alone, and verifies it."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ServerProcess, start_server, stream_bytes

CHROMIUM = "/usr/bin/chromium"
JS = Path(__file__).parent / "js"
ESBUILD = JS / "node_modules" / ".bin" / "esbuild"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
    pytest.mark.skipif(not ESBUILD.exists(), reason="npm packages missing: npm ci --prefix tests/js"),
]

SIZE = 3 * 1024 * 1024 + 12345  # 256 KiB raw leaves: 13 of them under one dag-pb root


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bundled page, served on 127.0.0.1 by a thread of this test."""
    out = tmp_path_factory.mktemp("page")
    subprocess.run([str(ESBUILD), str(JS / "reach" / "page.mjs"), "--bundle", "--format=esm", "--platform=browser",
                    "--log-level=warning", f"--outfile={out / 'bundle.js'}"], check=True, cwd=JS, timeout=120)
    (out / "index.html").write_text('<!doctype html><meta charset="utf-8"><script type="module" src="bundle.js"></script>')

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw) -> None:  # noqa: ANN002, ANN003
            super().__init__(*a, directory=str(out), **kw)

        def log_message(self, *a) -> None:  # noqa: ANN002
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    finally:
        httpd.shutdown()
        httpd.server_close()
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module")
def ws_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, str, str]]:
    """A server listening for libp2p on TCP and on WebSockets; a v1 (raw leaves) file added."""
    srv = start_server(tmp_path_factory.mktemp("wsnode") / "repo",
                       env={"IPFS_KIT_LIBP2P_LISTEN_WS": "/ip4/127.0.0.1/tcp/0/ws"})
    try:
        data = stream_bytes(SIZE)
        r = httpx.post(f"{srv.url}/api/v0/add", params={"cid-version": "1"}, files={"file": ("f", data)}, timeout=30)
        r.raise_for_status()
        cid = r.json()["Hash"]
        ident = httpx.post(f"{srv.url}/api/v0/id", timeout=5).json()
        ws = [a for a in ident["Addresses"] if "/ws/" in a]
        assert ws, f"no /ws address in {ident['Addresses']}"
        yield srv, ws[0], cid, hashlib.sha256(data).hexdigest()
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _run(browser, url: str, script: str, *args: str) -> dict:  # noqa: ANN001
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url)
        page.wait_for_function("window.reachReady === true", timeout=15000)
        page.set_default_timeout(60000)
        return page.evaluate(script, list(args))
    finally:
        page.close()
        assert not errors, errors


def test_browser_fetches_over_bitswap(ws_node, page_url: str, browser) -> None:  # noqa: ANN001
    srv, ws_addr, cid, digest = ws_node
    got = _run(browser, page_url, "([a, c]) => window.reach.fetchBitswap(a, c)", ws_addr, cid)
    assert got["remote"].startswith("/ip4/127.0.0.1/tcp/") and "/ws" in got["remote"]
    assert got["size"] == SIZE and got["sha256"] == digest
    assert got["blocks"] == 1 + (SIZE + 262143) // 262144  # the root and every leaf, each verified by Helia


def test_browser_speaks_content_protocol_from_the_docs(ws_node, page_url: str, browser) -> None:  # noqa: ANN001
    srv, ws_addr, cid, digest = ws_node
    got = _run(browser, page_url, "([a, c]) => window.reach.fetchContent(a, c)", ws_addr, cid)
    assert got["messages"][0] == {"type": "start", "cid": cid, "size": SIZE}
    end = got["messages"][-1]
    assert end["type"] == "end" and end["blocks"] == got["blocks"] == 1 + (SIZE + 262143) // 262144
    assert end["bytes"] > SIZE  # block bytes: the leaves and the root node
    assert got["size"] == SIZE and got["sha256"] == digest


def test_browser_unknown_cid_gets_documented_error(ws_node, page_url: str, browser) -> None:  # noqa: ANN001
    srv, ws_addr, _, _ = ws_node
    missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    got = _run(browser, page_url, "([a, c]) => window.reach.fetchContent(a, c)", ws_addr, missing)
    assert got["messages"] and got["messages"][-1]["type"] == "error"
    assert got["messages"][-1]["code"] in ("not_found", "block_not_found")
