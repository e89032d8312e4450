"""/ipfs-kit/content/1.0.0 and /ipfs-kit/metadata/1.0.0 between real servers
in separate processes, and transfer_via_libp2p over HTTP."""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ServerProcess, start_server, stream_bytes
from websockets.sync.client import connect as ws_connect

from ipfs_kit_py.content import dag
from ipfs_kit_py.content.cid import CID, encode_varint
from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer
from ipfs_kit_py.node import Node
from ipfs_kit_py.p2p import content_protocol, metadata_protocol
from ipfs_kit_py.p2p.framing import encode_block
from ipfs_kit_py.p2p.stream import FramedStream

TRANSFER_EVENTS = ["transfer_started", "transfer_progress", "transfer_completed", "transfer_failed"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    base = tmp_path_factory.mktemp("pair")
    a = start_server(base / "a")
    try:  # B takes pushes from any peer (A, and the throwaway peers of the fault tests)
        b = start_server(base / "b", env={"IPFS_KIT_LIBP2P_ACCEPT_PUSH_FROM": "*"})
    except Exception:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def ident(srv: ServerProcess) -> dict:
    return httpx.post(f"{srv.url}/api/v0/id", timeout=10).json()


def add(srv: ServerProcess, data: bytes, **params: str) -> str:
    return httpx.post(f"{srv.url}/api/v0/add", params=params, files={"file": ("f", data)}, timeout=60).json()["Hash"]


def pinned(srv: ServerProcess, cid: str) -> bool:
    r = httpx.post(f"{srv.url}/api/v0/pin/ls", params={"arg": cid}, timeout=10)
    return r.status_code == 200 and cid in r.json().get("Keys", {})


def events(srv: ServerProcess, cid: str) -> list[dict]:
    ws_url = srv.url.replace("http://", "ws://") + "/ws/notifications"
    with ws_connect(ws_url, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "get_history", "notification_types": TRANSFER_EVENTS, "limit": 1000}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=10))
            if msg.get("type") == "history":
                return [e for e in msg["events"] if e["data"].get("cid") == cid]
    raise AssertionError("no history answer")


def transfer(srv: ServerProcess, cid: str, peer: str, **params: str) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/libp2p/transfer", params={"arg": cid, "peer": peer, **params}, timeout=60)


