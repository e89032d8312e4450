"""The web console at / (issue 13), driven by Debian's Chromium through Playwright against
real server processes: each view's main action end to end, nothing requested outside
loopback, offline /docs and /redoc, the gateway listing and the 404 answers.

Screenshots of every view are written under the run's tmp dir (``.../console-shots*/``, the
path is printed with ``-s``; kept by pytest for its last three runs) for review.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import ROOT, VECTORS, ServerProcess, start_server, stream_bytes
from webrtc_media import add_to_repo, make_mp4

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-loopback-in-peer-connection",
         "--disable-features=WebRtcHideLocalIpsWithMdns", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
V = json.loads(VECTORS.read_text())
LOOPBACK = {"127.0.0.1", "::1", "[::1]", "localhost"}

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess, dict[str, str]]]:
    """Node A (a video and a text file in its repo) and node B, which accepts libp2p pushes from A."""
    base = tmp_path_factory.mktemp("console")
    repo_a = base / "a"
    repo_a.mkdir()
    media = add_to_repo(repo_a, {"clip.mp4": make_mp4(10),  # long enough to outlast a loaded machine
                                 "small.mp4": make_mp4(4, width=320, height=240, audio=False),
                                 "notes.txt": b"console notes\n" * 50})
    a = start_server(repo_a)
    try:
        a_id = httpx.post(f"{a.url}/api/v0/id", timeout=10).json()["ID"]
        b = start_server(base / "b", env={"IPFS_KIT_LIBP2P_ACCEPT_PUSH_FROM": a_id})
        try:
            yield a, b, media
        finally:
            b.stop()
    finally:
        a.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("console-shots")
    print(f"console screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A fresh browser context and page that records every request it makes."""

    def __init__(self, browser, shots: Path, width: int = 1280, height: int = 860) -> None:
        self.shots = shots
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.grant_permissions(["clipboard-read", "clipboard-write"])
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def close(self) -> None:
        self.context.close()
        outside = [u for u in self.requests if not _loopback(u)]
        assert not outside, f"requests outside loopback: {outside}"
        assert not self.errors, f"errors in the page: {self.errors}"

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in LOOPBACK


@pytest.fixture
def page(browser, shots: Path) -> Iterator[Page]:
    p = Page(browser, shots)
    try:
        yield p
    finally:
        p.close()


def wait_until(fn, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {value!r}")
        time.sleep(0.1)


def api(srv: ServerProcess, path: str, **params) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=30)


# -- Files -----------------------------------------------------------------------------------------
def test_files_upload_shows_kubo_cid_browse_preview_download(nodes, page: Page, tmp_path: Path) -> None:
    a, _, _ = nodes
    vec = next(f for f in V["files"] if f["name"] == "1MiB_plus_1")
    data = tmp_path / "big.bin"
    data.write_bytes(stream_bytes(vec["size"]))
    text = tmp_path / "hello.txt"
    text.write_text("hello from the console\n")
    pg = page.page
    pg.goto(f"{a.url}/")
    pg.wait_for_selector("#pick-files", state="attached")
    pg.set_input_files("#pick-files", [str(data), str(text)])
    big = pg.wait_for_selector("#uploads li[data-cid]:has-text('big.bin')", timeout=30000)
    assert big.get_attribute("data-cid") == vec["cid"]["v0"]  # Kubo's CID for these bytes
    assert big.eval_on_selector("progress", "p => p.value") == 100
    pg.wait_for_selector("#uploads li[data-cid]:has-text('hello.txt')")
    # CIDv1 raw leaves, as `ipfs add --cid-version=1`
    pg.select_option("#cid-version", "1")
    pg.set_input_files("#pick-files", [str(data)])
    v1 = pg.wait_for_selector(f"#uploads li[data-cid='{vec['cid']['v1raw']}']", timeout=30000)
    # copy button
    v1.query_selector("button.copy").click()
    assert pg.evaluate("window.ipfsConsole.copied") == vec["cid"]["v1raw"]
    page.shot("files-uploaded")

    # browse: open the text file by its CID; preview and download link
    hello_cid = pg.get_attribute("#uploads li:has-text('hello.txt')", "data-cid")
    pg.fill("#browse-path", hello_cid)
    pg.click("#browse-form button[type=submit]")
    pre = pg.wait_for_selector("#preview pre")
    assert pre.inner_text() == "hello from the console\n"
    href = pg.get_attribute("#browse a[download]", "href")
    assert httpx.get(f"{a.url}{href}", timeout=10).content == b"hello from the console\n"
    page.shot("files-preview")


