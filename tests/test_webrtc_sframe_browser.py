"""Chromium plays end-to-end encrypted media: the player page decrypts each frame in an
RTCRtpScriptTransform worker with the key typed in the page (the server never has it)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest
from conftest import ServerProcess, start_server
from test_webrtc_browser import CHROMIUM, FLAGS, wait_stats
from test_webrtc_sframe import tamper
from webrtc_media import make_mp4

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed")
pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def encrypted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    import asyncio

    from ipfs_kit_py.node import Node
    from ipfs_kit_py.webrtc.sframe_package import add_encrypted

    repo = tmp_path_factory.mktemp("sframe-browser") / "repo"

    async def ingest() -> dict[str, str]:
        node = Node(repo)
        try:
            r = await add_encrypted(node.model, io.BytesIO(make_mp4(6, audio=False)), "film.mp4")
            with node.model.open(str(r["cid"])) as f:
                package = f.read()
            bad = await node.model.add_bytes(tamper(package, 20), "tampered.mp4")
            return {"cid": str(r["cid"]), "key": str(r["key"]), "tampered": str(bad.cid)}
        finally:
            node.close()

    c = asyncio.run(ingest())
    srv = start_server(repo)
    try:
        yield srv, c
    finally:
        srv.stop()


def open_player(browser, srv: ServerProcess, cid: str, key: str | None):
    page = browser.new_page()
    page.goto(f"{srv.url}/webrtc/player?cid={cid}" + (f"#key={key}" if key else ""))
    return page


def test_chromium_decrypts_and_plays_with_the_key(encrypted_server, browser) -> None:
    srv, c = encrypted_server
    page = open_player(browser, srv, c["cid"], c["key"])
    try:
        page.wait_for_function("window.ipfsPlayer && window.ipfsPlayer.state === 'connection connected'", timeout=15000)
        first = wait_stats(page, lambda s: s["framesDecoded"] > 10 and s["currentTime"] > 0)
        page.wait_for_function("window.ipfsPlayer.sframe.decrypted > 30", timeout=10000)
        later = wait_stats(page, lambda s: s["currentTime"] > first["currentTime"] + 0.5)
        assert later["framesDecoded"] > first["framesDecoded"] and later["codec"] == "video/H264"
        player = page.evaluate("window.ipfsPlayer")
        assert player["error"] is None and player["sframe"]["failed"] == 0
        assert player["media"]["encryption"]["scheme"] == "sframe"
        size = page.evaluate("[document.getElementById('video').videoWidth, document.getElementById('video').videoHeight]")
        assert size == [640, 480]
        sent = [m for m in page.evaluate("window.ipfsPlayer.messages")]
        assert not any(c["key"] in str(m) for m in sent)
    finally:
        page.close()


@pytest.mark.parametrize("key", [None, "00" * 16], ids=["no key", "wrong key"])
def test_chromium_decodes_nothing_without_the_right_key(encrypted_server, browser, key) -> None:
    srv, c = encrypted_server
    page = open_player(browser, srv, c["cid"], key)
    try:
        page.wait_for_function("window.ipfsPlayer.error !== null", timeout=15000)
        code = "sframe_no_key" if key is None else "sframe_auth_failed"
        assert page.evaluate("window.ipfsPlayer.error.code") == code
        counter = "dropped" if key is None else "failed"
        page.wait_for_function(f"window.ipfsPlayer.sframe.{counter} > 30", timeout=15000)  # a second of frames
        assert page.evaluate("window.ipfsPlayer.stats()")["framesDecoded"] == 0
        status = page.inner_text("#status")
        assert f"error ({code})" in status
        assert ("enter its media key" in status) if key is None else ("wrong key or tampered" in status)
    finally:
        page.close()


def test_chromium_detects_a_tampered_frame(encrypted_server, browser) -> None:
    srv, c = encrypted_server
    page = open_player(browser, srv, c["tampered"], c["key"])
    try:
        page.wait_for_function("window.ipfsPlayer.error !== null", timeout=15000)
        err = page.evaluate("window.ipfsPlayer.error")
        assert err["code"] == "sframe_auth_failed" and "frame 20 " in err["error"]
        assert page.evaluate("window.ipfsPlayer.sframe.decrypted") >= 20
    finally:
        page.close()
