"""GC never loses data and never freezes the node (issue 9, GC / data-loss part).

Real server processes over real sockets on 127.0.0.1, and the model itself where the
race is inside one process. Every test is bounded in time; waits are for conditions.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import ServerProcess, start_server, stream_bytes

from ipfs_kit_py.content import dag
from ipfs_kit_py.content.blockstore import Blockstore, multihash_key
from ipfs_kit_py.content.car import write_car
from ipfs_kit_py.content.cid import CID, RAW
from ipfs_kit_py.content.importer import PROFILES, import_bytes
from ipfs_kit_py.errors import InvalidCAR
from ipfs_kit_py.events import EventBus
from ipfs_kit_py.gc_guard import GCGuard
from ipfs_kit_py.model import AddOptions, IPFSModel
from ipfs_kit_py.repo import Repo

NO_P2P = {"IPFS_KIT_LIBP2P_ENABLED": "false", "IPFS_KIT_WEBRTC_ENABLED": "false"}


# -- helpers -------------------------------------------------------------------------------------
def post(srv: ServerProcess, path: str, params: dict | None = None, timeout: float = 60, **kw) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=timeout, **kw)


def ndjson(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


def wait_until(cond: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def num_objects(srv: ServerProcess) -> int:
    return post(srv, "repo/stat", timeout=10).json()["NumObjects"]


def part_head(boundary: str, filename: str, ctype: str = "application/octet-stream", first: bool = True) -> bytes:
    return (("" if first else "\r\n") + f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode()


def part_tail(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode()


def open_upload(srv: ServerProcess, path: str, boundary: str, length: int, timeout: float = 60) -> http.client.HTTPConnection:
    """An HTTP request whose multipart body the test then sends piece by piece."""
    u = urlsplit(srv.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.putrequest("POST", f"/api/v0/{path}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    return conn


def send_request(srv: ServerProcess, path: str, timeout: float = 90) -> http.client.HTTPConnection:
    """Send a body-less POST and return the connection (its answer is read later)."""
    u = urlsplit(srv.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request("POST", f"/api/v0/{path}")
    return conn


def car_of(data: bytes, tmp: Path, profile: str = "v0") -> tuple[CID, list[CID], bytes]:
    src = Blockstore(tmp)
    root = import_bytes(data, src, PROFILES[profile]).cid
    cids = list(dag.walk(src, root))
    return root, cids, b"".join(write_car([root], ((c, src.get(c)) for c in cids)))


def block_file(repo: Path, cid: CID) -> Path:
    key = multihash_key(cid.multihash)
    return repo / "blocks" / key[-3:-1] / f"{key}.data"


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_server(tmp_path / "repo", env=NO_P2P)
    try:
        yield server
    finally:
        server.stop()


# -- 1. many GCs during a big add: no deadlock, one shared run -------------------------------------
@pytest.mark.timeout(240)
def test_many_gcs_during_a_big_add_neither_deadlock_nor_lose_it(srv: ServerProcess) -> None:
    """Twelve repo/gc while a 100 MiB add is half sent used to take every executor
    thread (each waiting for the add) while the add needed one: the server froze for
    good. Now waiters hold no thread, the twelve share one GC run, and adds, cats,
    pins and more GCs all finish within the deadline, with nothing lost."""
    garbage = ndjson(post(srv, "add", {"pin": "false"}, files={"file": ("g", b"unpinned garbage")}).text)[-1]["Hash"]
    kept_data = stream_bytes(700_000)
    kept = ndjson(post(srv, "add", files={"file": ("k", kept_data)}).text)[-1]["Hash"]
    before = num_objects(srv)

    big = random.Random(9).randbytes(100 << 20)
    b = "bigadd"
    head, tail = part_head(b, "big.bin"), part_tail(b)
    add = open_upload(srv, "add", b, len(head) + len(big) + len(tail), timeout=60)
    add.send(head + big[: 8 << 20])
    wait_until(lambda: num_objects(srv) > before, what="the add to write its first blocks")  # it holds the guard

    gcs = [send_request(srv, "repo/gc") for _ in range(12)]
    for _ in range(2):  # answered after the GC requests were read: they are waiting now
        assert post(srv, "version", timeout=10).status_code == 200

    def small_add(i: int) -> str:
        r = post(srv, "add", files={"file": (f"s{i}", f"small file {i}".encode())}, timeout=90)
        assert r.status_code == 200, r.text
        return ndjson(r.text)[-1]["Hash"]

    def cat_kept() -> bool:
        return post(srv, "cat", {"arg": kept}, timeout=90).content == kept_data

    def pin_kept() -> int:
        return post(srv, "pin/add", {"arg": kept}, timeout=90).status_code

    def gc() -> int:
        return post(srv, "repo/gc", timeout=90).status_code

    t0 = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        others = ([pool.submit(small_add, i) for i in range(4)] + [pool.submit(cat_kept) for _ in range(4)]
                  + [pool.submit(pin_kept) for _ in range(2)] + [pool.submit(gc) for _ in range(4)])
        view = memoryview(big)
        for off in range(8 << 20, len(big), 1 << 20):  # a frozen server stops reading: sendall times out
            add.sock.sendall(view[off: off + (1 << 20)])
        add.sock.sendall(tail)
        resp = add.getresponse()
        assert resp.status == 200
        root = ndjson(resp.read().decode())[-1]["Hash"]
        answers = []
        for conn in gcs:
            r = conn.getresponse()
            assert r.status == 200
            answers.append(ndjson(r.read().decode()))
        smalls = [f.result(timeout=90) for f in others[:4]]
        assert all(f.result(timeout=90) for f in others[4:8])
        assert [f.result(timeout=90) for f in others[8:]] == [200] * 6
    assert time.monotonic() - t0 < 120

    # the twelve shared one run: each reports the garbage block removed
    garbage_block = str(CID(1, RAW, CID.decode(garbage).multihash))  # GC names blocks as Kubo does
    for lines in answers:
        assert [line["Key"]["/"] for line in lines] == [garbage_block], lines
    assert answers.count(answers[0]) == 12

    # nothing of the add (nor of the others) was collected
    got = hashlib.sha256()
    with httpx.stream("POST", f"{srv.url}/api/v0/cat", params={"arg": root}, timeout=60) as r:
        for chunk in r.iter_bytes():
            got.update(chunk)
    assert got.digest() == hashlib.sha256(big).digest()
    pins = post(srv, "pin/ls").json()["Keys"]
    assert {root, kept, *smalls} <= set(pins)
    assert ndjson(post(srv, "repo/gc").text) == []
    verify = ndjson(post(srv, "repo/verify").text)
    assert verify[-1]["Msg"] == "verify complete, all blocks validated."


# -- 2. a slow multi-part dag/import keeps its blocks through a GC ----------------------------------
@pytest.mark.timeout(120)
def test_gc_during_a_slow_dag_import_deletes_none_of_its_blocks(srv: ServerProcess, tmp_path: Path) -> None:
    """Part one of a two-part dag/import is in; part two is slow; a GC runs. It used to
    collect part one's blocks (not pinned until every part is in): the pin then failed.
    Now the import holds the GC guard from its first part to its pins."""
    data_x, data_y = stream_bytes(1_500_000), b"second part " * 5000
    root_x, cids_x, car_x = car_of(data_x, tmp_path / "x")
    root_y, _, car_y = car_of(data_y, tmp_path / "y")
    b = "slowimport"
    body_1 = part_head(b, "x.car", "application/vnd.ipld.car") + car_x
    body_2 = part_head(b, "y.car", "application/vnd.ipld.car", first=False) + car_y + part_tail(b)
    imp = open_upload(srv, "dag/import", b, len(body_1) + len(body_2))
    imp.send(body_1 + body_2[:60])  # part two has begun, then stalls
    wait_until(lambda: num_objects(srv) >= len(cids_x), what="part one to be imported")

    gc: dict[str, httpx.Response] = {}
    gc_thread = threading.Thread(target=lambda: gc.setdefault("r", post(srv, "repo/gc", timeout=60)))
    gc_thread.start()
    gc_thread.join(3)  # time enough for an unguarded GC to sweep (it takes milliseconds)
    imp.send(body_2[60:])
    resp = imp.getresponse()
    lines = ndjson(resp.read().decode())
    assert resp.status == 200, lines
    pinned = {line["Root"]["Cid"]["/"]: line["Root"]["PinErrorMsg"] for line in lines if "Root" in line}
    assert pinned == {str(root_x): "", str(root_y): ""}, pinned
    gc_thread.join(60)
    removed = {line["Key"]["/"] for line in ndjson(gc["r"].text)}
    assert not removed & {str(c.to_v1()) for c in cids_x}
    assert post(srv, "cat", {"arg": str(root_x)}).content == data_x
    assert post(srv, "cat", {"arg": str(root_y)}).content == data_y
    assert ndjson(post(srv, "repo/verify").text)[-1]["Msg"] == "verify complete, all blocks validated."


# -- 3. an incomplete pinned DAG: GC reports it and goes on; verify finds it ------------------------
@pytest.mark.timeout(120)
def test_gc_reports_an_incomplete_pin_and_verify_finds_it(srv: ServerProcess) -> None:
    """A pinned file loses blocks on disk (a leaf of a v0 file, a raw leaf of a v1
    file). GC used to abort on the first (every GC failed from then on) and not notice
    the second; repo/verify said all was well. Now GC collects the garbage, reports
    each broken pin (result and log), keeps what is left of it; verify names them."""
    v0_data, v1_data = stream_bytes(1_100_000), stream_bytes(900_000)[::-1]
    v0 = ndjson(post(srv, "add", files={"file": ("v0.bin", v0_data)}).text)[-1]["Hash"]
    v1 = ndjson(post(srv, "add", {"cid-version": "1"}, files={"file": ("v1.bin", v1_data)}).text)[-1]["Hash"]
    whole = ndjson(post(srv, "add", files={"file": ("whole.bin", stream_bytes(300_000))}).text)[-1]["Hash"]
    garbage = ndjson(post(srv, "add", {"pin": "false"}, files={"file": ("g", b"garbage, unpinned")}).text)[-1]["Hash"]
    links = {c: [CID.decode(lk["Hash"]) for lk in post(srv, "ls", {"arg": c}).json()["Objects"][0]["Links"]]
             for c in (v0, v1)}
    lost = [links[v0][1], links[v1][2]]
    for cid in lost:  # gone from the disk, as after a crash or a careless hand
        block_file(srv.repo, cid).unlink()

    r = post(srv, "repo/gc")
    assert r.status_code == 200, r.text
    lines = ndjson(r.text)
    assert [line["Key"]["/"] for line in lines if "Key" in line] == [str(CID(1, RAW, CID.decode(garbage).multihash))]
    errors = [line["Error"] for line in lines if "Error" in line]
    assert len(errors) == 2 and all("is incomplete" in e for e in errors), errors
    assert any(v0 in e and str(lost[0]) in e for e in errors) and any(v1 in e and str(lost[1]) in e for e in errors)
    log = srv.log.read_text()
    assert f"pin {v0} is incomplete" in log and f"pin {v1} is incomplete" in log
    # what is left of the broken pins is kept, and the complete pin is whole
    assert block_file(srv.repo, links[v0][0]).exists() and block_file(srv.repo, links[v1][0]).exists()
    assert post(srv, "cat", {"arg": whole}).content == stream_bytes(300_000)
    # the pins themselves (type=all also lists the blocks below them, indirect)
    assert set(post(srv, "pin/ls", {"type": "recursive"}).json()["Keys"]) == {v0, v1, whole}

    verify = ndjson(post(srv, "repo/verify").text)
    msgs = [v["Msg"] for v in verify]
    assert f"pin {v0} is incomplete (block {lost[0]} is missing)" in msgs
    assert f"pin {v1} is incomplete (block {lost[1]} is missing)" in msgs
    assert msgs[-1] == "verify complete, 0 blocks were corrupt, 2 pins are incomplete"
    assert not any(whole in m for m in msgs)

    # repaired by adding the file again: GC and verify are clean
    assert ndjson(post(srv, "add", files={"file": ("v0.bin", v0_data)}).text)[-1]["Hash"] == v0
    assert ndjson(post(srv, "add", {"cid-version": "1"}, files={"file": ("v1.bin", v1_data)}).text)[-1]["Hash"] == v1
    assert not any("Error" in line for line in ndjson(post(srv, "repo/gc").text))
    assert ndjson(post(srv, "repo/verify").text)[-1]["Msg"] == "verify complete, all blocks validated."


# -- 4. uploads are bounded in time and size on every path ------------------------------------------
class Trickle:
    """A raw HTTP upload that sends ``first`` and then one byte every ``every`` s
    (as a slow attacker would: never idle long enough for the idle timeout)."""

    def __init__(self, srv: ServerProcess, path: str, ctype: str, first: bytes, every: float = 0.3) -> None:
        u = urlsplit(srv.url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=30)
        self.sock.sendall((f"POST /api/v0/{path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: {ctype}\r\n"
                           f"Content-Length: {len(first) + 10_000}\r\n\r\n").encode() + first)
        self.every = every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.wait(self.every):
                self.sock.sendall(b"x")
        except OSError:
            pass  # the server gave up on us

    def answer(self) -> tuple[int, str]:
        try:
            return read_response(self.sock)
        finally:
            self.stop.set()
            self.sock.close()


def read_response(sock: socket.socket) -> tuple[int, str]:
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    return resp.status, resp.read().decode(errors="replace")


def timed_gc(srv: ServerProcess) -> tuple[float, httpx.Response]:
    t0 = time.monotonic()
    r = post(srv, "repo/gc", timeout=40)
    return time.monotonic() - t0, r


@pytest.mark.timeout(180)
def test_trickling_uploads_are_cut_off_by_the_upload_deadline(tmp_path: Path) -> None:
    """One byte every 0.3 s never trips the idle timeout (2 s here); it used to hold the
    GC guard for as long as the sender liked. server.upload_timeout (4 s here) ends
    every upload path: multipart add, dag/import, block/put and dag_import on /ws."""
    from websockets.sync.client import connect

    srv = start_server(tmp_path / "repo", env={**NO_P2P, "IPFS_KIT_SERVER_UPLOAD_IDLE_TIMEOUT": "2",
                                               "IPFS_KIT_SERVER_UPLOAD_TIMEOUT": "4"})
    try:
        b = "trickle"
        ctype = f"multipart/form-data; boundary={b}"
        before = num_objects(srv)
        add = Trickle(srv, "add", ctype, part_head(b, "slow.bin") + stream_bytes(300_000))
        wait_until(lambda: num_objects(srv) > before, what="the add's first block")  # it holds the guard
        waited, gc = timed_gc(srv)
        status, reply = add.answer()
        assert gc.status_code == 200 and waited < 4 + 5, waited
        assert status == 408 and "server.upload_timeout" in json.loads(reply)["Message"], reply

        _, _, car = car_of(stream_bytes(400_000), tmp_path / "car")
        imp = Trickle(srv, "dag/import", ctype, part_head(b, "slow.car", "application/vnd.ipld.car") + car[:1000])
        for _ in range(2):  # the server has read the first part's start: the import holds the guard
            assert post(srv, "version").status_code == 200
        waited, gc = timed_gc(srv)
        status, reply = imp.answer()
        assert gc.status_code == 200 and waited < 4 + 5, waited
        assert status == 408 and "server.upload_timeout" in json.loads(reply)["Message"], reply

        blk = Trickle(srv, "block/put", ctype, part_head(b, "blk"))
        t0 = time.monotonic()
        status, reply = blk.answer()
        assert status == 408 and time.monotonic() - t0 < 4 + 5, reply

        ws_url = srv.url.replace("http://", "ws://") + "/ws"
        with connect(ws_url, open_timeout=10, close_timeout=5) as ws:
            json.loads(ws.recv(timeout=10))  # welcome
            ws.send(json.dumps({"id": 1, "action": "dag_import"}))
            ws.send(car[:1000])
            stop = threading.Event()

            def trickle_ws() -> None:
                try:
                    while not stop.wait(0.3):
                        ws.send(b"x")
                except Exception:  # noqa: BLE001 - the server closed the connection
                    pass

            sender = threading.Thread(target=trickle_ws, daemon=True)
            for _ in range(2):
                assert post(srv, "version").status_code == 200
            sender.start()
            waited, gc = timed_gc(srv)
            assert gc.status_code == 200 and waited < 4 + 5, waited
            answer = json.loads(ws.recv(timeout=10))
            stop.set()
            assert answer["type"] == "error" and answer["id"] == 1 and answer["code"] == "upload_timeout", answer
    finally:
        srv.stop()


@pytest.mark.timeout(60)
def test_request_bodies_have_a_default_limit(srv: ServerProcess) -> None:
    """There was no default limit: a client could declare (and send) any size. The
    default server.max_request_body is 64 GiB; a body declared larger is refused at
    once with 413 and Kubo's error shape, before anything is read."""
    from ipfs_kit_py.config import ServerSettings

    assert ServerSettings().max_request_body == 64 << 30 and ServerSettings().upload_timeout == 3600
    u = urlsplit(srv.url)
    for path in ("add", "dag/import", "block/put"):
        with socket.create_connection((u.hostname, u.port), timeout=10) as s:
            s.sendall((f"POST /api/v0/{path} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                       f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {(64 << 30) + 1}\r\n\r\n").encode())
            status, reply = read_response(s)
        assert status == 413, reply
        body = json.loads(reply)
        assert body["Type"] == "error" and "server.max_request_body" in body["Message"]