def test_files_folder_upload_and_breadcrumbs(nodes, page: Page, tmp_path: Path) -> None:
    a, _, _ = nodes
    vec = next(d for d in V["directories"] if d["name"] == "testdir")
    root = tmp_path / "testdir"
    for rel, spec in vec["tree"].items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(spec["utf8"].encode() if "utf8" in spec else stream_bytes(spec["stream_prefix_bytes"]))
    pg = page.page
    pg.goto(f"{a.url}/#/files")
    pg.wait_for_selector("#pick-folder", state="attached")
    pg.set_input_files("#pick-folder", str(root))
    li = pg.wait_for_selector("#uploads li[data-cid]:has-text('testdir/')", timeout=30000)
    assert li.get_attribute("data-cid") == vec["cid"]["v0"]  # `ipfs add -r testdir`
    # browse into it: a listing, a sub directory, back through the breadcrumbs
    li.query_selector("a.cid").click()
    pg.wait_for_selector("#browse table:has-text('b.bin')")
    assert "293.0 KiB" in pg.inner_text("#browse table")  # 300000 bytes, human size
    pg.click("#browse button:has-text('sub')")
    pg.wait_for_selector("#browse table:has-text('c.txt')")
    pg.click("#browse button:has-text('c.txt')")
    assert pg.wait_for_selector("#preview pre").inner_text() == "nested file\n"
    crumbs = pg.inner_text("#browse ol.crumbs")
    assert "sub" in crumbs and "c.txt" in crumbs
    page.shot("files-folder")
    pg.click("#browse ol.crumbs li:first-child button")  # back to the root
    pg.wait_for_selector("#browse table:has-text('a.txt')")


