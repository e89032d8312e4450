"""IPNS records (spec rules) and the name verbs on the real server application, offline, in this
process through httpx's ASGI transport (tests/inproc.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cbor2
import httpx
import pytest
from inproc import InProcessServer
from libp2p.peer.id import ID

from ipfs_kit_py.ipns import record as rec
from ipfs_kit_py.keystore import generate


def _name(k: object) -> ID:
    return ID.from_pubkey(k.get_public_key())  # type: ignore[attr-defined]


def test_record_round_trip_and_rules() -> None:
    k = generate()
    eol = datetime.now(UTC) + timedelta(hours=1)
    raw = rec.create(k, "/ipfs/bafkqaaa", 7, eol, 5 * 10**9)
    r = rec.verify(raw, _name(k))
    assert (r.value, r.sequence, r.ttl_ns) == ("/ipfs/bafkqaaa", 7, 5 * 10**9)
    assert r.entry.signature_v1 and r.entry.value == b"/ipfs/bafkqaaa"  # V1 compatibility fields
    assert not r.entry.pub_key  # ed25519: the key is inlined in the name
    # DAG-CBOR map: keys length-first, then bytewise
    assert list(cbor2.loads(r.entry.data)) == ["TTL", "Value", "Sequence", "Validity", "ValidityType"]
    assert r.entry.data.index(b"TTL") < r.entry.data.index(b"Value") < r.entry.data.index(b"Sequence")
    # RSA names are hashes: the record carries the key
    rsa = generate("rsa")
    assert rec.verify(rec.create(rsa, "/ipfs/bafkqaaa", 0, eol, 0), _name(rsa)).public_key is not None
    # wrong name, tampered data, V1 field that disagrees, expired: all refused
    with pytest.raises(rec.InvalidRecord, match="signature"):  # the name inlines another key
        rec.verify(raw, _name(generate()))
    entry = rec.IpnsEntry.unmarshal(raw)
    entry.data = entry.data.replace(b"bafkqaaa", b"bafkqaab")
    with pytest.raises(rec.InvalidRecord, match="signature"):
        rec.verify(entry.marshal(), _name(k))
    entry = rec.IpnsEntry.unmarshal(raw)
    entry.value = b"/ipfs/bafkqaab"
    with pytest.raises(rec.InvalidRecord, match="V1"):
        rec.verify(entry.marshal(), _name(k))
    old = rec.create(k, "/ipfs/bafkqaaa", 8, datetime.now(UTC) - timedelta(seconds=1), 0)
    with pytest.raises(rec.InvalidRecord, match="expired"):
        rec.verify(old, _name(k))
    v2_only = rec.create(k, "/ipfs/bafkqaaa", 1, eol, 0, v1_compat=False)
    assert not rec.IpnsEntry.unmarshal(v2_only).signature_v1 and rec.verify(v2_only, _name(k)).sequence == 1
    with pytest.raises(rec.InvalidRecord):
        rec.parse(b"\x0a\xff")  # truncated protobuf
    # selection: higher sequence wins, then later validity
    a, b = rec.parse(raw), rec.parse(rec.create(k, "/ipfs/bafkqaaa", 7, eol + timedelta(hours=1), 0))
    assert rec.better(b, a) and not rec.better(a, b)


@pytest.fixture(scope="module")
def offline(shared_app_server: InProcessServer) -> InProcessServer:
    return shared_app_server  # libp2p off


def rpc(srv: InProcessServer, path: str, *, files: dict | None = None, **params: object) -> httpx.Response:
    return srv.client.post(f"/api/v0/{path}", params=params, files=files)


def add(srv: InProcessServer, data: bytes) -> str:
    return srv.client.post("/api/v0/add", files={"f": ("f", data)}).json()["Hash"]


def test_publish_resolve_offline(offline: InProcessServer) -> None:
    cid = add(offline, b"version one")
    r = rpc(offline, "name/publish", arg=cid)
    assert r.status_code == 503 and "allow-offline" in r.json()["Message"]  # no network: refused unless asked
    r = rpc(offline, "name/publish", arg=cid, **{"allow-offline": "true"})
    assert r.status_code == 200, r.text
    name = r.json()["Name"]
    assert rpc(offline, "name/resolve", arg=name).json() == {"Path": f"/ipfs/{cid}"}
    assert rpc(offline, "name/resolve").json() == {"Path": f"/ipfs/{cid}"}  # default: our own name
    # a new value bumps the sequence; republishing the same value does not
    cid2 = add(offline, b"version two")
    rpc(offline, "name/publish", arg=f"/ipfs/{cid2}", **{"allow-offline": "true"})
    rpc(offline, "name/publish", arg=f"/ipfs/{cid2}", **{"allow-offline": "true"})
    raw = rpc(offline, "name/get", arg=name)
    assert raw.headers["content-type"] == "application/vnd.ipfs.ipns-record"
    ins = rpc(offline, "name/inspect", verify=name, files={"record": ("r", raw.content)}).json()
    assert ins["Entry"]["Sequence"] == 1 and ins["Entry"]["Value"] == f"/ipfs/{cid2}"
    assert ins["Validation"]["Valid"] is True and ins["SignatureType"] == "V1+V2"
    assert ins["Entry"]["TTL"] == 300 * 10**9  # Kubo's default ttl, 5m
    # the gateway, with a path inside the name's directory... here a file
    assert offline.client.get(f"/ipns/{name}").content == b"version two"
    # recursive: a name pointing at a name
    rpc(offline, "key/gen", arg="alias")
    r = rpc(offline, "name/publish", arg=f"/ipns/{name}", key="alias", **{"allow-offline": "true"})
    assert r.status_code == 200, r.text
    alias = r.json()["Name"]
    assert rpc(offline, "name/resolve", arg=alias).json() == {"Path": f"/ipfs/{cid2}"}
    assert rpc(offline, "name/resolve", arg=alias, recursive="false").json() == {"Path": f"/ipns/{name}"}
    lines = rpc(offline, "name/resolve", arg=alias, stream="true").text.splitlines()
    assert len(lines) == 2
    # bad input: clear 4xx in Kubo's shape
    for params in ({"arg": "not-a-name"}, {"arg": "example.com"}):
        bad = rpc(offline, "name/resolve", **params)
        assert bad.status_code == 400 and bad.json()["Type"] == "error"
    assert rpc(offline, "name/publish", arg=cid, lifetime="soon", **{"allow-offline": "true"}).status_code == 400
    assert rpc(offline, "name/publish", arg=cid, key="nokey", **{"allow-offline": "true"}).status_code == 404


def test_put_refuses_older_and_forged(offline: InProcessServer) -> None:
    k = generate()
    name = _name(k).to_base58()
    eol = datetime.now(UTC) + timedelta(hours=1)
    new, old = rec.create(k, "/ipfs/bafkqaaa", 5, eol, 0), rec.create(k, "/ipfs/bafkqaaa", 4, eol, 0)
    put = {"allow-offline": "true"}
    r = rpc(offline, "name/put", arg=name, files={"record": ("r", new)}, **put)
    assert r.status_code == 200, r.text
    assert rpc(offline, "name/put", arg=name, files={"record": ("r", old)}, **put).status_code == 400
    other = _name(generate()).to_base58()
    forged = rpc(offline, "name/put", arg=other, files={"record": ("r", new)}, **put)
    assert forged.status_code == 400 and "signature" in forged.json()["Message"]
    assert rpc(offline, "name/get", arg=name).content == new
    assert rpc(offline, "name/put", arg=name, files={"record": ("r", b"x" * 20000)}, **put).status_code == 400
