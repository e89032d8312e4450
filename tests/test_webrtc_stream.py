"""Python clients stream content added to the store from the real server over WebRTC (loopback)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator

import httpx
import pytest
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from conftest import ServerProcess, start_server
from webrtc_media import add_to_repo, make_mp4, until

from ipfs_kit_py import ice
from ipfs_kit_py.client.streaming import MediaStream, fetch_content, stream_content
from ipfs_kit_py.errors import InvalidArgument, InvalidCID, IPFSKitError, NotFound
from ipfs_kit_py.high_level_api import IPFSSimpleAPI

BLOB = os.urandom(700_000) + b"tail"  # three 256 KiB chunks: a real DAG over the data channel


@pytest.fixture(scope="module")
def media() -> dict[str, bytes]:
    return {
        "video.mp4": make_mp4(3),
        "bframes.mp4": make_mp4(2, b_frames=2, audio=False),
        "notes.txt": b"not a video\n" * 1000,
        "blob.bin": BLOB,
    }


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, media: dict[str, bytes]) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    repo = tmp_path_factory.mktemp("webrtc") / "repo"
    repo.mkdir()
    cids = add_to_repo(repo, media)
    server = start_server(repo)
    try:
        yield server, cids
    finally:
        server.stop()


async def collect(stream: MediaStream, n: int, timeout: float = 15) -> list:
    frames = []
    async with asyncio.timeout(timeout):
        async for frame in stream:
            frames.append(frame)
            if len(frames) >= n:
                break
    return frames


def check_picture(frames: list) -> None:
    """Real decoded testsrc pictures: right size, increasing timestamps, not a flat image."""
    assert all((f.width, f.height) == (640, 480) for f in frames)
    pts = [f.pts for f in frames]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    y = bytes(frames[-1].planes[0])
    assert len(set(y[::97])) > 20  # testsrc has colour bars and a gradient


async def test_stream_content_decodes_frames_in_passthrough(srv) -> None:
    server, cids = srv
    async with IPFSSimpleAPI(server.url) as api:
        stream = await api.stream_content(cids["video.mp4"], loop=True)
        frames = await collect(stream, 30)
        check_picture(frames)
        stats = await stream.stats()
        assert stats["server"]["codec"] == "video/H264"
        assert stats["server"]["tracks"]["video"]["mode"] == "passthrough"
        assert stats["time_to_first_frame"] < 5
        assert stats["inbound"]["video"]["packets_received"] > 30
        assert stream.media["video_codec"] == "h264" and stream.media["passthrough"] is True
        await until(lambda: stream.audio_frames > 0, 10, "audio frames")  # the AAC track arrives as Opus and decodes
        changed = await stream.set_quality("low")  # a fixed preset: re-encoded at 400 kbit/s
        assert changed["new_bitrate"] == 400_000 and changed["new_mode"] == "transcode"

        async def mode() -> str:
            return (await stream.stats())["server"]["tracks"]["video"]["mode"]

        await until(lambda: _is(mode(), "transcode"), 10, "the switch to transcode (at the next keyframe)", 0.1)
        check_picture(await collect(stream, 10))


async def _is(value, expected) -> bool:
    return await value == expected


async def test_client_raises_typed_errors(srv) -> None:
    server, cids = srv
    with pytest.raises(NotFound):
        await stream_content(server.url, "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
    with pytest.raises(InvalidArgument, match="not_media"):
        await stream_content(server.url, cids["notes.txt"])
    with pytest.raises(InvalidCID):
        await stream_content(server.url, "not-a-cid")


async def test_b_frames_are_transcoded(srv) -> None:
    server, cids = srv
    stream = await stream_content(server.url, cids["bframes.mp4"])
    try:
        frames = await collect(stream, 20)
        check_picture(frames)
        stats = await stream.stats()
        assert stream.media["b_frames"] is True
        assert stats["server"]["tracks"]["video"]["mode"] == "transcode"
    finally:
        await stream.close()


async def test_vp8_preference_uses_aiortc_encoder(srv) -> None:
    server, cids = srv
    stream = await stream_content(server.url, cids["video.mp4"], codec="vp8", tracks=("video",))
    try:
        check_picture(await collect(stream, 15))
        stats = await stream.stats()
        assert stats["server"]["codec"] == "video/VP8"
        assert stats["server"]["tracks"]["video"]["mode"] == "frames"
    finally:
        await stream.close()


async def test_start_position(srv) -> None:
    server, cids = srv
    stream = await stream_content(server.url, cids["video.mp4"], start=2.2)
    try:
        frames = []
        async with asyncio.timeout(10):
            async for f in stream:
                frames.append(f)
        # 3 s of video from the keyframe at 2.0 s (GOP 0.5 s): a second of frames, then the end
        assert 20 <= len(frames) <= 40, len(frames)
        assert stream.ended and stream.error is None
        assert stream.audio_frames > 0  # audio starts at the same keyframe time
    finally:
        await stream.close()


async def test_datachannel_fetch_verifies_against_cid(srv) -> None:
    server, cids = srv
    assert await fetch_content(server.url, cids["blob.bin"]) == BLOB
    stream = await stream_content(server.url, cids["video.mp4"], tracks=("video",))
    try:  # the data channel of a media session, while video flows
        assert await stream.fetch(cids["notes.txt"]) == b"not a video\n" * 1000
        with pytest.raises(IPFSKitError, match="not found|no block|not stored"):
            await stream.fetch("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
        assert len(await collect(stream, 5)) == 5
    finally:
        await stream.close()


async def test_seed_snippet_works_as_written(srv) -> None:
    server, cids = srv
    ice.apply_settings()  # the client's ICE settings (loopback in tests) for a bare RTCPeerConnection()
    mcp_url, cid = server.host_port, cids["video.mp4"]

    # -- the seed's connect_to_mcp_webrtc, verbatim, plus sending the answer back --
    async with websockets.connect(f"ws://{mcp_url}/webrtc") as websocket:
        await websocket.send(json.dumps({
            "type": "offer_request",
            "cid": cid
        }))
        response = json.loads(await websocket.recv())
        if response["type"] == "offer":
            sdp = response["sdp"]
            pc_id = response["pc_id"]
            pc = RTCPeerConnection()
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
            # --
            await websocket.send(json.dumps({"type": "answer", "pc_id": pc_id, "sdp": pc.localDescription.sdp}))
            ack = json.loads(await websocket.recv())
            assert ack == {"type": "answer_ack", "pc_id": pc_id}
            track = next(t.receiver.track for t in pc.getTransceivers() if t.kind == "video")
            frame = await asyncio.wait_for(track.recv(), 10)
            assert (frame.width, frame.height) == (640, 480)
            await pc.close()
    assert response["type"] == "offer"


async def test_sessions_are_announced_on_the_notification_hub(srv) -> None:
    server, cids = srv
    types = ["webrtc_offer", "webrtc_connected", "webrtc_error", "webrtc_quality_changed"]
    async with websockets.connect(f"ws://{server.host_port}/ws/notifications") as hub:
        await hub.send(json.dumps({"id": 1, "action": "subscribe", "notification_types": types}))
        async with asyncio.timeout(5):
            while (reply := json.loads(await hub.recv())).get("id") != 1:
                pass  # the hub's welcome
        assert reply.get("type") != "error", reply
        stream = await stream_content(server.url, cids["video.mp4"], tracks=("video",))
        try:
            await stream.next_frame()
            await stream.set_quality("medium")
        finally:
            await stream.close()
        seen: dict[str, dict] = {}
        async with asyncio.timeout(10):
            while len(seen) < 3:
                event = json.loads(await hub.recv())
                if event.get("type") in types and event["data"].get("pc_id") == stream.pc_id:
                    seen[event["type"]] = event["data"]
        assert seen["webrtc_offer"]["cid"] == cids["video.mp4"] and seen["webrtc_offer"]["offerer"] == "server"
        assert seen["webrtc_connected"]["codec"] == "video/H264"
        assert seen["webrtc_quality_changed"]["new_bitrate"] == 1_000_000


async def test_built_in_test_pattern_on_an_empty_node(tmp_path) -> None:
    """The connectivity check's WebRTC session: real frames from a node that stores nothing."""
    from conftest import start_server

    from ipfs_kit_py.client.streaming import stream_test_pattern

    srv = start_server(tmp_path / "empty")
    try:
        ice.apply_settings()
        stream = await stream_test_pattern(srv.url, timeout=30)
        try:
            frames = 0
            async for frame in stream:
                assert (frame.width, frame.height) == (320, 240)
                frames += 1
                if frames == 5:
                    break
            assert stream.cid and stream.cid.startswith("Qm")
        finally:
            await stream.close()
        pins = httpx.post(f"{srv.url}/api/v0/pin/ls", timeout=10).json().get("Keys", {})  # {} when none (Kubo)
        assert stream.cid not in pins  # the clip is not pinned: GC may take it back
    finally:
        srv.stop()