@pytest.mark.timeout(60)
def test_a_body_over_the_limit_is_refused_as_it_streams(tmp_path: Path) -> None:
    """No Content-Length (chunked): the limit is counted as the body arrives."""
    srv = start_server(tmp_path / "repo", env={**NO_P2P, "IPFS_KIT_SERVER_MAX_REQUEST_BODY": "100000"})
    try:
        b = "limit"

        def body() -> Iterator[bytes]:
            yield part_head(b, "big.bin")
            for _ in range(20):
                yield b"y" * 10_000
            yield part_tail(b)

        r = httpx.post(f"{srv.url}/api/v0/add", content=body(), timeout=30,
                       headers={"Content-Type": f"multipart/form-data; boundary={b}"})
        assert r.status_code == 413 and "server.max_request_body" in r.json()["Message"], r.text
        assert post(srv, "version").status_code == 200
    finally:
        srv.stop()


# -- 5. the model: a failed import never removes blocks another writer relies on ---------------------
@pytest.fixture
def model(tmp_path: Path) -> IPFSModel:
    return IPFSModel(Repo(tmp_path / "repo"), EventBus())


async def test_a_failed_car_import_keeps_blocks_an_add_relies_on(model: IPFSModel, tmp_path: Path) -> None:
    """A big CAR import writes its first 64 MiB of blocks, then turns out truncated and
    removes the blocks it wrote. Meanwhile an add of the same bytes found those blocks
    present (so it did not write them) and pinned its root: they used to be removed
    under it. Now the store records that the add relied on them, and they stay."""
    data = random.Random(5).randbytes(70 << 20)
    root, cids, car = car_of(data, tmp_path / "src")
    spilled = asyncio.Event()
    added = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        for off in range(0, len(car) - 100, 1 << 20):
            yield car[off: min(off + (1 << 20), len(car) - 100)]
            if off > (66 << 20) and not spilled.is_set():  # the first 64 MiB are on disk now
                spilled.set()
                await asyncio.wait_for(added.wait(), 60)

    async def add_same() -> CID:
        await spilled.wait()
        try:
            return (await model.add_bytes(data, "same.bin")).cid
        finally:
            added.set()

    results = await asyncio.wait_for(asyncio.gather(model.car_import(chunks()), add_same(), return_exceptions=True), 120)
    assert isinstance(results[0], InvalidCAR) and results[1] == root
    assert model.index.pin_type(str(root)) == "recursive"
    got = hashlib.sha256()
    async for chunk in model.cat(root):
        got.update(chunk)
    assert got.digest() == hashlib.sha256(data).digest()
    report = await model.repo_verify()
    assert report.ok, (report.corrupt, report.incomplete)