def test_push_verifies_and_pins_with_events(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    data = stream_bytes(3_000_000)
    cid = add(a, data)
    r = transfer(a, cid, ident(b)["Addresses"][0])
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["cid"] == cid and result["blocks"] == 13 and result["pinned"] is True  # 12 leaves + root
    assert pinned(b, cid)
    assert httpx.post(f"{b.url}/api/v0/cat", params={"arg": cid}, timeout=30).content == data
    sent = events(a, cid)
    got = events(b, cid)
    assert [e["type"] for e in sent if e["type"] != "transfer_progress"] == ["transfer_started", "transfer_completed"]
    assert [e["type"] for e in got if e["type"] != "transfer_progress"] == ["transfer_started", "transfer_completed"]
    assert sent[-1]["data"]["direction"] == "send" and got[-1]["data"]["direction"] == "receive"
    assert sent[-1]["data"]["peer_id"] == ident(b)["ID"] and got[-1]["data"]["peer_id"] == ident(a)["ID"]
    assert got[-1]["data"]["bytes"] == sent[-1]["data"]["bytes"] > len(data)


def test_fetch_whole_and_range(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    data = stream_bytes(2_500_000) + b"range"
    cid = add(a, data, **{"cid-version": "1"})
    peer_a = ident(a)["Addresses"][0]
    r = httpx.post(f"{b.url}/api/v0/libp2p/fetch",
                   params={"arg": cid, "peer": peer_a, "offset": "1000000", "length": "300000"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["blocks"] == 3  # the root and the two leaves holding bytes 1,000,000..1,300,000
    part = httpx.post(f"{b.url}/api/v0/cat", params={"arg": cid, "offset": 1_000_000, "length": 300_000}, timeout=30)
    assert part.content == data[1_000_000:1_300_000]
    r = httpx.post(f"{b.url}/api/v0/libp2p/fetch", params={"arg": cid, "peer": peer_a, "pin": "true"}, timeout=60)
    assert r.status_code == 200 and r.json()["blocks"] == 11
    assert pinned(b, cid)
    assert httpx.post(f"{b.url}/api/v0/cat", params={"arg": cid}, timeout=30).content == data


def test_unknown_cid_unreachable_and_refused(pair: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    a, b = pair
    unknown = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    r = httpx.post(f"{b.url}/api/v0/libp2p/fetch", params={"arg": unknown, "peer": ident(a)["Addresses"][0]}, timeout=30)
    assert r.status_code == 404 and "not found" in r.json()["Message"]
    r = transfer(a, unknown, ident(b)["Addresses"][0])
    assert r.status_code == 404  # we cannot push what we do not hold
    cid = add(a, b"refuse me")
    dead = IPFSLibp2pPeer()
    r = transfer(a, cid, f"/ip4/127.0.0.1/tcp/9/p2p/{dead.get_id()}")
    assert r.status_code == 503 and "unreachable" in r.json()["Message"]
    r = transfer(a, cid, dead.get_id())
    assert r.status_code == 503 and "not connected" in r.json()["Message"]
    c = start_server(tmp_path / "c", env={"IPFS_KIT_LIBP2P_ACCEPT_PUSH": "false"})
    try:
        r = transfer(a, cid, ident(c)["Addresses"][0])
        assert r.status_code == 403 and "does not accept" in r.json()["Message"]
        assert not pinned(c, cid)
    finally:
        c.stop()
    assert [e["type"] for e in events(a, cid)][-1] == "transfer_failed"


def test_cancel_a_running_transfer(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    data = stream_bytes(48 << 20)
    cid = add(a, data)
    results: list[httpx.Response] = []
    t = threading.Thread(target=lambda: results.append(
        transfer(a, cid, ident(b)["Addresses"][0], id="cancel-me")))
    t.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        running = httpx.post(f"{a.url}/api/v0/libp2p/transfers", timeout=10).json()["transfers"]
        if "cancel-me" in running and any(e["type"] == "transfer_progress" for e in events(a, cid)):
            break
        time.sleep(0.05)
    r = httpx.post(f"{a.url}/api/v0/libp2p/transfer/cancel", params={"arg": "cancel-me"}, timeout=10)
    assert r.status_code == 200
    t.join(30)
    assert results and results[0].status_code == 503 and "cancelled" in results[0].json()["Message"]
    deadline = time.monotonic() + 15  # the receiver drains what was in flight, then sees the reset
    while events(b, cid)[-1]["type"] != "transfer_failed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert events(b, cid)[-1]["type"] == "transfer_failed"
    assert not pinned(b, cid)  # partial content is never pinned
    assert httpx.post(f"{a.url}/api/v0/libp2p/transfer/cancel", params={"arg": "cancel-me"}).status_code == 404


async def test_metadata_protocol(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, _ = pair
    cid = add(a, b"with metadata")
    info = ident(a)
    async with IPFSLibp2pPeer() as peer, asyncio.timeout(30):
        await peer.connect_to_peer(None, info["Addresses"][0])
        framed = FramedStream(await peer.new_stream(info["ID"], metadata_protocol.PROTOCOL_ID), 1 << 20)
        await framed.send_json({"type": "get", "cid": cid})
        got = await framed.recv()
        assert got["type"] == "metadata" and got["cid"] == cid and isinstance(got["metadata"], dict)
        await framed.send_json({"type": "set", "cid": cid, "values": {"title": "x"}})
        denied = await framed.recv()
        assert denied["type"] == "error" and denied["code"] == "forbidden"  # needs write: not allowlisted
        await framed.send_json({"type": "query", "cids": [cid, "not-a-cid"]})
        res = (await framed.recv())["results"]
        assert res[0]["cid"] == cid and "metadata" in res[0] and res[1]["code"] == "invalid_cid"
        await framed.send_json({"type": "bogus"})
        assert (await framed.recv())["code"] == "invalid_argument"
        # an oversized frame resets this stream only
        await framed.stream.write(encode_varint(1 << 40))
        with pytest.raises((ConnectionError, EOFError)):
            if await framed.recv() is None:
                raise EOFError
        framed = FramedStream(await peer.new_stream(info["ID"], metadata_protocol.PROTOCOL_ID), 1 << 20)
        await framed.send_json({"type": "get", "cid": cid})
        assert (await framed.recv())["type"] == "metadata"


async def error_or_reset(framed: FramedStream) -> str:
    """A protocol violation gets an error message then a reset; the reset may overtake the message."""
    try:
        answer = await framed.recv()
    except ConnectionError:
        return "reset"
    return "reset" if answer is None else answer["code"]


async def test_corrupt_block_and_disconnect_mid_push(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    data = stream_bytes(1_500_000) + b"corrupt"
    cid = add(a, data, **{"cid-version": "1"})
    info_b = ident(b)
    # our own copy of the blocks: fetch the DAG from A over libp2p into a local repo
    with tempfile.TemporaryDirectory() as d:
        node = Node(Path(d) / "repo")
        async with IPFSLibp2pPeer() as peer, asyncio.timeout(40):
            await peer.connect_to_peer(None, ident(a)["Addresses"][0])
            await content_protocol.fetch(peer, node.model, ident(a)["ID"], cid)
            cids = list(dag.walk(node.model.store, CID.decode(cid)))
            await peer.connect_to_peer(None, info_b["Addresses"][0])

            # 1. a block whose bytes do not match its CID: rejected, stream reset, nothing pinned
            framed = FramedStream(await peer.new_stream(info_b["ID"], content_protocol.PROTOCOL_ID), 4 << 20)
            await framed.send_json({"type": "push", "cid": cid})
            assert (await framed.recv())["type"] == "accept"
            await framed.send_raw(encode_block(cids[1], b"not the right bytes"))
            await framed.flush()
            assert await error_or_reset(framed) in ("corrupt_block", "reset")
            # 2. a malicious size field: reset, nothing stored
            framed = FramedStream(await peer.new_stream(info_b["ID"], content_protocol.PROTOCOL_ID), 4 << 20)
            await framed.send_json({"type": "push", "cid": cid})
            assert (await framed.recv())["type"] == "accept"
            await framed.stream.write(encode_varint(1 << 50) + b"\x01")
            assert await error_or_reset(framed) in ("error", "reset")
            # 3. half the blocks, then the connection drops
            framed = FramedStream(await peer.new_stream(info_b["ID"], content_protocol.PROTOCOL_ID), 4 << 20)
            await framed.send_json({"type": "push", "cid": cid})
            assert (await framed.recv())["type"] == "accept"
            for c in cids[: len(cids) // 2]:
                await framed.send_raw(encode_block(c, node.model.store.get(c)))
            await framed.flush()
            await peer.disconnect(info_b["ID"])
            await asyncio.sleep(1)
        node.close()
    assert not pinned(b, cid)
    kinds = [(e["type"], e["data"].get("error", "")) for e in events(b, cid)]
    failed = [err for t, err in kinds if t == "transfer_failed"]
    assert len(failed) == 3 and "does not match" in failed[0]
    # the node still serves after all that
    r = transfer(a, cid, info_b["Addresses"][0])
    assert r.status_code == 200, r.text
    assert pinned(b, cid)


async def test_seed_api_transfer_via_libp2p(pair: tuple[ServerProcess, ServerProcess]) -> None:
    from ipfs_kit_py.errors import ChannelUnavailable
    from ipfs_kit_py.high_level_api import IPFSSimpleAPI

    a, b = pair
    cid = add(a, stream_bytes(300_000) + b"seed api")
    api = IPFSSimpleAPI(mcp_url=a.url)
    try:
        result = await api.transfer_via_libp2p(cid, ident(b)["Addresses"][0])
        assert result.cid == cid and result.pinned is True
        assert pinned(b, cid)
        with pytest.raises(ChannelUnavailable):
            await api.transfer_via_libp2p(cid, IPFSLibp2pPeer().get_id())  # not connected, no address
    finally:
        await api.close()


async def test_transfer_over_mcp_protocol(pair: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    _, b = pair
    operator = IPFSLibp2pPeer(identity_dir=tmp_path / "operator")
    c = start_server(tmp_path / "c", env={"IPFS_KIT_LIBP2P_MCP_ALLOWLIST": operator.get_id()})
    stranger = IPFSLibp2pPeer()
    try:
        cid = add(c, stream_bytes(200_000) + b"over mcp")
        info_c = ident(c)
        request = {"action": "transfer_via_libp2p", "cid": cid, "target_peer": ident(b)["Addresses"][0]}

        async def ask(peer: IPFSLibp2pPeer) -> dict:
            await peer.connect_to_peer(None, info_c["Addresses"][0])
            stream = await peer.new_stream(info_c["ID"], "/ipfs-kit/mcp/1.0.0")
            await stream.write(json.dumps(request).encode())
            return json.loads(await stream.read(1 << 20))

        async with asyncio.timeout(40):
            denied = await ask(stranger)
            assert denied["code"] == "forbidden" and not pinned(b, cid)
            done = await ask(operator)
            assert done["cid"] == cid and done["pinned"] is True, done
        assert pinned(b, cid)
    finally:
        await stranger.stop()
        await operator.stop()
        c.stop()
