"""IPNS over pubsub (``ipns.use_pubsub``, Kubo's ``Ipns.UsePubsub``): names resolve from
their ``/record/`` topics with the DHT out of the picture (each node speaks a DHT
protocol no other node speaks, so no DHT record is reachable), between two of our
nodes and with a current Kubo both ways; updates arrive as pubsub messages."""

from __future__ import annotations

import base64
import contextlib
import io
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServerProcess, start_server
from kubo_daemon import KUBO, KuboDaemon

from ipfs_kit_py.ipns import pubsub as ipns_pubsub
from ipfs_kit_py.keystore import parse_peer_id


def mb(text: str) -> str:
    return "u" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def rpc(srv: ServerProcess, path: str, *, files: dict | None = None, timeout: float = 60,
        **params: object) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, files=files, timeout=timeout)


def wait_for(cond: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def pubsub_node(repo: Path, dht: str, **env: str) -> ServerProcess:
    """Our node with IPNS over pubsub, alone on DHT protocol ``dht``."""
    return start_server(repo, env={"IPFS_KIT_IPNS_USE_PUBSUB": "true",
                                   "IPFS_KIT_LIBP2P_DHT_PROTOCOL": f"/ipfs-kit-test/{dht}/kad/1.0.0", **env})


def libp2p_addr(srv: ServerProcess) -> tuple[str, str]:
    info = rpc(srv, "id").json()
    addr = next(a for a in info["Addresses"] if a.startswith("/ip4/127.0.0.1/tcp/"))
    return info["ID"], addr if "/p2p/" in addr else f"{addr}/p2p/{info['ID']}"


def add(srv: ServerProcess, data: bytes) -> str:
    return rpc(srv, "add", files={"f": ("f", data)}).json()["Hash"]


# -- the wire format, against go-libp2p-pubsub-router's ---------------------------------------------------
def test_topic_and_fetch_messages() -> None:
    name = parse_peer_id("12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK")
    # the topic Kubo 0.43.1 joined for this name (its pubsub/ls, multibase u)
    assert mb(ipns_pubsub.topic_of(name)) == \
        "uL3JlY29yZC9MMmx3Ym5NdkFDUUlBUklnNUdnTEw0eU5JUWtPYXFNbjhiczBLcmpuMlNPUEhqV0RHbFRXcVBYSkVTUQ"
    key = b"/ipns/" + name.to_bytes()
    assert ipns_pubsub.fetch_request(key) == b"\x0a" + bytes([len(key)]) + key
    assert ipns_pubsub.parse_fetch_request(ipns_pubsub.fetch_request(key)) == key
    assert ipns_pubsub.fetch_response(ipns_pubsub.NOT_FOUND) == b"\x08\x01"
    assert ipns_pubsub.fetch_response(ipns_pubsub.OK, b"rec") == b"\x12\x03rec"
    assert ipns_pubsub.parse_fetch_response(b"\x12\x03rec") == (ipns_pubsub.OK, b"rec")
    assert ipns_pubsub.parse_fetch_response(b"\x08\x01") == (ipns_pubsub.NOT_FOUND, b"")


# -- two of our nodes ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    base = tmp_path_factory.mktemp("ipnsps")
    with ThreadPoolExecutor(2) as pool:  # both start at once
        starts = [pool.submit(pubsub_node, base / "a", "a"),
                  pool.submit(pubsub_node, base / "b", "b", IPFS_KIT_IPNS_PUBSUB_MAX_NAMES="2")]
    if any(f.exception() for f in starts):
        for f in starts:
            if not f.exception():
                f.result().stop()
        raise starts[0].exception() or starts[1].exception()  # type: ignore[misc]
    a, b = (f.result() for f in starts)
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()


def test_resolve_over_pubsub_then_updates_arrive(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    assert rpc(a, "name/pubsub/state").json() == {"Enabled": True}
    assert rpc(b, "name/pubsub/subs").json() == {"Strings": None}
    cid1 = add(a, b"first version, over pubsub")
    # no DHT peer takes it, the topic does: Kubo's rule, publishing succeeds
    r = rpc(a, "name/publish", arg=cid1)
    assert r.status_code == 200, r.text
    name = r.json()["Name"]
    topic = ipns_pubsub.topic_of(parse_peer_id(name))
    assert rpc(a, "pubsub/ls").json()["Strings"] == [mb(topic)]
    a_id, a_addr = libp2p_addr(a)
    assert rpc(b, "swarm/connect", arg=a_addr).status_code == 200
    wait_for(lambda: a_id in (rpc(b, "pubsub/peers", arg=mb(topic)).json()["Strings"] or []),
             what="b never learnt that a is in the name's topic")
    # b joins the topic and fetches the record from a (/libp2p/fetch/0.0.1)
    r = rpc(b, "name/resolve", arg=name, nocache="true")
    assert r.status_code == 200, r.text
    assert r.json() == {"Path": f"/ipfs/{cid1}"}
    assert rpc(b, "name/pubsub/subs").json() == {"Strings": [f"/ipns/{name}"]}
    # a publishes sequence 1: it reaches b as a pubsub message (b fetches nothing more)
    cid2 = add(a, b"second version, over pubsub")
    assert rpc(a, "name/publish", arg=cid2).status_code == 200
    wait_for(lambda: rpc(b, "name/resolve", arg=name).json().get("Path") == f"/ipfs/{cid2}",
             what="the update never reached b")
    got = rpc(b, "name/get", arg=name)
    ins = rpc(b, "name/inspect", verify=name, files={"record": ("r", got.content)}).json()
    assert ins["Entry"]["Sequence"] == 1 and ins["Validation"]["Valid"] is True, ins
    # leaving the topic: Kubo's answers
    assert rpc(b, "name/pubsub/cancel", arg=f"/ipns/{name}").json() == {"Canceled": True}
    assert rpc(b, "name/pubsub/cancel", arg=name).json() == {"Canceled": False}
    assert rpc(b, "name/pubsub/subs").json() == {"Strings": None}
    assert rpc(b, "pubsub/ls").json()["Strings"] in ([], None)


def test_topics_held_are_bounded(pair: tuple[ServerProcess, ServerProcess]) -> None:
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.peer.id import ID

    _, b = pair
    names = [ID.from_pubkey(create_new_key_pair().public_key).to_base58() for _ in range(3)]
    for n in names:  # nobody publishes them: each resolve joins the topic, then finds nothing
        r = rpc(b, "name/resolve", arg=n)
        assert r.status_code == 404, r.text
    # ipns.pubsub_max_names=2 on b: the least recently used topic was left
    subs = rpc(b, "name/pubsub/subs", **{"ipns-base": "b58mh"}).json()["Strings"]
    assert subs is not None and f"/ipns/{names[0]}" not in subs and \
        {f"/ipns/{names[1]}", f"/ipns/{names[2]}"} <= set(subs) and len(subs) == 2, subs
    assert len(rpc(b, "pubsub/ls").json()["Strings"]) == 2


def test_bad_name_and_disabled(pair: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    a, _ = pair
    r = rpc(a, "name/pubsub/cancel", arg="12D3KooWAbc")
    assert r.status_code == 400 and r.json()["Type"] == "error"
    assert r.json()["Message"].startswith("not a valid IPNS name")
    from ipfs_kit_py.cli import main

    out = io.StringIO()  # in-process (no node): off, as Kubo offline
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["--repo", str(tmp_path / "offline"), "name", "pubsub", "state"])
    assert out.getvalue() == "disabled\n"


# -- with Kubo ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def with_kubo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KuboDaemon, ServerProcess]]:
    if KUBO is None:
        pytest.skip("Kubo binary not found (scripts/kubo.sh builds it)")
    base = tmp_path_factory.mktemp("ipnsps-kubo")
    with ThreadPoolExecutor(1) as pool:  # ours starts while Kubo does
        starting = pool.submit(pubsub_node, base / "ours", "ours")  # Kubo's LAN DHT is not ours: no DHT between us
        try:
            kubo = KuboDaemon(base / "kubo", config={("Pubsub", "Enabled"): True, ("Ipns", "UsePubsub"): True})
        except BaseException:
            with contextlib.suppress(Exception):
                starting.result().stop()
            raise
    try:
        ours = starting.result()
    except BaseException:
        kubo.stop()
        raise
    try:
        _, addr = libp2p_addr(ours)
        r = kubo.rpc("swarm/connect", arg=addr)
        assert r.status_code == 200, r.text
        yield kubo, ours
    finally:
        ours.stop()
        kubo.stop()


def test_we_resolve_kubos_name_over_pubsub(with_kubo: tuple[KuboDaemon, ServerProcess]) -> None:
    kubo, ours = with_kubo
    cid1 = kubo.rpc("add", files={"f": ("k", b"kubo, first")}).json()["Hash"]
    r = kubo.rpc("key/gen", arg="kps")
    assert r.status_code == 200, r.text
    name = r.json()["Id"]
    r = kubo.rpc("name/publish", arg=f"/ipfs/{cid1}", key="kps", timeout=30)
    assert r.status_code == 200, r.text
    topic = ipns_pubsub.topic_of(parse_peer_id(name))
    wait_for(lambda: kubo.peer_id in (rpc(ours, "pubsub/peers", arg=mb(topic)).json()["Strings"] or []),
             what="we never learnt that Kubo is in its name's topic")
    r = rpc(ours, "name/resolve", arg=name, nocache="true")
    assert r.status_code == 200, r.text
    assert r.json() == {"Path": f"/ipfs/{cid1}"}
    cid2 = kubo.rpc("add", files={"f": ("k", b"kubo, second")}).json()["Hash"]
    assert kubo.rpc("name/publish", arg=f"/ipfs/{cid2}", key="kps", timeout=30).status_code == 200
    wait_for(lambda: rpc(ours, "name/resolve", arg=name).json().get("Path") == f"/ipfs/{cid2}",
             what="Kubo's update never reached us")


def test_kubo_resolves_our_name_over_pubsub(with_kubo: tuple[KuboDaemon, ServerProcess]) -> None:
    kubo, ours = with_kubo
    cid1 = add(ours, b"ours, first")
    r = rpc(ours, "key/gen", arg="ops")
    assert r.status_code == 200, r.text
    r = rpc(ours, "name/publish", arg=cid1, key="ops")
    assert r.status_code == 200, r.text
    name = r.json()["Name"]
    topic = ipns_pubsub.topic_of(parse_peer_id(name))
    our_id, _ = libp2p_addr(ours)
    wait_for(lambda: our_id in (kubo.rpc("pubsub/peers", arg=mb(topic)).json().get("Strings") or []),
             what="Kubo never learnt that we are in our name's topic")
    r = kubo.rpc("name/resolve", arg=name, timeout=90)  # Kubo joins, fetches from us (its DHT has no peer)
    assert r.status_code == 200, r.text
    assert r.json() == {"Path": f"/ipfs/{cid1}"}
    assert f"/ipns/{name}" in kubo.rpc("name/pubsub/subs").json()["Strings"]
    cid2 = add(ours, b"ours, second")
    assert rpc(ours, "name/publish", arg=cid2, key="ops").status_code == 200
    wait_for(lambda: kubo.rpc("name/resolve", arg=name, nocache="true", timeout=90).json().get("Path") == f"/ipfs/{cid2}",
             what="our update never reached Kubo")