async def test_a_failed_car_import_still_removes_what_only_it_wrote(model: IPFSModel, tmp_path: Path) -> None:
    model.car_spill_bytes = 256 << 10  # write blocks out early, as a big CAR does
    root, cids, car = car_of(stream_bytes(3_000_000), tmp_path / "src")
    truncated = car[:-100]
    with pytest.raises(InvalidCAR):
        await model.car_import([truncated[i: i + 100_000] for i in range(0, len(truncated), 100_000)])
    assert list(model.store.multihashes()) == []
    assert model.store._claims == {}  # nothing left behind in the records either


# -- 6. the guard itself: no thread is a waiter, nested holds, collapsed runs, cancellation ---------
async def test_gcs_adds_imports_and_pins_together_finish_on_two_threads(model: IPFSModel, tmp_path: Path) -> None:
    """Everything at once with a default executor of only two threads: waiting for the
    guard takes no thread, so nothing can starve the holders; nothing is lost."""
    from concurrent.futures import ThreadPoolExecutor as Pool

    loop = asyncio.get_running_loop()
    pool = Pool(2)
    loop.set_default_executor(pool)
    datas = [stream_bytes(200_000 + 1000 * i) for i in range(8)]
    cars = [car_of(stream_bytes(300_000 + 7 * i)[::-1], tmp_path / f"car{i}") for i in range(4)]
    old = await model.add_bytes(b"pinned before", "old.txt")
    jobs = ([model.add_bytes(d, f"f{i}") for i, d in enumerate(datas)]
            + [model.car_import([car]) for _, _, car in cars]
            + [model.gc() for _ in range(20)]
            + [model.pin_add(old.cid) for _ in range(4)])
    random.Random(3).shuffle(jobs)
    results = await asyncio.wait_for(asyncio.gather(*jobs), 120)
    adds = [r for r in results if hasattr(r, "tsize")]
    assert len(adds) == 8 and len([r for r in results if isinstance(r, tuple)]) == 4
    for d, r in zip(datas, sorted(adds, key=lambda r: r.name), strict=True):
        assert b"".join([c async for c in model.cat(r.cid)]) == d
    for root, _, _ in cars:
        assert model.index.pin_type(str(root)) == "recursive"
    assert (await model.repo_verify()).ok
    assert (await model.gc()).removed == []
    pool.shutdown()


