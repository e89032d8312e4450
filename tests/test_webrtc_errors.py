"""Bad input on the WebRTC channel: each a clear error or a clean teardown, other sessions keep streaming."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from conftest import ServerProcess, start_server
from webrtc_media import add_to_repo, make_mp4

from ipfs_kit_py.client.streaming import stream_content
from ipfs_kit_py.content import dag
from ipfs_kit_py.content.cid import CID
from ipfs_kit_py.errors import LimitExceeded
from ipfs_kit_py.ice import rtc_configuration
from ipfs_kit_py.node import Node

ABSENT = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"  # valid CID, not stored
OFFER_TIMEOUT = 1.5
MAX_SESSIONS = 3


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    repo = tmp_path_factory.mktemp("webrtc-errors") / "repo"
    repo.mkdir()
    cids = add_to_repo(repo, {"video.mp4": make_mp4(2), "notes.txt": b"plain text, not media\n" * 500,
                              "long.mp4": make_mp4(6, qp=28, noise=20, audio=False)})
    node = Node(repo)
    try:  # the chunks of long.mp4, to damage one while it streams
        leaves = [str(c) for c in dag.links(node.model.store, CID.decode(cids["long.mp4"]))]
    finally:
        node.close()
    assert len(leaves) >= 4
    cids["long.mp4 leaves"] = leaves  # type: ignore[assignment]
    server = start_server(repo, env={"IPFS_KIT_WEBRTC_OFFER_TIMEOUT": str(OFFER_TIMEOUT),
                                     "IPFS_KIT_WEBRTC_MAX_SESSIONS": str(MAX_SESSIONS)})
    try:
        yield server, cids
    finally:
        server.stop()


class Raw:
    """A bare signaling connection."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def ask(self, msg: dict[str, Any] | str | bytes) -> dict[str, Any]:
        await self.ws.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))
        return json.loads(await asyncio.wait_for(self.ws.recv(), 15))


async def frames_flow(stream: Any, n: int = 5) -> None:
    for _ in range(n):
        await stream.next_frame(timeout=5)


async def test_bad_requests_get_clear_errors(srv) -> None:
    server, cids = srv
    survivor = await stream_content(server.url, cids["video.mp4"], tracks=("video",), loop=True)
    try:
        async with websockets.connect(f"ws://{server.host_port}/ws/webrtc") as ws:
            raw = Raw(ws)
            assert (await raw.ask("{not json"))["code"] == "malformed"
            assert (await raw.ask(b"\x00\x01"))["code"] == "malformed"
            assert (await raw.ask("[1, 2]"))["code"] == "malformed"
            r = await raw.ask({"type": "launch_missiles"})
            assert r["code"] == "unknown_type" and "offer_request" in r["error"]
            assert (await raw.ask({"type": "offer_request", "cid": "not-a-cid"}))["code"] == "invalid_cid"
            r = await raw.ask({"type": "offer_request", "cid": ABSENT})
            assert r["code"] in ("not_found", "block_not_found") and ABSENT in r["error"]
            r = await raw.ask({"type": "offer_request", "cid": cids["notes.txt"]})
            assert r["code"] == "not_media" and "not audio or video" in r["error"]
            r = await raw.ask({"type": "offer_request", "cid": cids["video.mp4"], "tracks": "everything"})
            assert r["code"] == "invalid_argument"
            r = await raw.ask({"type": "offer_request", "cid": cids["video.mp4"], "quality": "ultra"})
            assert r["code"] == "invalid_argument" and "quality" in r["error"]
            r = await raw.ask({"type": "answer", "pc_id": "nope", "sdp": "v=0\r\n"})
            assert r["code"] == "not_found" and r["pc_id"] == "nope"
            r = await raw.ask({"type": "offer", "cid": cids["video.mp4"], "sdp": "hello"})
            assert r["code"] == "invalid_sdp"
            # a real offer answered with garbage SDP: error, and the session is gone
            offer = await raw.ask({"type": "offer_request", "cid": cids["video.mp4"], "id": 7})
            assert offer["type"] == "offer" and offer["id"] == 7
            r = await raw.ask({"type": "answer", "pc_id": offer["pc_id"], "sdp": "v=0\r\nm=garbage\r\n"})
            assert r["code"] == "invalid_sdp"
            r = await raw.ask({"type": "answer", "pc_id": offer["pc_id"], "sdp": "v=0\r\nm=garbage\r\n"})
            assert r["code"] == "not_found"
            assert (await raw.ask({"type": "stats_request", "pc_id": offer["pc_id"]}))["code"] == "not_found"
            # trickle ICE: a broken candidate is an error, end-of-candidates is fine
            offer = await raw.ask({"type": "offer_request", "cid": cids["video.mp4"]})
            r = await raw.ask({"type": "candidate", "pc_id": offer["pc_id"], "candidate": {"candidate": "candidate:x"}})
            assert r["code"] == "invalid_argument" and "candidate" in r["error"]
            r = await raw.ask({"type": "candidate", "pc_id": offer["pc_id"], "candidate": None})
            assert r == {"type": "candidate_ack", "pc_id": offer["pc_id"]}
            r = await raw.ask({"type": "quality_change", "pc_id": offer["pc_id"], "quality": "best"})
            assert r["code"] == "invalid_argument"
            assert (await raw.ask({"type": "close", "pc_id": offer["pc_id"]}))["type"] == "closed"
            assert (await raw.ask({"type": "ping"}))["type"] == "pong"  # the connection survived it all
        await frames_flow(survivor)
    finally:
        await survivor.close()


