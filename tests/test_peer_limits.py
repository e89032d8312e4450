"""Per-peer and per-session limits (issue 9): who may push content over libp2p, how
many pushes run at once, idle libp2p streams, WebRTC sessions that never connect and
session caps per client. Real servers, real py-libp2p hosts, real aiortc clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from aiortc import RTCPeerConnection
from conftest import ServerProcess, start_server, stream_bytes

from ipfs_kit_py.config import Libp2pSettings
from ipfs_kit_py.content import dag
from ipfs_kit_py.content.cid import CID
from ipfs_kit_py.errors import Unauthorized
from ipfs_kit_py.ice import rtc_configuration
from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer
from ipfs_kit_py.node import Node
from ipfs_kit_py.p2p import content_protocol
from ipfs_kit_py.p2p.content_protocol import may_push
from ipfs_kit_py.p2p.framing import encode_block
from ipfs_kit_py.p2p.stream import FramedStream

MCP = "/ipfs-kit/mcp/1.0.0"
IDLE = 1.5  # libp2p.stream_idle_timeout of the test server


# -- libp2p ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Identity directories: two peers the server trusts with pushes, one it does not know."""
    base = tmp_path_factory.mktemp("peers")
    out = {name: base / name for name in ("trusted", "second", "stranger")}
    for d in out.values():
        IPFSLibp2pPeer(identity_dir=d)  # creates the key
    return out


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, peers: dict[str, Path]) -> Iterator[ServerProcess]:
    ids = [IPFSLibp2pPeer(identity_dir=peers[n]).get_id() for n in ("trusted", "second")]
    server = start_server(tmp_path_factory.mktemp("limits") / "repo", env={
        "IPFS_KIT_LIBP2P_ACCEPT_PUSH_FROM": ids[0],
        "IPFS_KIT_LIBP2P_MCP_ALLOWLIST": ids[1],  # the mcp allowlist may push too
        "IPFS_KIT_LIBP2P_STREAM_IDLE_TIMEOUT": str(IDLE),
        "IPFS_KIT_LIBP2P_MAX_PUSHES": "3",
        "IPFS_KIT_LIBP2P_MAX_PUSHES_PER_PEER": "2",
    })
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Node]:
    """A local repo holding the content we push."""
    node = Node(tmp_path / "local")
    try:
        yield node
    finally:
        node.close()


def ident(srv: ServerProcess) -> dict[str, Any]:
    return httpx.post(f"{srv.url}/api/v0/id", timeout=10).json()


def has_block(srv: ServerProcess, cid: str) -> bool:
    return httpx.post(f"{srv.url}/api/v0/block/stat", params={"arg": cid}, timeout=10).status_code == 200


def pinned(srv: ServerProcess, cid: str) -> bool:
    r = httpx.post(f"{srv.url}/api/v0/pin/ls", params={"arg": cid}, timeout=10)
    return r.status_code == 200 and cid in r.json().get("Keys", {})


async def connected(identity: Path | None, srv: ServerProcess) -> IPFSLibp2pPeer:
    peer = IPFSLibp2pPeer(identity_dir=identity)
    await peer.connect_to_peer(None, ident(srv)["Addresses"][0])
    return peer


async def open_push(peer: IPFSLibp2pPeer, srv: ServerProcess, cid: CID | str) -> tuple[FramedStream, dict[str, Any]]:
    framed = FramedStream(await peer.new_stream(ident(srv)["ID"], content_protocol.PROTOCOL_ID), 4 << 20)
    await framed.send_json({"type": "push", "cid": str(cid)})
    return framed, await asyncio.wait_for(framed.recv(), 10)


