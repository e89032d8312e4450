"""Reads that reach the network: our nodes in separate processes (the real server),
talking bitswap and the DHT over loopback.

B, connected to A, reads A's content with the ordinary verbs (cat, get, ls, stat,
pin add, block get, dag export, the gateway); C, which knows only B, finds A on
the DHT and serves A's file on its gateway, a Range in the middle of a large file
included. Faults: a provider killed mid-fetch, a provider whose block is corrupt
on disk, ``--offline`` on missing content, a client that goes away mid-fetch.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, ServerProcess, start_server, stream_bytes

# quick failures for what nobody has; the rest as shipped
FAST = {"IPFS_KIT_RETRIEVAL_FIND_TIMEOUT": "20", "IPFS_KIT_RETRIEVAL_PROVIDER_SEARCH_DELAY": "0.2"}


def api(srv: ServerProcess, path: str, timeout: float = 60, **params: str) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=timeout)


def add(srv: ServerProcess, data: bytes, name: str = "f", **params: str) -> str:
    r = httpx.post(f"{srv.url}/api/v0/add", params=params, files={"file": (name, data)}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()["Hash"] if "\n" not in r.text.strip() else json.loads(r.text.strip().splitlines()[-1])["Hash"]


def peer_addr(srv: ServerProcess) -> str:
    info = api(srv, "id").json()
    return next(a for a in info["Addresses"] if "/127.0.0.1/" in a)


def connect(a: ServerProcess, b: ServerProcess) -> None:
    r = api(a, "swarm/connect", arg=peer_addr(b))
    assert r.status_code == 200, r.text


def peer_id(srv: ServerProcess) -> str:
    return api(srv, "id").json()["ID"]


def wait_for(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def has_block(srv: ServerProcess, cid: str) -> bool:
    return api(srv, "block/stat", arg=cid, offline="true").status_code == 200


def history(srv: ServerProcess, types: list[str]) -> list[dict]:
    from websockets.sync.client import connect as ws_connect

    with ws_connect(srv.url.replace("http://", "ws://") + "/ws/notifications", open_timeout=10) as ws:
        ws.send(json.dumps({"action": "get_history", "notification_types": types, "limit": 1000}))
        while True:
            msg = json.loads(ws.recv(timeout=10))
            if msg.get("type") == "history":
                return msg["events"]


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(name: str, env: dict[str, str] | None = None) -> ServerProcess:
        srv = start_server(tmp_path / name, env={**FAST, **(env or {})})
        started.append(srv)
        return srv

    try:
        yield start
    finally:
        for srv in started:
            srv.stop()


def test_connected_peer_reads_with_the_ordinary_verbs(nodes: Callable[..., ServerProcess], tmp_path: Path) -> None:
    a, b = nodes("a"), nodes("b")
    data = stream_bytes(3_000_000)  # 12 leaves under a root
    cid = add(a, data)
    tree = httpx.post(f"{a.url}/api/v0/add", params={"wrap-with-directory": "true"},
                      files=[("file", ("x.txt", b"hello x")), ("file", ("y.bin", stream_bytes(300_000)))],
                      timeout=60).text.strip().splitlines()
    dir_cid = json.loads(tree[-1])["Hash"]
    assert api(b, "cat", arg=cid).status_code == 404  # not connected: nobody to ask
    connect(b, a)

    # cat streams A's file through bitswap
    r = api(b, "cat", arg=cid)
    assert r.status_code == 200, r.text
    assert r.content == data
    # wants asked together go out together (one message per peer per turn of B's loop, and
    # the read-ahead topped up half a window at a time): 13 blocks, far fewer messages
    wants = api(a, "bitswap/stat").json()["MessagesReceived"]
    assert wants <= 8, wants
    # the blocks are stored unpinned: gc takes them back
    assert has_block(b, cid)
    assert cid not in api(b, "pin/ls").json().get("Keys", {})  # Kubo omits an empty Keys
    api(b, "repo/gc")
    assert not has_block(b, cid)

    # ls and stat of a remote directory; get as TAR; a path through it
    ls = api(b, "ls", arg=dir_cid).json()["Objects"][0]["Links"]
    assert sorted((e["Name"], e["Type"], e["Size"]) for e in ls) == [("x.txt", 2, 7), ("y.bin", 2, 300_000)]
    assert api(b, "files/stat", arg=f"/ipfs/{dir_cid}").json()["Type"] == "directory"
    assert api(b, "cat", arg=f"/ipfs/{dir_cid}/x.txt").content == b"hello x"
    tar = tarfile.open(fileobj=io.BytesIO(api(b, "get", arg=dir_cid).content))
    assert tar.extractfile(f"{dir_cid}/y.bin").read() == stream_bytes(300_000)  # type: ignore[union-attr]

    # pin add with progress: Kubo's lines, then the pin; the DAG is complete and pinned
    api(b, "repo/gc")
    r = api(b, "pin/add", arg=cid, progress="true")
    assert r.status_code == 200, r.text
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines[-1] == {"Pins": [cid]}
    assert [x["Progress"] for x in lines[:-1]][-1] == 13  # root + 12 leaves
    assert api(b, "pin/ls", arg=cid).json()["Keys"][cid]["Type"] == "recursive"
    api(a, "pin/rm", arg=cid)
    api(a, "repo/gc")
    assert api(b, "cat", arg=cid, offline="true").content == data  # B holds it all now

    # block get and dag export of content only A has
    raw = add(a, b"a raw block", "r", **{"cid-version": "1"})
    assert api(b, "block/get", arg=raw).content == b"a raw block"
    r = api(b, "dag/export", arg=dir_cid)
    assert r.status_code == 200 and r.content[:2] != b""
    parsed = httpx.post(f"{nodes('c').url}/api/v0/dag/import", files={"file": ("c.car", r.content)}, timeout=60)
    assert json.loads(parsed.text.splitlines()[0])["Root"]["Cid"]["/"] == dir_cid

    # the fetches were announced with the provider used
    events = history(b, ["transfer_started", "transfer_completed"])
    done = [e["data"] for e in events if e["type"] == "transfer_completed" and e["data"]["kind"] == "cat"]
    # one transfer (one session) of 13 blocks (root + 12 leaves): the stat that sizes the answer
    # shares the body's read
    assert done and done[0]["providers"] == [peer_id(a)] and done[0]["blocks"] == 13
    assert not [e for e in events if e["data"]["cid"] == cid and e["data"]["kind"] == "stat"]


def test_cli_offline_timeout_and_pin_progress(nodes: Callable[..., ServerProcess]) -> None:
    a, b = nodes("a"), nodes("b")
    data = stream_bytes(1_500_000)
    cid = add(a, data)
    connect(b, a)

    def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
        r = subprocess.run([sys.executable, "-m", "ipfs_kit_py.cli", "--api", b.url, *args],
                           capture_output=True, timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "120"})
        r.stderr = r.stderr.decode("utf-8", "replace")  # type: ignore[assignment]
        return r

    t = time.monotonic()
    assert api(b, "cat", arg=cid, offline="true").status_code == 404
    assert time.monotonic() - t < 5  # fails fast (a fetch would wait for the find timeout)
    r = cli("--offline", "cat", cid)
    assert r.returncode == 1 and "not found locally (offline)" in r.stderr, r.stderr
    r = cli("pin", "add", "--progress", cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == f"pinned {cid} recursively"
    r = cli("--offline", "cat", cid)
    assert r.returncode == 0 and r.stdout == data
    # --timeout stops a fetch still waiting for providers (this node would search the DHT in a minute)
    d = nodes("d", env={"IPFS_KIT_RETRIEVAL_PROVIDER_SEARCH_DELAY": "60", "IPFS_KIT_RETRIEVAL_FIND_TIMEOUT": "120"})
    connect(d, a)
    missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    t = time.monotonic()
    r = cli("--api", d.url, "--timeout", "1500ms", "cat", missing)
    assert r.returncode == 1 and "context deadline exceeded" in r.stderr, r.stderr
    assert time.monotonic() - t < 30  # not the 60 s provider search (the CLI's own start is slow under load)


def test_offline_answers_fast_and_clearly(nodes: Callable[..., ServerProcess]) -> None:
    a, b = nodes("a"), nodes("b")
    cid = add(a, stream_bytes(100_000))
    connect(b, a)
    t = time.monotonic()
    r = api(b, "cat", arg=cid, offline="true")
    assert r.status_code == 404
    assert r.json()["Message"] == f"block was not found locally (offline): {cid}"
    r = api(b, "pin/add", arg=cid, offline="true")
    assert r.status_code == 404 and "offline" in r.json()["Message"]
    assert time.monotonic() - t < 5
    # the gateway's only-if-cached probe never fetches either
    r = httpx.get(f"{b.url}/ipfs/{cid}", headers={"Cache-Control": "only-if-cached"}, timeout=30)
    assert r.status_code == 412
    assert not has_block(b, cid)
    # a node-wide offline setting
    c = nodes("c", env={"IPFS_KIT_RETRIEVAL_OFFLINE": "true"})
    connect(c, a)
    assert api(c, "cat", arg=cid).status_code == 404
    assert api(c, "cat", arg=cid, offline="false").status_code == 200


def test_dht_provider_found_by_a_node_that_knows_only_another(nodes: Callable[..., ServerProcess]) -> None:
    a, b = nodes("a"), nodes("b")
    connect(b, a)
    data = stream_bytes(8 << 20)  # 32 leaves of 256 KiB under one root
    cid = add(a, data, "big.bin")

    def b_knows_a_provides() -> bool:  # A announced its pin to its DHT neighbour B
        lines = api(b, "routing/findprovs", arg=cid).text.splitlines()
        return peer_id(a) in [r["ID"] for line in lines for r in json.loads(line)["Responses"]]

    wait_for(b_knows_a_provides, 30)
    c = nodes("c")
    connect(c, b)
    # C asks B (DONT_HAVE), searches the DHT, dials A and reads from it: a Range in the middle first
    start, end = 4_000_000, 4_100_000
    r = httpx.get(f"{c.url}/ipfs/{cid}", headers={"Range": f"bytes={start}-{end}"}, timeout=60)
    assert r.status_code == 206, r.text
    assert r.content == data[start:end + 1]
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    # only the blocks the range covers: the root, the leaf (or two) holding the range, the first leaf (type sniffing)
    assert api(c, "repo/stat").json()["NumObjects"] <= 4
    assert peer_id(a) in [p["Peer"] for p in api(c, "swarm/peers").json()["Peers"]]
    # then the whole file, streamed as it arrives
    with httpx.stream("GET", f"{c.url}/ipfs/{cid}", timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(len(data))
        body = b"".join(r.iter_bytes())
    assert body == data
    assert not has_block(b, cid)  # B only pointed the way
    done = [e["data"] for e in history(c, ["transfer_completed"]) if e["data"]["cid"] == cid]
    assert done and all(d["providers"] == [peer_id(a)] for d in done)


def corrupt_every_block(repo: Path) -> int:
    n = 0
    for f in (repo / "blocks").glob("*/*.data"):
        raw = bytearray(f.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        f.write_bytes(bytes(raw))
        n += 1
    return n


def test_faults_killed_provider_and_corrupt_provider(nodes: Callable[..., ServerProcess]) -> None:
    data = stream_bytes(24 << 20)
    a1, a2, b = nodes("a1"), nodes("a2"), nodes("b")
    cid = add(a1, data)
    assert add(a2, data) == cid
    connect(b, a1)
    connect(b, a2)
    id1, id2 = peer_id(a1), peer_id(a2)
    # a provider killed mid-fetch: the read completes from the other one
    got = bytearray()
    with httpx.stream("POST", f"{b.url}/api/v0/cat", params={"arg": cid}, timeout=60) as r:
        assert r.status_code == 200
        it = r.iter_bytes()
        while len(got) < 2 << 20:
            got += next(it)
        a1.proc.kill()
        for chunk in it:
            got += chunk
    assert bytes(got) == data
    done = [e["data"] for e in history(b, ["transfer_completed"]) if e["data"]["cid"] == cid]
    assert id2 in done[-1]["providers"] and set(done[-1]["providers"]) <= {id1, id2}
    # a provider whose blocks are corrupt on its disk: its bytes are refused, it is banned, the other serves
    a1.proc.wait(10)
    api(b, "repo/gc")
    bad = nodes("bad")
    assert add(bad, data) == cid
    bad_id = peer_id(bad)
    assert corrupt_every_block(bad.repo) > 90
    connect(b, bad)
    # with a2 disconnected, the bad peer is the only one connected, so it is surely asked (with both
    # connected, a2's good record may get it every block); its corrupt bytes get it banned, and the
    # provider search (the DHT) finds a2 again, which serves the read
    assert api(b, "swarm/disconnect", arg=peer_addr(a2)).status_code == 200
    r = api(b, "pin/add", arg=cid)
    assert r.status_code == 200, r.text
    assert api(b, "cat", arg=cid, offline="true").content == data
    assert api(b, "pin/rm", arg=cid).status_code == 200
    verify = api(b, "repo/verify").text.splitlines()
    assert json.loads(verify[-1])["Msg"] == "verify complete, all blocks validated."
    wait_for(lambda: bad_id not in [p["Peer"] for p in api(b, "swarm/peers").json()["Peers"]])
    # banned: it cannot be connected again, and nothing more is taken from it
    r = api(b, "swarm/connect", arg=peer_addr(bad))
    assert r.status_code == 403 and "banned" in r.json()["Message"]
    api(b, "repo/gc")
    a2.stop()
    t = time.monotonic()
    r = api(b, "cat", arg=cid)
    assert r.status_code == 404 and time.monotonic() - t < 30
    assert api(b, "repo/stat").json()["NumObjects"] == 0


def test_client_going_away_stops_the_fetch(nodes: Callable[..., ServerProcess]) -> None:
    a, b = nodes("a"), nodes("b")
    data = stream_bytes(48 << 20)
    cid = add(a, data)
    connect(b, a)
    # a cat whose reader left after 1 MiB
    with httpx.stream("GET", f"{b.url}/ipfs/{cid}", timeout=60) as r:
        assert r.status_code == 200
        next(r.iter_bytes())
    # a pin add (a plain JSON answer) whose client gave up
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{b.url}/api/v0/pin/add", params={"arg": cid}, timeout=0.5)

    def failed() -> list[dict]:
        return [e["data"] for e in history(b, ["transfer_failed"]) if e["data"]["cid"] == cid]

    wait_for(lambda: {d["kind"] for d in failed()} >= {"cat", "pin"})
    assert all(d["error"] == "cancelled" for d in failed())
    count = api(b, "repo/stat").json()["NumObjects"]
    time.sleep(1.0)  # nothing more arrives once the sessions stopped
    assert api(b, "repo/stat").json()["NumObjects"] == count < 193
    assert api(b, "pin/ls").json() == {}  # Kubo omits an empty Keys