def test_files_mfs_tree_mkdir_upload_copy_remove(nodes, page: Page, tmp_path: Path) -> None:
    """The MFS panel: make a folder, go into it, upload a file and a folder there (Kubo's CIDs;
    kept by gc without a pin), copy a CID in, see another client's change live, open a file,
    remove, and back up through the breadcrumbs."""
    a, _, media = nodes
    top = f"console-{os.getpid()}"  # the module's node is shared: a folder of its own
    vec = next(f for f in V["files"] if f["name"] == "256KiB_plus_1")
    data = tmp_path / "two-chunks.bin"
    data.write_bytes(stream_bytes(vec["size"]))
    dvec = next(d for d in V["directories"] if d["name"] == "testdir")
    folder = tmp_path / "testdir"
    for rel, spec in dvec["tree"].items():
        f = folder / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(spec["utf8"].encode() if "utf8" in spec else stream_bytes(spec["stream_prefix_bytes"]))
    pg = page.page
    pg.goto(f"{a.url}/#/files")
    pg.wait_for_selector("#mfs-panel[data-loaded='/']")
    assert pg.inner_text("#mfs-crumbs").strip() == "Files"
    # make a folder; it is listed, and it is in the node's MFS
    pg.fill("#mfs-folder-name", top)
    pg.click("#mfs-mkdir-form button[type=submit]")
    pg.click(f"#mfs tr[data-name='{top}'][data-type=directory] button.open")
    pg.wait_for_selector(f"#mfs-panel[data-loaded='/{top}']")
    assert pg.inner_text("#mfs tbody").startswith("Empty folder")
    assert [c.strip() for c in pg.locator("#mfs-crumbs li").all_inner_texts()] == ["Files", top]
    # upload a file and a folder into it: the add's CIDs (Kubo's), then files/cp
    pg.set_input_files("#mfs-pick", [str(data)])
    row = pg.wait_for_selector("#mfs tr[data-name='two-chunks.bin']", timeout=30000)
    assert row.get_attribute("data-cid") == vec["cid"]["v0"]
    assert pg.get_attribute("#uploads li:has-text('two-chunks.bin')", "data-mfs") == f"/{top}/two-chunks.bin"
    pg.set_input_files("#mfs-pick-folder", str(folder))
    row = pg.wait_for_selector("#mfs tr[data-name='testdir'][data-type=directory]", timeout=30000)
    assert row.get_attribute("data-cid") == dvec["cid"]["v0"]
    # not pinned, yet gc keeps it: everything under the MFS root stays
    assert vec["cid"]["v0"] not in api(a, "pin/ls").json()["Keys"]
    assert api(a, "repo/gc").status_code == 200
    read = api(a, "files/read", arg=f"/{top}/two-chunks.bin")
    assert read.status_code == 200 and read.content == stream_bytes(vec["size"])
    # copy a CID in, under a name
    pg.fill("#mfs-cp-cid", media["notes.txt"])
    pg.fill("#mfs-cp-name", "notes copy.txt")
    pg.click("#mfs-cp-form button[type=submit]")
    row = pg.wait_for_selector("#mfs tr[data-name='notes copy.txt']")
    assert row.get_attribute("data-cid") == media["notes.txt"] and "700 B" in row.inner_text()
    assert api(a, "files/stat", arg=f"/{top}/notes copy.txt").json()["Hash"] == media["notes.txt"]
    # another client changes the tree: the panel follows (mfs_changed)
    assert api(a, "files/mkdir", arg=f"/{top}/from-another-client").status_code == 200
    pg.wait_for_selector("#mfs tr[data-name='from-another-client'][data-type=directory]")
    folder_cid = api(a, "files/stat", arg=f"/{top}").json()["Hash"]
    pg.wait_for_selector(f"#mfs-cid:has-text('{folder_cid}')")
    # open a file: the Browse panel previews it under its MFS name
    pg.click("#mfs tr[data-name='notes copy.txt'] button.open")
    assert pg.wait_for_selector("#preview pre").inner_text().startswith("console notes\n")
    assert "notes copy.txt" in pg.inner_text("#browse dl")
    page.shot("files-mfs")
    # remove: cancelled keeps it, confirmed removes it
    pg.click("#mfs tr[data-name='notes copy.txt'] button.remove")
    pg.click("#confirm-dialog button[value=cancel]")
    assert api(a, "files/stat", arg=f"/{top}/notes copy.txt").status_code == 200
    pg.click("#mfs tr[data-name='notes copy.txt'] button.remove")
    pg.click("#confirm-dialog button[value=ok]")
    pg.wait_for_selector("#mfs tr[data-name='notes copy.txt']", state="detached")
    names = {e["Name"] for e in api(a, "files/ls", arg=f"/{top}").json()["Entries"]}
    assert names == {"two-chunks.bin", "testdir", "from-another-client"}
    pg.click("#mfs tr[data-name='testdir'] button.remove")  # a folder: removed with what it holds
    pg.click("#confirm-dialog button[value=ok]")
    pg.wait_for_selector("#mfs tr[data-name='testdir']", state="detached")
    assert api(a, "files/stat", arg=f"/{top}/testdir").status_code != 200
    # a name that exists: the error is shown, nothing changes
    pg.fill("#mfs-folder-name", "from-another-client")
    pg.click("#mfs-mkdir-form button[type=submit]")
    pg.wait_for_selector(".toast.err")
    # back to the top through the breadcrumbs
    pg.click("#mfs-crumbs li:first-child button")
    pg.wait_for_selector("#mfs-panel[data-loaded='/']")
    pg.wait_for_selector(f"#mfs tr[data-name='{top}'][data-type=directory]")