async def test_unanswered_offer_times_out(srv) -> None:
    server, cids = srv
    async with websockets.connect(f"ws://{server.host_port}/webrtc") as ws:
        raw = Raw(ws)
        offer = await raw.ask({"type": "offer_request", "cid": cids["video.mp4"]})
        assert offer["type"] == "offer"
        started = asyncio.get_running_loop().time()
        err = json.loads(await asyncio.wait_for(ws.recv(), OFFER_TIMEOUT + 5))
        waited = asyncio.get_running_loop().time() - started
        assert err["type"] == "error" and err["code"] == "offer_timeout" and err["pc_id"] == offer["pc_id"]
        assert OFFER_TIMEOUT - 0.5 < waited < OFFER_TIMEOUT + 3
        # answering late finds nothing
        pc = RTCPeerConnection(rtc_configuration())
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        r = await raw.ask({"type": "answer", "pc_id": offer["pc_id"], "sdp": pc.localDescription.sdp})
        assert r["code"] == "not_found"
        await pc.close()


async def test_vanishing_client_and_session_limit(srv) -> None:
    server, cids = srv
    survivor = await stream_content(server.url, cids["video.mp4"], tracks=("video",), loop=True)
    others = []
    try:
        # a client that connects, streams, then vanishes (TCP reset, no goodbye, no pc.close())
        vanisher = await stream_content(server.url, cids["video.mp4"], tracks=("video",), loop=True)
        await frames_flow(vanisher)
        vanisher.signaling.ws.transport.abort()
        for t in vanisher._tasks:
            t.cancel()
        # its session is torn down: the limit (3) again leaves room for two more
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            try:
                others.append(await stream_content(server.url, cids["video.mp4"], tracks=("video",), loop=True))
            except LimitExceeded:
                assert asyncio.get_running_loop().time() < deadline, "the vanished client's session was never closed"
                await asyncio.sleep(0.2)
                continue
            if len(others) == MAX_SESSIONS - 1:
                break
        with pytest.raises(LimitExceeded, match="session limit"):
            await stream_content(server.url, cids["video.mp4"])
        for s in (survivor, *others):
            await frames_flow(s)
        await vanisher.pc.close()
    finally:
        for s in (survivor, *others):
            await s.close()
    # closed sessions free their slots
    again = await stream_content(server.url, cids["video.mp4"], tracks=("video",))
    try:
        await frames_flow(again, 3)
    finally:
        await again.close()


async def test_content_damaged_mid_stream_is_reported(srv) -> None:
    server, cids = srv
    survivor = await stream_content(server.url, cids["video.mp4"], tracks=("video",), loop=True)
    stream = await stream_content(server.url, cids["long.mp4"], tracks=("video",))
    try:
        await frames_flow(stream, 10)
        # a chunk ~4 s into the 6 s file disappears (the reader is ~1 s ahead of playback)
        leaf = cids["long.mp4 leaves"][len(cids["long.mp4 leaves"]) * 2 // 3]
        async with httpx.AsyncClient() as http:
            r = await http.post(f"{server.url}/api/v0/block/rm", params={"arg": leaf})
            assert r.status_code == 200, r.text
        async with asyncio.timeout(15):
            async for _ in stream:
                pass
        assert stream.error is not None and stream.error["code"] == "media_error", stream.error
        assert leaf in stream.error["error"]
        await frames_flow(survivor)  # the other session never noticed
    finally:
        await stream.close()
        await survivor.close()


async def test_browser_offer_with_test_pattern_is_answered(srv) -> None:
    """A browser's own offer may ask for the built-in clip, as offer_request can (docs/protocols.md)."""
    server, _ = srv
    pc = RTCPeerConnection(rtc_configuration())
    try:
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        async with websockets.connect(f"ws://{server.host_port}/ws/webrtc") as ws:
            raw = Raw(ws)
            r = await raw.ask({"type": "offer", "test_pattern": True, "sdp": pc.localDescription.sdp, "id": 9})
            assert r["type"] == "answer" and r["id"] == 9 and r["sdp"].startswith("v=0")
            await raw.ask({"type": "close", "pc_id": r["pc_id"]})
    finally:
        await pc.close()
