"""Chromium plays a CID from the store over WebRTC on the node's player page."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ServerProcess, start_server
from webrtc_media import add_to_repo, make_mp4

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-loopback-in-peer-connection",
         "--disable-features=WebRtcHideLocalIpsWithMdns", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")


@pytest.fixture(scope="module")
def media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    repo = tmp_path_factory.mktemp("browser") / "repo"
    repo.mkdir()
    cids = add_to_repo(repo, {"video.mp4": make_mp4(6), "notes.txt": b"not a video\n" * 1000,
                              "small.mp4": make_mp4(6, width=320, height=240, audio=False)})
    srv = start_server(repo)
    try:
        yield srv, cids
    finally:
        srv.stop()


def wait_stats(page, ok, timeout: float = 15.0) -> dict:
    """Poll the player's getStats() figures until ``ok(stats)``."""
    deadline = time.monotonic() + timeout
    while True:
        stats = page.evaluate("window.ipfsPlayer.stats()")
        if ok(stats):
            return stats
        if time.monotonic() > deadline:
            raise AssertionError(f"player stats never got there: {stats}, state {page.evaluate('window.ipfsPlayer.state')}")
        page.wait_for_timeout(200)


def settled_count(page, stream: str, timeout: float = 6.0) -> int:
    """The stream's decoded-frame count once it has not moved for 0.6 s."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = page.evaluate("window.ipfsPlayer.stats()")["streams"][stream]
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= 0.6:
            return count
        page.wait_for_timeout(150)
    raise AssertionError(f"{stream} kept decoding for {timeout} s after it was paused (at {last} frames)")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize("quality", ["auto", "low"])  # stored H.264 as is; re-encoded at 400 kbit/s
def test_player_page_plays_cid_in_chromium(media_server: tuple[ServerProcess, dict[str, str]], browser,
                                           quality: str) -> None:
    srv, cids = media_server
    page = browser.new_page()
    try:
        page.goto(f"{srv.url}/webrtc/player?cid={cids['video.mp4']}&quality={quality}")
        page.wait_for_function("window.ipfsPlayer && window.ipfsPlayer.state === 'connection connected'", timeout=15000)
        first = wait_stats(page, lambda s: s["framesDecoded"] > 10 and s["currentTime"] > 0)
        page.wait_for_timeout(1500)
        later = page.evaluate("window.ipfsPlayer.stats()")
        assert later["framesDecoded"] > first["framesDecoded"] > 10
        assert later["currentTime"] > first["currentTime"] >= 0
        assert later["codec"] == "video/H264"
        server = page.evaluate("window.ipfsPlayer.serverStats()")
        assert server["tracks"]["video"]["mode"] == ("passthrough" if quality == "auto" else "transcode")
        size = page.evaluate("[document.getElementById('video').videoWidth, document.getElementById('video').videoHeight]")
        assert size == [640, 480]
    finally:
        page.close()


def test_player_page_reports_non_media(media_server: tuple[ServerProcess, dict[str, str]], browser) -> None:
    srv, cids = media_server
    page = browser.new_page()
    try:
        page.goto(f"{srv.url}/webrtc/player?cid={cids['notes.txt']}")
        page.wait_for_function("window.ipfsPlayer.error !== null", timeout=15000)
        err = page.evaluate("window.ipfsPlayer.error")
        assert err["code"] == "not_media"
        assert "error (not_media)" in page.inner_text("#status")
    finally:
        page.close()


def test_player_page_plays_a_grid_and_adds_a_stream_mid_session(media_server, browser) -> None:
    srv, cids = media_server
    page = browser.new_page()
    try:
        page.goto(f"{srv.url}/webrtc/player?cid={cids['video.mp4']}&cid={cids['small.mp4']}")
        page.wait_for_function("window.ipfsPlayer && window.ipfsPlayer.state === 'connection connected'", timeout=15000)
        wait_stats(page, lambda s: s["streams"].get("s0", 0) > 10 and s["streams"].get("s1", 0) > 10)
        size = page.evaluate("[document.getElementById('video-s1').videoWidth, document.getElementById('video-s1').videoHeight]")
        assert size == [320, 240]
        page.evaluate(f"window.ipfsPlayer.addStream({cids['small.mp4']!r}, {{loop: true}})")
        # renegotiated: the page answered the node's re-offer (extension ids kept: compat.aiortc)
        added = wait_stats(page, lambda s: s["streams"].get("s2", 0) > 10)
        # the streams already playing go on: the re-offer kept their payload types (compat.aiortc)
        wait_stats(page, lambda s: s["streams"]["s0"] > added["streams"]["s0"] + 15
                   and s["streams"]["s1"] > added["streams"]["s1"] + 15)
        page.evaluate("window.ipfsPlayer.control('s1', 'pause')")
        page.wait_for_function("(window.ipfsPlayer.streamStates || {}).s1 === 'paused'", timeout=5000)
        # frames sent before the pause may still be decoded (jitter buffer, a loaded CI
        # machine's decoder); the count must come to rest soon and then stay there
        held = settled_count(page, "s1")
        s2 = page.evaluate("window.ipfsPlayer.stats()")["streams"]["s2"]
        wait_stats(page, lambda s: s["streams"]["s2"] > s2 + 50)  # two more seconds of another stream
        assert page.evaluate("window.ipfsPlayer.stats()")["streams"]["s1"] <= held + 1
        assert page.evaluate("window.ipfsPlayer.error") is None
    finally:
        page.close()


def test_player_page_is_packaged() -> None:
    static = Path(__file__).resolve().parent.parent / "ipfs_kit_py" / "webrtc" / "static"
    assert (static / "player.html").is_file() and (static / "player.js").is_file()