# -- Live ------------------------------------------------------------------------------------------
def test_live_shows_another_clients_add_resumes_and_pauses(nodes, page: Page) -> None:
    a, _, _ = nodes
    pg = page.page
    pg.goto(f"{a.url}/#/live")
    pg.wait_for_function("window.ipfsConsole.hub.state === 'connected'")
    cid1 = httpx.post(f"{a.url}/api/v0/add", files={"file": ("live1.txt", b"live one\n")}, timeout=10).json()["Hash"]
    pg.wait_for_selector(f"#events li[data-type=content_added]:has-text('{cid1}')")
    # the socket goes down; an add happens meanwhile; on reconnect it is replayed (since=last)
    pg.evaluate("window.ipfsConsole.hub.drop()")
    pg.wait_for_function("window.ipfsConsole.hub.state === 'disconnected'")
    cid2 = httpx.post(f"{a.url}/api/v0/add", files={"file": ("live2.txt", b"live two\n")}, timeout=10).json()["Hash"]
    pg.evaluate("window.ipfsConsole.hub.reconnect()")
    pg.wait_for_selector("#events li.note:has-text('reconnected: resumed after seq')")
    pg.wait_for_selector(f"#events li[data-type=content_added]:has-text('{cid2}')")
    assert pg.locator(f"#events li[data-type=content_added]:has-text('{cid2}')").count() == 1  # once
    # type filter: hide pin events
    pg.uncheck("#types input[value=pin_status_changed]")
    assert pg.locator("#events li[data-type=pin_status_changed]").count() == 0
    assert pg.locator("#events li[data-type=content_added]").count() >= 2
    # pause: new events are held, shown on resume
    pg.click("#pause")
    cid3 = httpx.post(f"{a.url}/api/v0/add", files={"file": ("live3.txt", b"live three\n")}, timeout=10).json()["Hash"]
    pg.wait_for_function("document.getElementById('live-status').textContent.includes('paused (')"
                         " && !document.getElementById('live-status').textContent.includes('paused (0 new)')")
    assert pg.locator(f"#events li:has-text('{cid3}')").count() == 0
    page.shot("live")
    pg.click("#pause")
    pg.wait_for_selector(f"#events li[data-type=content_added]:has-text('{cid3}')")


# -- Player ----------------------------------------------------------------------------------------
def test_player_plays_and_graphs_move(nodes, page: Page) -> None:
    a, _, media = nodes
    pg = page.page
    pg.goto(f"{a.url}/#/player?cid={media['clip.mp4']}")
    pg.click("#play-form button[type=submit]")
    pg.wait_for_function("window.ipfsConsole.player.state === 'connection connected'", timeout=45000)
    pg.wait_for_function("window.ipfsConsole.player.samples.filter(s => s.bitrate > 0 && s.fps > 0).length >= 3",
                         timeout=45000)
    first = pg.evaluate("window.ipfsConsole.player.samples.slice(-1)[0]")
    pg.wait_for_function(f"window.ipfsConsole.player.samples.slice(-1)[0].frames > {first['frames']}", timeout=45000)
    assert pg.evaluate("document.getElementById('play-video').videoWidth") == 640
    shown = pg.inner_text("#val-bitrate")
    assert re.fullmatch(r"\d+ kbit/s", shown) and int(shown.split()[0]) > 0
    assert pg.inner_text("#val-rtt").endswith("ms") and pg.inner_text("#val-fps") != "-"
    # the graph is drawn: the canvas holds non-blank pixels
    assert pg.evaluate("""(() => { const c = document.getElementById('graph-bitrate');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })()""") > 100
    # picking a quality while playing: the node switches, the switch is marked
    pg.select_option("#play-quality", "low")
    pg.wait_for_selector("#switches li:has-text('400 kbit/s')", timeout=45000)
    assert pg.evaluate("window.ipfsConsole.player.switches.length") >= 1
    page.shot("player")
    pg.click("#play-stop")