async def test_concurrent_gc_requests_share_one_run(model: IPFSModel) -> None:
    await model.add_bytes(b"garbage", "g", options=_unpinned())
    async with model.gc_guard():  # a writer holds the guard: every GC request waits
        waiting = [asyncio.ensure_future(model.gc()) for _ in range(10)]
        await _until(lambda: model._gc.gc_waiting == 1)
        assert not any(t.done() for t in waiting)
    results = await asyncio.wait_for(asyncio.gather(*waiting), 30)
    assert all(r is results[0] for r in results) and len(results[0].removed) == 1
    assert (await model.gc()) is not results[0]  # a new request after the run: a new run


async def test_a_holder_calling_guarded_methods_while_gc_waits_does_not_deadlock(model: IPFSModel, tmp_path: Path) -> None:
    """A transfer holds the guard, a GC queues behind it (new writers now wait), and the
    transfer then pins, imports and adds: those join its hold instead of queueing
    behind the GC that waits for them."""
    root, _, car = car_of(stream_bytes(500_000), tmp_path / "src")
    async with model.gc_guard():
        await model.car_import([car], pin_roots=False)
        gc = asyncio.ensure_future(model.gc())
        await _until(lambda: model._gc.gc_waiting == 1)
        # an unrelated writer (a task not started under this hold) waits for the GC
        other = _detached(model.add_bytes(b"unrelated", "u"))
        await asyncio.wait_for(model.pin_root(root), 10)
        await asyncio.wait_for(model.pin_add(root), 10)
        await asyncio.wait_for(model.add_bytes(b"nested add", "n"), 10)
        await asyncio.wait_for(model.block_put(b"nested block", pin=True), 10)
        assert not gc.done() and not other.done()
    await asyncio.wait_for(asyncio.gather(gc, other), 30)
    assert model.index.pin_type(str(root)) == "recursive"
    assert b"".join([c async for c in model.cat(root)]) == stream_bytes(500_000)


