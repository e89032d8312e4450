"""``GET/PUT /routing/v1/ipns/{name}`` (IPIP-379, issue 15): one node serves the
signed record of a name it published; another node takes that record by PUT,
verifies it, keeps it and answers it, and resolves the name from it. Forged,
mismatched, oversized or mistyped records are refused with 4xx. Real servers on
127.0.0.1 (libp2p off: the records travel over HTTP only)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from conftest import ServerProcess, start_server

RECORD = "application/vnd.ipfs.ipns-record"
OFFLINE = {"IPFS_KIT_LIBP2P_ENABLED": "false"}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    base = tmp_path_factory.mktemp("routing-ipns")
    a = start_server(base / "a", env=OFFLINE, timeout=120)
    try:
        b = start_server(base / "b", env=OFFLINE, timeout=120)
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def rpc(srv: ServerProcess, path: str, **params: object) -> httpx.Response:
    r = httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r


def publish(srv: ServerProcess, data: bytes) -> tuple[str, str]:
    cid = httpx.post(f"{srv.url}/api/v0/add", files={"f": ("f", data)}, timeout=60).json()["Hash"]
    name = rpc(srv, "name/publish", arg=cid, **{"allow-offline": "true"}).json()["Name"]
    return name, cid


def get(srv: ServerProcess, name: str) -> httpx.Response:
    return httpx.get(f"{srv.url}/routing/v1/ipns/{name}", headers={"Accept": RECORD}, timeout=60)


def put(srv: ServerProcess, name: str, body: bytes, ctype: str = RECORD) -> httpx.Response:
    return httpx.put(f"{srv.url}/routing/v1/ipns/{name}", content=body, headers={"Content-Type": ctype}, timeout=60)


def test_record_moves_between_nodes_over_routing_v1(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = nodes
    name, cid = publish(a, b"named over routing/v1")
    r = get(a, name)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == RECORD and r.headers["access-control-allow-origin"] == "*"
    assert r.headers["cache-control"] == "public, max-age=300"  # the record's ttl (ipns.ttl)
    assert r.content == rpc(a, "name/get", arg=name).content  # the same signed bytes name/get gives
    assert httpx.head(f"{a.url}/routing/v1/ipns/{name}", timeout=30).status_code == 200

    # B knows nothing of the name until the record is PUT there
    assert get(b, name).status_code == 404
    assert put(b, name, r.content).status_code == 200
    got = get(b, name)
    assert got.status_code == 200 and got.content == r.content
    assert rpc(b, "name/resolve", arg=name).json() == {"Path": f"/ipfs/{cid}"}

    # a newer record replaces it; the older one is then refused
    name2, cid2 = publish(a, b"second version")
    assert name2 == name
    newer = get(a, name).content
    assert put(b, name, newer).status_code == 200
    assert rpc(b, "name/resolve", arg=name, nocache="true").json() == {"Path": f"/ipfs/{cid2}"}
    old = put(b, name, r.content)
    assert old.status_code == 400 and "not newer" in old.text


def test_bad_records_and_names_are_refused(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = nodes
    name, _ = publish(a, b"a record to abuse")
    raw = get(a, name).content
    before = get(b, name)  # what B holds of the name (the first test PUT one there, or nothing)
    other = rpc(b, "key/gen", arg="other").json()["Id"]
    # the record is signed by A's key: it is not a record of B's name
    r = put(b, other, raw)
    assert r.status_code == 400, r.text
    # one flipped byte inside the signed value: the signature no longer verifies
    at = raw.index(b"/ipfs/")
    forged = raw[:at + 8] + bytes([raw[at + 8] ^ 1]) + raw[at + 9:]
    assert put(b, name, forged).status_code == 400
    assert put(b, name, b"\x00" * 64).status_code == 400  # not a record at all
    assert put(b, name, raw, ctype="application/octet-stream").status_code == 400
    assert put(b, name, b"\x0a" * (11 * 1024)).status_code == 413  # past the spec's 10 KiB
    after = get(b, name)  # nothing of that was kept
    assert (after.status_code, after.content) == (before.status_code, before.content)
    assert get(b, "not-a-name").status_code == 400
    assert get(b, "example.com").status_code == 400  # DNSLink is not resolved here