def test_player_adds_a_second_stream_to_the_session(nodes, page: Page) -> None:
    """Two CIDs in one WebRTC session: the second joins by renegotiation (add_stream), plays in
    its own video with its own graphs while the first goes on, and leaves (remove_stream)."""
    a, _, media = nodes
    pg = page.page
    pg.goto(f"{a.url}/#/player?cid={media['clip.mp4']}")
    pg.check("#play-loop")
    pg.click("#play-form button[type=submit]")
    pg.wait_for_selector("#add-stream:not([disabled])", timeout=45000)  # the node said connected
    pc_id = pg.evaluate("window.ipfsConsole.player.pcId")
    pg.fill("#add-cid", media["small.mp4"])
    pg.click("#add-stream")
    pg.wait_for_selector(".stream[data-stream=s1]", timeout=30000)
    pg.wait_for_function("(window.ipfsConsole.player.streams.s1?.samples || []).filter(s => s.bitrate > 0 && s.fps > 0).length >= 3",
                         timeout=45000)
    assert pg.evaluate("window.ipfsConsole.player.pcId") == pc_id  # the same session
    assert pg.evaluate("window.ipfsConsole.player.streams.s1.cid") == media["small.mp4"]
    assert pg.evaluate("document.getElementById('play-video-s1').videoWidth") == 320
    assert pg.evaluate("document.getElementById('play-video').videoWidth") == 640
    # both move: frames decoded rise in each stream
    frames = "window.ipfsConsole.player.streams.{}.samples.slice(-1)[0].frames"
    f0, f1 = pg.evaluate(frames.format("s0")), pg.evaluate(frames.format("s1"))
    pg.wait_for_function(f"{frames.format('s0')} > {f0} && {frames.format('s1')} > {f1}", timeout=30000)
    shown = pg.inner_text("#val-s1-bitrate")
    assert re.fullmatch(r"\d+ kbit/s", shown) and int(shown.split()[0]) > 0
    assert pg.inner_text("#val-s1-fps") != "-" and pg.inner_text("#val-s1-rtt").endswith("ms")
    assert pg.evaluate("""(() => { const c = document.getElementById('graph-s1-bitrate');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })()""") > 100
    page.shot("player-two-streams")
    # remove the second stream: its card goes, the first stream plays on
    pg.click(".stream[data-stream=s1] button.remove-stream")
    pg.wait_for_selector(".stream[data-stream=s1]", state="detached", timeout=30000)
    assert pg.evaluate("Object.keys(window.ipfsConsole.player.streams)") == ["s0"]
    f0 = pg.evaluate(frames.format("s0"))
    pg.wait_for_function(f"{frames.format('s0')} > {f0 + 20}", timeout=30000)
    assert pg.evaluate("window.ipfsConsole.player.pcId") == pc_id
    pg.click("#play-stop")


# -- Pins ------------------------------------------------------------------------------------------
def test_pins_list_filter_and_unpin(nodes, page: Page) -> None:
    a, _, media = nodes
    pg = page.page
    pg.goto(f"{a.url}/#/pins")
    row = pg.wait_for_selector(f"#pins tr[data-cid='{media['notes.txt']}']")
    assert "notes.txt" in row.inner_text() and "700 B" in row.inner_text()  # name and size from metadata
    pg.fill("#pin-filter", "clip")
    pg.wait_for_function("document.querySelectorAll('#pins tbody tr[data-cid]').length === 1")
    assert pg.get_attribute("#pins tbody tr[data-cid]", "data-cid") == media["clip.mp4"]
    pg.fill("#pin-filter", "")
    page.shot("pins")
    pg.click(f"#pins tr[data-cid='{media['notes.txt']}'] button.unpin")
    pg.wait_for_selector(f"#pins tr[data-cid='{media['notes.txt']}']", state="detached")
    assert media["notes.txt"] not in api(a, "pin/ls").json()["Keys"]
    # pin it again from the form; the list follows
    pg.fill("#pin-cid", media["notes.txt"])
    pg.click("#pin-form button[type=submit]")
    pg.wait_for_selector(f"#pins tr[data-cid='{media['notes.txt']}']")
    assert media["notes.txt"] in api(a, "pin/ls").json()["Keys"]


# -- Peers -----------------------------------------------------------------------------------------
def test_peers_connect_second_node(nodes, page: Page) -> None:
    a, b, _ = nodes
    ident = api(b, "id").json()
    pg = page.page
    pg.goto(f"{a.url}/#/peers")
    pg.wait_for_selector("#peer-count:has-text('connected')")
    pg.fill("#peer-addr", ident["Addresses"][0])
    pg.click("#connect-form button[type=submit]")
    pg.wait_for_selector(f"#peers tr[data-peer='{ident['ID']}']", timeout=20000)
    assert ident["ID"] in {p["Peer"] for p in api(a, "swarm/peers").json()["Peers"]}
    page.shot("peers")