async def next_message_or_reset(framed: FramedStream, timeout: float) -> dict[str, Any] | str:
    """The next JSON message from the server, or "reset"/"eof"; fails after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                msg = await framed.recv()
            except ConnectionError:
                return "reset"
            if msg is None:
                return "eof"
            if isinstance(msg, dict):
                return msg


def test_who_may_push() -> None:
    s = Libp2pSettings()
    assert not may_push("12D3KooWA", s)  # default: nobody
    s.mcp_allowlist = ["12D3KooWA"]
    s.accept_push_from = ["12D3KooWB"]
    assert may_push("12D3KooWA", s) and may_push("12D3KooWB", s) and not may_push("12D3KooWC", s)
    s.accept_push_from = ["*"]
    assert may_push("12D3KooWC", s)
    s.accept_push = False  # the master switch wins over every list
    assert not may_push("12D3KooWA", s) and not may_push("12D3KooWC", s)


async def test_push_from_a_peer_not_allowed_is_refused_and_nothing_stored(
        srv: ServerProcess, peers: dict[str, Path], local: Node) -> None:
    data = stream_bytes(700_000) + b"from a stranger"
    cid = (await local.model.add_bytes(data)).cid
    blocks = list(dag.walk(local.model.store, cid))
    stranger = await connected(peers["stranger"], srv)
    anonymous = await connected(None, srv)  # a throwaway identity: the same refusal
    trusted = await connected(peers["trusted"], srv)
    try:
        async with asyncio.timeout(60):
            for peer in (stranger, anonymous):
                with pytest.raises(Unauthorized, match="accept_push_from"):
                    await content_protocol.push(peer, local.model, ident(srv)["ID"], cid)
            # on the wire: a clear error instead of accept, then the stream is closed;
            # blocks sent anyway are never read, let alone stored
            framed, answer = await open_push(stranger, srv, cid)
            assert answer["type"] == "error" and answer["code"] == "unauthorized", answer
            assert stranger.get_id() in answer["message"]
            try:
                for c in blocks:
                    await framed.send_raw(encode_block(c, local.model.store.get(c)))
                await framed.send_json({"type": "end"})
            except ConnectionError:
                pass
            assert await next_message_or_reset(framed, 10) in ("eof", "reset")
            assert not any(has_block(srv, str(c)) for c in blocks) and not pinned(srv, str(cid))
            # a peer on libp2p.accept_push_from pushes the same content
            result = await content_protocol.push(trusted, local.model, ident(srv)["ID"], cid)
            assert result["blocks"] == len(blocks) and pinned(srv, str(cid))
            assert httpx.post(f"{srv.url}/api/v0/cat", params={"arg": str(cid)}, timeout=30).content == data
    finally:
        for p in (stranger, anonymous, trusted):
            await p.stop()


async def test_idle_push_is_dropped_and_releases_the_gc_guard(
        srv: ServerProcess, peers: dict[str, Path], local: Node) -> None:
    cid = (await local.model.add_bytes(stream_bytes(900_000) + b"idle push")).cid
    blocks = list(dag.walk(local.model.store, cid))
    trusted = await connected(peers["trusted"], srv)
    try:
        async with asyncio.timeout(60):
            framed, answer = await open_push(trusted, srv, cid)
            assert answer == {"type": "accept"}
            for c in blocks[:2]:  # part of the DAG, then silence
                await framed.send_raw(encode_block(c, local.model.store.get(c)))
            await framed.flush()
            started = time.monotonic()
            reply = await next_message_or_reset(framed, IDLE + 10)
            waited = time.monotonic() - started
            assert reply != "reset" and reply["type"] == "error" and reply["code"] == "timeout", reply
            assert IDLE - 0.5 < waited < IDLE + 8
            # the push no longer holds the GC guard: a GC runs to the end
            async with httpx.AsyncClient(timeout=20) as http:
                r = await http.post(f"{srv.url}/api/v0/repo/gc")
            assert r.status_code == 200, r.text
            assert not pinned(srv, str(cid))
    finally:
        await trusted.stop()


async def keep_alive(framed: FramedStream, cid: CID, data: bytes) -> None:
    """Send the same valid block every 0.3 s: a slow push, never idle."""
    while True:
        await framed.send_raw(encode_block(cid, data))
        await framed.flush()
        await asyncio.sleep(0.3)


async def test_concurrent_pushes_are_capped_globally_and_per_peer(
        srv: ServerProcess, peers: dict[str, Path], local: Node) -> None:
    cid = (await local.model.add_bytes(b"a small push" * 100)).cid
    data = local.model.store.get(cid)
    trusted = await connected(peers["trusted"], srv)
    second = await connected(peers["second"], srv)
    held: list[FramedStream] = []
    tasks: list[asyncio.Task[None]] = []

    async def hold(peer: IPFSLibp2pPeer) -> None:
        framed, answer = await open_push(peer, srv, cid)
        assert answer == {"type": "accept"}, answer
        held.append(framed)
        tasks.append(asyncio.create_task(keep_alive(framed, cid, data)))

    try:
        async with asyncio.timeout(60):
            await hold(trusted)
            await hold(trusted)
            _, refused = await open_push(trusted, srv, cid)  # a third from the same peer
            assert refused["code"] == "limit_exceeded" and "max_pushes_per_peer" in refused["message"], refused
            await hold(second)
            _, refused = await open_push(second, srv, cid)  # the node's cap (3) is reached
            assert refused["code"] == "limit_exceeded" and "libp2p.max_pushes)" in refused["message"], refused
            # the held pushes finish; their slots are free again
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for framed in held:
                await framed.send_json({"type": "end"})
                assert (await framed.recv())["type"] == "ok"
            assert (await content_protocol.push(second, local.model, ident(srv)["ID"], cid))["blocks"] == 1
            assert pinned(srv, str(cid))
    finally:
        for t in tasks:
            t.cancel()
        await trusted.stop()
        await second.stop()


async def test_mcp_request_that_never_completes_times_out(srv: ServerProcess, peers: dict[str, Path]) -> None:
    stranger = await connected(peers["stranger"], srv)
    info = ident(srv)
    try:
        async with asyncio.timeout(60):
            # half a request, and the stream is left open
            stream = await stranger.new_stream(info["ID"], MCP)
            await stream.write(b'{"action": "version", ')
            started = time.monotonic()
            answer = await asyncio.wait_for(stream.read(1 << 20), IDLE + 10)
            assert IDLE - 0.5 < time.monotonic() - started < IDLE + 8
            assert json.loads(answer)["code"] == "timeout"
            # a request trickled a byte at a time never completes either: one deadline for all of it
            stream = await stranger.new_stream(info["ID"], MCP)
            started = time.monotonic()
            with pytest.raises(ConnectionError):
                for b in b'{"action": "version", "pad": "' + b"x" * 100:
                    await stream.write(bytes([b]))
                    await asyncio.sleep(0.2)
                    assert time.monotonic() - started < IDLE + 8
            # a whole request is answered as before
            stream = await stranger.new_stream(info["ID"], MCP)
            await stream.write(b'{"action": "version"}')
            assert json.loads(await asyncio.wait_for(stream.read(1 << 20), 10))["version"]  # the registry's typed shape
    finally:
        await stranger.stop()


# -- WebRTC ---------------------------------------------------------------------------------------
CONNECT = 2.0  # webrtc.connect_timeout of the timeout server


def rtc_server(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> tuple[ServerProcess, str]:
    from webrtc_media import add_to_repo, make_mp4

    repo = tmp_path_factory.mktemp(name) / "repo"
    repo.mkdir()
    cid = add_to_repo(repo, {"clip.mp4": make_mp4(1.0, width=320, height=240, audio=False)})["clip.mp4"]
    return start_server(repo, env=env), cid


@pytest.fixture(scope="module")
def rtc_timeout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    server, cid = rtc_server(tmp_path_factory, "rtc-timeout", {"IPFS_KIT_WEBRTC_CONNECT_TIMEOUT": str(CONNECT),
                                                               "IPFS_KIT_WEBRTC_MAX_SESSIONS": "2"})
    try:
        yield server, cid
    finally:
        server.stop()


@pytest.fixture(scope="module")
def rtc_caps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    server, cid = rtc_server(tmp_path_factory, "rtc-caps", {"IPFS_KIT_WEBRTC_MAX_SESSIONS": "4",
                                                            "IPFS_KIT_WEBRTC_MAX_SESSIONS_PER_CLIENT": "2",
                                                            "IPFS_KIT_WEBRTC_MAX_SESSIONS_PER_ADDRESS": "3"})
    try:
        yield server, cid
    finally:
        server.stop()


class Signaling:
    """A signaling WebSocket: replies matched to requests by id, server-initiated messages kept."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.pushed: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.pcs: list[RTCPeerConnection] = []
        self._next = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.ws:
            msg = json.loads(text)
            fut = self.replies.pop(msg.get("id"), None) if "id" in msg else None
            if fut is not None:
                fut.set_result(msg)
            else:
                await self.pushed.put(msg)

    async def ask(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._next += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[self._next] = fut
        await self.ws.send(json.dumps({**msg, "id": self._next}))
        return await asyncio.wait_for(fut, 20)

    async def silent_offer(self, cid: str) -> dict[str, Any]:
        """A real aiortc offer sent as a trickling browser would, before any candidate;
        then the client goes silent: no candidates, no end-of-candidates, never connects."""
        pc = RTCPeerConnection(rtc_configuration())
        self.pcs.append(pc)
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = "".join(line for line in pc.localDescription.sdp.splitlines(keepends=True)
                      if not line.startswith(("a=candidate:", "a=end-of-candidates")))
        return await self.ask({"type": "offer", "cid": cid, "sdp": sdp, "tracks": ["video"]})

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        for pc in self.pcs:
            await pc.close()


@contextlib.asynccontextmanager
async def signaling(server: ServerProcess, source: str = "127.0.0.1") -> AsyncIterator[Signaling]:
    ws = await websockets.connect(f"ws://{server.host_port}/ws/webrtc", proxy=None, local_addr=(source, 0),
                                  open_timeout=10)
    sig = Signaling(ws)
    try:
        yield sig
    finally:
        await sig.close()


async def test_sessions_that_never_connect_are_closed_and_free_their_slot(rtc_timeout: tuple[ServerProcess, str]) -> None:
    server, cid = rtc_timeout
    async with asyncio.timeout(90), signaling(server) as sig:
        answers = [await sig.silent_offer(cid) for _ in range(2)]  # every slot of the node (max_sessions 2)
        assert all(a["type"] == "answer" for a in answers), answers
        started = time.monotonic()
        full = await sig.silent_offer(cid)
        assert full["code"] == "limit_exceeded"
        errors = [await asyncio.wait_for(sig.pushed.get(), CONNECT + 15) for _ in answers]
        waited = time.monotonic() - started
        assert sorted(e["pc_id"] for e in errors) == sorted(a["pc_id"] for a in answers)
        assert all(e["type"] == "error" and e["code"] == "connect_timeout" for e in errors), errors
        assert waited > CONNECT - 1
        for a in answers:
            assert (await sig.ask({"type": "stats_request", "pc_id": a["pc_id"]}))["code"] == "not_found"
        # the slots are free again
        again = [await sig.silent_offer(cid) for _ in range(2)]
        assert all(a["type"] == "answer" for a in again), again


async def test_sessions_are_capped_per_client_and_per_address(rtc_caps: tuple[ServerProcess, str]) -> None:
    server, cid = rtc_caps
    async with asyncio.timeout(90):
        async with signaling(server) as one, signaling(server) as two, signaling(server, "127.0.0.2") as other:
            assert [(await one.silent_offer(cid))["type"] for _ in range(2)] == ["answer", "answer"]
            r = await one.silent_offer(cid)  # a third on the same WebSocket
            assert r["code"] == "limit_exceeded" and "max_sessions_per_client" in r["error"], r
            assert (await two.silent_offer(cid))["type"] == "answer"
            r = await two.silent_offer(cid)  # a fourth from 127.0.0.1 over another WebSocket
            assert r["code"] == "limit_exceeded" and "max_sessions_per_address" in r["error"], r
            assert (await other.silent_offer(cid))["type"] == "answer"  # another address: room left
            r = await other.silent_offer(cid)  # the node's own cap (4)
            assert r["code"] == "limit_exceeded" and "webrtc.max_sessions)" in r["error"], r
            await one.close()  # its two sessions end with its connection
            deadline = time.monotonic() + 10
            while (r := await other.silent_offer(cid))["type"] != "answer":
                assert r["code"] == "limit_exceeded" and time.monotonic() < deadline, r
                await asyncio.sleep(0.2)
