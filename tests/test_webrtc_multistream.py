"""Several streams in one WebRTC session: set up together, added and removed mid-session by
renegotiation (both offer directions), each paused, sought and ended on its own, sharing one
bandwidth estimate in which the main track gets the larger share."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import websockets
from conftest import ServerProcess, start_server
from test_webrtc_bitrate import LossyPath, wait_change
from webrtc_media import add_to_repo, make_mp4, until

from ipfs_kit_py.client.streaming import open_streams
from ipfs_kit_py.errors import IPFSKitError
from ipfs_kit_py.webrtc.control import MAIN_WEIGHT, allocate


def test_allocation_favours_the_main_track_and_never_exceeds_a_source() -> None:
    shares = allocate(2_000_000, {"video": 2_000_000, "s1.video": 2_000_000}, "s1.video")
    assert shares["s1.video"] == MAIN_WEIGHT * shares["video"] and sum(shares.values()) <= 2_000_000
    shares = allocate(3_000_000, {"video": 500_000, "s1.video": 4_000_000}, "video")
    assert shares == {"video": 500_000, "s1.video": 2_500_000}  # the main's cap frees bandwidth for the other
    assert allocate(10_000_000, {"a": 1_000_000, "b": 2_000_000}, "a") == {"a": 1_000_000, "b": 2_000_000}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    repo = tmp_path_factory.mktemp("multistream") / "repo"
    repo.mkdir()
    cids = add_to_repo(repo, {
        "big.mp4": make_mp4(6, bitrate=2_000_000, audio=False),
        "small.mp4": make_mp4(6, width=320, height=240, bitrate=2_000_000, audio=False),
        "tiny.mp4": make_mp4(4, width=160, height=120, audio=True),
    })
    server = start_server(repo)
    try:
        yield server, cids
    finally:
        server.stop()


async def sizes(view, n: int = 5) -> set[tuple[int, int]]:
    return {((f := await view.next_frame(10)).width, f.height) for _ in range(n)}


async def test_two_streams_in_one_session_then_one_added_and_one_removed(srv) -> None:
    server, cids = srv
    stream = await open_streams(server.url, [{"cid": cids["big.mp4"], "loop": True},
                                             {"cid": cids["small.mp4"], "loop": True, "main": True}])
    try:
        assert set(stream.streams) == {"s0", "s1"}
        assert await sizes(stream.streams["s0"]) == {(640, 480)}
        assert await sizes(stream.streams["s1"]) == {(320, 240)}
        server_stats = (await stream.stats())["server"]
        assert set(server_stats["tracks"]) == {"video", "s1.video"}
        assert server_stats["streams"]["s1"]["main"] is True
        assert len({t.receiver.transport for t in stream.pc.getTransceivers()}) == 1  # one connection

        # a third stream mid-session: the video of one CID with the audio of another
        tiny = await stream.add_stream(cids["tiny.mp4"], tracks=("video", "audio"))
        assert tiny.stream_id == "s2" and await sizes(tiny) == {(160, 120)}
        await until(lambda: tiny.audio_frames > 0, 10, "the added stream's audio")
        await sizes(stream.streams["s0"])  # the first streams never stopped

        await stream.remove_stream("s1")
        s1, s0 = stream.streams["s1"], stream.streams["s0"]
        seen = s0.frames_received
        await until(lambda: s0.frames_received > seen + 15, 15, "s0 goes on")  # s1's frames in flight drain
        before = s1.frames_received
        await until(lambda: s0.frames_received > seen + 75, 15, "two more seconds of s0")
        assert s1.frames_received <= before + 1
        server_stats = (await stream.stats())["server"]
        assert server_stats["streams"]["s1"]["state"] == "removed" and "s1.video" not in server_stats["tracks"]
        with pytest.raises(IPFSKitError, match="unknown stream"):
            await stream.control("s1", "pause")
    finally:
        await stream.close()


async def test_pause_seek_and_end_one_stream_while_the_other_plays(srv) -> None:
    server, cids = srv
    stream = await open_streams(server.url, [{"cid": cids["big.mp4"], "loop": True},
                                             {"cid": cids["small.mp4"]}])
    try:
        a, b = stream.streams["s0"], stream.streams["s1"]
        await a.next_frame(10)
        await b.next_frame(10)
        reply = await stream.control("s0", "pause")
        assert reply["type"] == "stream_state" and reply["state"] == "paused"
        seen = b.frames_received
        await until(lambda: b.frames_received > seen + 15, 10, "s1 keeps playing")  # frames in flight drain
        paused_at = a.frames_received
        await until(lambda: b.frames_received > seen + 45, 10, "s1 keeps playing")
        assert a.frames_received <= paused_at + 1
        await stream.control("s0", "play")
        await until(lambda: a.frames_received > paused_at + 20, 10, "s0 plays again")

        async def source_time(name: str) -> float | None:
            return (await stream.stats())["server"]["tracks"][name]["source_time"]

        reply = await stream.control("s1", "seek", 4.2)
        assert reply["position"] == 4.0  # the keyframe before it (GOP 0.5 s)
        await until(lambda: _at_least(source_time("s1.video"), 4.0), 10, "s1 plays from 4 s", 0.1)
        assert await sizes(b, 3) == {(320, 240)}

        await stream.control("s1", "end")
        await until(lambda: b.ended, 10, "s1 ended")
        assert not a.ended
        await a.next_frame(10)
    finally:
        await stream.close()


async def _at_least(value, limit: float) -> bool:
    v = await value
    return v is not None and v >= limit


async def test_the_main_track_gets_the_larger_share_when_bandwidth_falls(srv) -> None:
    server, cids = srv
    stream = await open_streams(server.url, [{"cid": cids["big.mp4"], "loop": True, "main": True},
                                             {"cid": cids["small.mp4"], "loop": True}])
    try:
        await stream.streams["s0"].next_frame(10)
        path = LossyPath(stream)
        path.rate = 0.3
        down = await wait_change(stream, 0, lambda c: c["new_bitrate"] < c["old_bitrate"], 15)
        assert down["track"] == "video" and set(down["tracks"]) == {"video", "s1.video"}
        assert down["tracks"]["video"] > down["tracks"]["s1.video"]
        assert down["tracks"]["video"] + down["tracks"]["s1.video"] <= down["new_bitrate"] + 200_000
    finally:
        await stream.close()


async def test_browser_style_reoffer_adds_a_stream(srv) -> None:
    """The other direction: the client re-offers with a new receive section for a new stream."""
    server, cids = srv
    stream = await open_streams(server.url, [{"cid": cids["big.mp4"], "loop": True}])
    try:
        await stream.streams["s0"].next_frame(10)
        stream.pc.addTransceiver("video", direction="recvonly")
        await stream.pc.setLocalDescription(await stream.pc.createOffer())
        answer = await stream.signaling.request({"type": "offer", "pc_id": stream.pc_id,
                                                 "sdp": stream.pc.localDescription.sdp,
                                                 "stream": {"cid": cids["small.mp4"], "tracks": ["video"]}})
        stream.learn_tracks(answer)
        from aiortc import RTCSessionDescription

        await stream.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        assert answer["stream_id"] == "s1"
        new = stream.streams["s1"]
        assert await sizes(new) == {(320, 240)}
    finally:
        await stream.close()


async def test_stream_messages_are_validated(srv) -> None:
    server, cids = srv
    async with websockets.connect(f"ws://{server.host_port}/ws/webrtc") as ws:
        async def ask(msg: dict) -> dict:
            await ws.send(json.dumps(msg))
            return json.loads(await asyncio.wait_for(ws.recv(), 15))

        offer = await ask({"type": "offer_request", "streams": [{"cid": cids["big.mp4"]}]})
        assert offer["type"] == "offer" and [t["stream_id"] for t in offer["tracks"]] == ["s0"]
        r = await ask({"type": "add_stream", "pc_id": offer["pc_id"], "stream": {"cid": cids["small.mp4"]}})
        assert r["code"] == "invalid_state"  # not connected yet
        r = await ask({"type": "stream_control", "pc_id": offer["pc_id"], "stream_id": "s0", "action": "rewind"})
        assert r["code"] == "invalid_argument"
        r = await ask({"type": "stream_control", "pc_id": offer["pc_id"], "stream_id": "s0", "action": "seek"})
        assert r["code"] == "invalid_argument"
        r = await ask({"type": "offer_request", "streams": []})
        assert r["code"] == "invalid_argument"
        r = await ask({"type": "offer_request", "streams": [{"tracks": ["video"]}]})
        assert r["code"] == "invalid_argument" and "cid" in r["error"]
        r = await ask({"type": "offer_request", "streams": [{"cid": cids["big.mp4"]}] * 9})
        assert r["code"] == "invalid_argument"


async def test_quality_source_never_reencodes_under_loss(srv) -> None:
    server, cids = srv
    stream = await open_streams(server.url, [{"cid": cids["big.mp4"], "loop": True}], quality="source")
    try:
        await stream.streams["s0"].next_frame(10)
        path = LossyPath(stream)
        path.rate = 0.3
        await until(lambda: path.dropped > 200, 15, "packets dropped on the path")
        await until(lambda: _has_loss(stream), 15, "the loss reported to the server", 0.2)
        server_stats = (await stream.stats())["server"]
        assert server_stats["bitrate"] is None and not stream.quality_changes  # no controller at all
        assert server_stats["tracks"]["video"]["mode"] == "passthrough"
    finally:
        await stream.close()


async def _has_loss(stream) -> bool:
    return ((await stream.stats())["server"]["network"].get("fraction_lost") or 0) > 0.05