class CircuitPeer:
    """A libp2p peer in this process (its own thread and event loop) that holds a Circuit Relay
    v2 reservation on ``relay_addr``: others reach it only at its /p2p-circuit address."""

    def __init__(self, relay_addr: str) -> None:
        self.relay_addr = relay_addr
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self.thread.start()
        if not self.ready.wait(60) or self.error is not None:
            raise AssertionError(f"no relay reservation: {self.error!r}")

    async def _main(self) -> None:
        from ipfs_kit_py.p2p.peer import IPFSLibp2pPeer
        from ipfs_kit_py.p2p.relay import Relay

        self.loop = asyncio.get_running_loop()
        self.done = asyncio.Event()
        try:
            peer = IPFSLibp2pPeer(role="worker")
            relay = Relay(peer)
            async with peer:
                self.circuit = await relay.reserve(self.relay_addr)
                self.id = peer.get_id()
                self.ready.set()
                await self.done.wait()
        except BaseException as e:
            self.error = e
            self.ready.set()

    def stop(self) -> None:
        if self.error is None:
            self.loop.call_soon_threadsafe(self.done.set)
        self.thread.join(30)


def test_peers_direct_relayed_traffic_and_standing(nodes, page: Page) -> None:
    """Each connected peer: direct or relayed (a /p2p-circuit dial through node B), and its traffic
    and standing from the reputation ledger after a bitswap fetch."""
    a, b, _ = nodes
    b_ident = api(b, "id").json()
    assert api(a, "swarm/connect", arg=b_ident["Addresses"][0]).status_code == 200
    data = os.urandom(300_000)  # two blocks A has never seen
    cid = httpx.post(f"{b.url}/api/v0/add", params={"pin": "true"}, files={"file": ("bs.bin", data)}, timeout=30).json()["Hash"]
    got = api(a, "libp2p/bitswap/fetch", arg=cid, peer=b_ident["ID"])
    assert got.status_code == 200, got.text
    target = CircuitPeer(b_ident["Addresses"][0])  # B relays (a master node serves hop)
    try:
        pg = page.page
        pg.goto(f"{a.url}/#/peers")
        row = pg.wait_for_selector(f"#peers tr[data-peer='{b_ident['ID']}'][data-standing=good]")
        assert row.get_attribute("data-relayed") == "false" and "direct" in row.inner_text()
        assert int(row.get_attribute("data-received")) >= len(data)
        assert "blocks" in row.query_selector("td:nth-child(4)").inner_text()
        ledger = api(a, "ipfs-kit/peer_reputation", arg=b_ident["ID"]).json()["Peers"][0]
        assert row.get_attribute("data-received") == str(ledger["bytes_received"])
        # a relayed connection: dial the circuit address from the console
        pg.fill("#peer-addr", target.circuit)
        pg.click("#connect-form button[type=submit]")
        relayed = pg.wait_for_selector(f"#peers tr[data-peer='{target.id}']", timeout=30000)
        assert relayed.get_attribute("data-relayed") == "true" and "relayed" in relayed.inner_text()
        assert "no record" in relayed.inner_text()  # nothing exchanged with it yet
        page.shot("peers-relayed-ledger")
        # B's console: A took the blocks from it
        pg.goto(f"{b.url}/#/peers")
        a_id = api(a, "id").json()["ID"]
        row = pg.wait_for_selector(f"#peers tr[data-peer='{a_id}']")
        assert int(row.get_attribute("data-sent")) >= len(data)
    finally:
        target.stop()


# -- Transfers -------------------------------------------------------------------------------------
def test_transfer_push_completes(nodes, page: Page) -> None:
    a, b, _ = nodes
    cid = httpx.post(f"{a.url}/api/v0/add", files={"file": ("push.bin", stream_bytes(700_000))}, timeout=30).json()["Hash"]
    assert cid not in api(b, "pin/ls").json().get("Keys", {})  # Kubo omits an empty Keys
    pg = page.page
    pg.goto(f"{a.url}/#/transfers")
    pg.fill("#push-cid", cid)
    pg.fill("#push-target", b.url)
    pg.click("#push-form button[type=submit]")
    job = pg.wait_for_selector(f".job[data-cid='{cid}'][data-status=done]", timeout=60000)
    assert job.query_selector("tr[data-channel=libp2p]").get_attribute("data-state") == "ok"  # B accepts A's pushes
    assert "done over libp2p" in job.inner_text()
    assert api(b, "pin/ls", arg=cid).json()["Keys"][cid]["Type"] == "recursive"
    page.shot("transfers")
    # only the HTTP channel: the attempt shows on its own row
    cid2 = httpx.post(f"{a.url}/api/v0/add", files={"file": ("push2.bin", b"second push\n" * 100)}, timeout=30).json()["Hash"]
    pg.fill("#push-cid", cid2)
    pg.uncheck("input[name=channel][value=libp2p]")
    pg.uncheck("input[name=channel][value=websocket]")
    pg.click("#push-form button[type=submit]")
    job = pg.wait_for_selector(f".job[data-cid='{cid2}'][data-status=done]", timeout=60000)
    assert job.query_selector("tr[data-channel=http]").get_attribute("data-state") == "ok"
    assert cid2 in api(b, "pin/ls").json()["Keys"]