async def test_cancelled_waiters_leave_the_guard_consistent() -> None:
    g = GCGuard()
    reader = await g.acquire()
    gc = asyncio.ensure_future(_exclusive(g))
    await _until(lambda: g.gc_waiting == 1)
    late = _detached(_hold(g))  # another writer: queued behind the waiting GC
    await asyncio.sleep(0)
    assert not late.done()
    gc.cancel()  # the GC gives up: the queued writer goes at once
    await asyncio.wait_for(late, 5)
    reader.release()
    assert g.readers == 0 and not g.gc_running and g.gc_waiting == 0

    reader = await g.acquire()
    gc = asyncio.ensure_future(_exclusive(g))
    await _until(lambda: g.gc_waiting == 1)
    late = _detached(_hold(g))
    await asyncio.sleep(0)
    late.cancel()  # a queued writer gives up: no share is left behind
    with pytest.raises(asyncio.CancelledError):
        await late
    reader.release()
    await asyncio.wait_for(gc, 5)
    assert g.readers == 0 and not g.gc_running
    async with g.exclusive():
        pass


def _unpinned() -> AddOptions:
    return AddOptions(pin=False)


async def _until(cond: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.005)


def _detached(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task that does not share its creator's hold (as an unrelated request)."""
    return asyncio.get_running_loop().create_task(coro, context=GCGuard.detached())


async def _exclusive(g: GCGuard) -> None:
    async with g.exclusive():
        pass


async def _hold(g: GCGuard) -> None:
    async with g.shared():
        pass
