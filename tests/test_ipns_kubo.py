"""IPNS between our node and a current Kubo daemon over the LAN DHT on loopback:
each resolves the other's name, and each verifies the other's records."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ServerProcess, start_server
from kubo_daemon import KUBO, KuboDaemon

pytestmark = pytest.mark.skipif(KUBO is None, reason="Kubo binary not found (scripts/kubo.sh builds it)")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KuboDaemon, ServerProcess]]:
    base = tmp_path_factory.mktemp("ipns")
    kubo = KuboDaemon(base / "kubo")
    ours = start_server(base / "ours")
    try:
        r = rpc(ours, "swarm/connect", arg=kubo.full_addr)
        assert r.status_code == 200, r.text
        wait_dht(kubo, ours)
        yield kubo, ours
    finally:
        ours.stop()
        kubo.stop()


def rpc(srv: ServerProcess, path: str, *, files: dict | None = None, timeout: float = 120,
        **params: object) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, files=files, timeout=timeout)


def wait_dht(kubo: KuboDaemon, ours: ServerProcess, timeout: float = 30) -> None:
    """Until Kubo has us in its LAN routing table (identify done)."""
    our_id = rpc(ours, "id").json()["ID"]
    deadline = time.monotonic() + timeout
    while True:
        table = kubo.rpc("stats/dht", arg="lan").json()
        peers = [p["ID"] for b in (table[0] if isinstance(table, list) else table).get("Buckets") or []
                 for p in b.get("Peers") or []]
        if our_id in peers:
            return
        assert time.monotonic() < deadline, f"Kubo never put us in its LAN DHT table: {table}"
        time.sleep(0.2)


def test_kubo_resolves_our_name(pair: tuple[KuboDaemon, ServerProcess]) -> None:
    kubo, ours = pair
    cid = httpx.post(f"{ours.url}/api/v0/add", files={"f": ("a.txt", b"published by ipfs-kit")},
                     timeout=60).json()["Hash"]
    r = rpc(ours, "name/publish", arg=f"/ipfs/{cid}", ttl="1s")
    assert r.status_code == 200, r.text
    name = r.json()["Name"]
    assert name.startswith("k51") and r.json()["Value"] == f"/ipfs/{cid}"
    r = kubo.rpc("name/resolve", arg=name, nocache="true")
    assert r.status_code == 200, r.text
    assert r.json()["Path"] == f"/ipfs/{cid}"
    # a new value: higher sequence, Kubo sees it
    cid2 = httpx.post(f"{ours.url}/api/v0/add", files={"f": ("b.txt", b"second version")}, timeout=60).json()["Hash"]
    assert rpc(ours, "name/publish", arg=cid2, ttl="1s").status_code == 200
    assert kubo.rpc("name/resolve", arg=f"/ipns/{name}", nocache="true").json()["Path"] == f"/ipfs/{cid2}"
    # our record, as Kubo fetched it, verifies in Kubo's inspector
    rec = kubo.rpc("name/get", arg=name)
    assert rec.status_code == 200, rec.text
    ins = kubo.rpc("name/inspect", verify=name, files={"record": ("r", rec.content)}).json()
    assert ins["Validation"]["Valid"] is True, ins
    assert ins["Entry"]["Value"] == f"/ipfs/{cid2}" and ins["Entry"]["Sequence"] == 1


def test_we_resolve_kubos_name(pair: tuple[KuboDaemon, ServerProcess]) -> None:
    kubo, ours = pair
    cid = kubo.rpc("add", files={"f": ("k.txt", b"published by kubo")}).json()["Hash"]
    r = kubo.rpc("key/gen", arg="kname")
    assert r.status_code == 200, r.text
    r = kubo.rpc("name/publish", arg=f"/ipfs/{cid}", key="kname")
    assert r.status_code == 200, r.text
    name = r.json()["Name"]
    r = rpc(ours, "name/resolve", arg=name)
    assert r.status_code == 200, r.text
    assert r.json()["Path"] == f"/ipfs/{cid}"
    # Kubo's record verifies here; a record for another name does not
    raw = kubo.rpc("name/get", arg=name).content
    ins = rpc(ours, "name/inspect", verify=name, files={"record": ("r", raw)}).json()
    assert ins["Validation"]["Valid"] is True and ins["Entry"]["Value"] == f"/ipfs/{cid}", ins
    self_name = rpc(ours, "key/list").json()["Keys"][0]["Id"]
    ins = rpc(ours, "name/inspect", verify=self_name, files={"record": ("r", raw)}).json()
    assert ins["Validation"]["Valid"] is False
    # our gateway serves it, by name (the content fetched from Kubo over bitswap first)
    assert rpc(ours, "libp2p/bitswap/fetch", arg=cid, peer=kubo.full_addr).status_code == 200
    r = httpx.get(f"{ours.url}/ipns/{name}", timeout=60)
    assert r.status_code == 200 and r.content == b"published by kubo"
    assert r.headers["X-Ipfs-Path"] == f"/ipns/{name}"
    # and the trustless form: the signed record, which Kubo's inspector accepts
    r = httpx.get(f"{ours.url}/ipns/{name}", params={"format": "ipns-record"}, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.ipfs.ipns-record"
    ins = kubo.rpc("name/inspect", verify=name, files={"record": ("r", r.content)}).json()
    assert ins["Validation"]["Valid"] is True, ins


def test_signatures_cross(pair: tuple[KuboDaemon, ServerProcess], tmp_path: Path) -> None:
    kubo, ours = pair
    theirs = kubo.rpc("key/sign", files={"data": ("d", b"from kubo")}).json()
    ok = rpc(ours, "key/verify", key=theirs["Key"]["Id"], signature=theirs["Signature"],
             files={"data": ("d", b"from kubo")}).json()
    assert ok["SignatureValid"] is True
    mine = rpc(ours, "key/sign", files={"data": ("d", b"from us")}).json()
    ok = kubo.rpc("key/verify", key=mine["Key"]["Id"], signature=mine["Signature"],
                  files={"data": ("d", b"from us")}).json()
    assert ok["SignatureValid"] is True, ok