# -- Node ------------------------------------------------------------------------------------------
def test_node_identity_checks_and_gc_with_confirmation(nodes, page: Page) -> None:
    a, _, _ = nodes
    ident = api(a, "id").json()
    pg = page.page
    pg.goto(f"{a.url}/#/node")
    pg.wait_for_selector(f"#peer-id:has-text('{ident['ID']}')")
    assert ident["Addresses"][0] in pg.inner_text("#addresses")
    assert pg.inner_text("#repo-size").endswith(("B", "KiB", "MiB"))
    pg.click("#check")
    pg.wait_for_function("window.ipfsConsole.checks && window.ipfsConsole.checks.done", timeout=90000)
    checks = pg.evaluate("window.ipfsConsole.checks")
    assert checks["http"]["ok"] and checks["websocket"]["ok"] and checks["webrtc"]["ok"], checks
    assert "frames decoded" in checks["webrtc"]["detail"]
    page.shot("node")
    # an unpinned block: GC cancelled keeps it, confirmed removes it
    cid = httpx.post(f"{a.url}/api/v0/add", params={"pin": "false"}, files={"file": ("gc.txt", b"collect me\n")},
                     timeout=10).json()["Hash"]
    pg.click("#gc")
    pg.click("#confirm-dialog button[value=cancel]")
    assert api(a, "block/stat", arg=cid).status_code == 200
    pg.click("#gc")
    pg.click("#confirm-dialog button[value=ok]")
    pg.wait_for_selector("#gc-result:has-text('blocks removed')", timeout=30000)
    assert api(a, "block/stat", arg=cid).status_code == 404


# -- around it -------------------------------------------------------------------------------------
def test_every_view_keyboard_labels_phone_width_loopback_only(nodes, browser, shots: Path) -> None:
    a, _, _ = nodes
    for width, suffix in ((1280, ""), (390, "-phone")):
        p = Page(browser, shots, width=width, height=844)
        try:
            pg = p.page
            pg.goto(f"{a.url}/")
            pg.wait_for_selector("#nav a")
            for view in ("files", "pins", "live", "player", "peers", "transfers", "node"):
                # keyboard: focus the view's link and press Enter
                pg.focus(f"#nav a[data-view={view}]")
                pg.keyboard.press("Enter")
                pg.wait_for_function(f"window.ipfsConsole.view === '{view}'")
                pg.wait_for_timeout(300)
                unlabelled = pg.evaluate("""[...document.querySelectorAll('main input, main select, main button, main textarea')]
                    .filter(e => e.type !== 'file' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                                 && !e.textContent.trim() && !e.title).map(e => e.outerHTML.slice(0, 80))""")
                assert not unlabelled, (view, unlabelled)
                overflow = pg.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, (view, width, overflow)
                p.shot(f"view-{view}{suffix}")
        finally:
            p.close()


def test_docs_and_redoc_work_offline(nodes, page: Page) -> None:
    a, _, _ = nodes
    pg = page.page
    pg.goto(f"{a.url}/docs")
    pg.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    assert "ipfs_kit_py" in pg.inner_text(".swagger-ui .info .title")
    pg.wait_for_selector(".opblock-summary-path:has-text('/api/v0/add')")
    page.shot("docs")
    pg.goto(f"{a.url}/redoc")
    pg.wait_for_selector("h1:has-text('ipfs_kit_py')", timeout=20000)
    page.shot("redoc")
    assert any(u.endswith("/console/vendor/redoc.standalone.js") for u in page.requests)


def test_gateway_listing_in_console_style(nodes, page: Page) -> None:
    a, _, _ = nodes
    files = [("file", ("site%2Fbig.bin", stream_bytes(300_000), "application/octet-stream")),
             ("file", ("site%2Fa.txt", b"a\n", "application/octet-stream"))]
    added = httpx.post(f"{a.url}/api/v0/add", params={"recursive": "true"},
                       files=[("file", ("site", b"", "application/x-directory")), *files], timeout=30)
    root = added.text.strip().splitlines()[-1]
    cid = json.loads(root)["Hash"]
    r = httpx.get(f"{a.url}/ipfs/{cid}/", timeout=10)
    assert r.status_code == 200 and "293.0 KiB" in r.text and "<svg" in r.text
    assert "&#128" not in r.text and not re.search("[\U0001F300-\U0001FAFF]", r.text)  # no emoji icons
    assert f'href="/#/files?path=/ipfs/{cid}"' in r.text  # back to the console
    pg = page.page
    pg.goto(f"{a.url}/ipfs/{cid}/")
    pg.click("text=Open in the console")
    pg.wait_for_selector("#browse table:has-text('big.bin')")
    page.shot("gateway-listing")


def test_unknown_paths(nodes) -> None:
    a, _, _ = nodes
    r = httpx.post(f"{a.url}/api/v0/no/such/command", timeout=10)
    assert r.status_code == 404
    body = r.json()
    assert body["Type"] == "error" and body["Code"] == 3 and "no/such/command" in body["Message"]
    r = httpx.get(f"{a.url}/no-such-page", headers={"Accept": "text/html,*/*"}, timeout=10)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert 'href="/"' in r.text and "Open the console" in r.text
    r = httpx.get(f"{a.url}/no-such-page", headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    assert httpx.get(f"{a.url}/console/../app.py", timeout=10).status_code == 404
    r = httpx.get(f"{a.url}/", timeout=10)
    assert r.status_code == 200 and '<script type="module" src="/console/app.js">' in r.text


def test_console_files_are_package_data() -> None:
    """Everything the console and the listing load is declared as package data."""
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ipfs_kit_py"]
    static = ROOT / "ipfs_kit_py" / "server" / "static" / "console"
    shipped = [p for p in static.rglob("*") if p.is_file()]
    assert {p.suffix for p in shipped} == {".html", ".js", ".css", ".svg"}
    for p in shipped:
        rel = p.relative_to(ROOT / "ipfs_kit_py")
        assert any(rel.match(pat) for pat in patterns), rel


def test_console_sends_the_saved_token(browser, shots: Path, tmp_path: Path) -> None:
    """On a node that requires a token: refused without one; with one saved in the Access
    token dialog, the HTTP calls (Bearer) and the WebSockets (subprotocol) pass."""
    from ipfs_kit_py.tokens import TokenStore

    repo = tmp_path / "repo"
    repo.mkdir()
    srv = start_server(repo)
    secret = TokenStore(repo).create("console", "write")  # from now on the node requires a token
    p = Page(browser, shots)
    try:
        pg = p.page
        pg.goto(f"{srv.url}/#/pins")
        pg.wait_for_selector("#pins td.empty:has-text('token')")  # 401, and what to do
        assert pg.evaluate("window.ipfsConsole.hub.state") != "connected"
        pg.click("#token-button")
        pg.fill("#token-input", secret)
        pg.click("#token-dialog button[value=save]")
        pg.wait_for_function("window.ipfsConsole.hub.state === 'connected'", timeout=15000)
        assert pg.evaluate("localStorage.getItem('ipfs-kit-token')") == secret
        pg.goto(f"{srv.url}/#/files")
        f = tmp_path / "t.txt"
        f.write_text("with a token\n")
        pg.set_input_files("#pick-files", [str(f)])
        cid = pg.wait_for_selector("#uploads li[data-cid]").get_attribute("data-cid")
        assert httpx.post(f"{srv.url}/api/v0/pin/ls", headers={"Authorization": f"Bearer {secret}"},
                          timeout=10).json()["Keys"][cid]
        pg.goto(f"{srv.url}/#/live")
        pg.wait_for_selector(f"#events li[data-type=content_added]:has-text('{cid}')")
        p.shot("token")
    finally:
        p.close()
        srv.stop()
