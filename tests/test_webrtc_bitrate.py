"""Adaptive bitrate: the pure controller, and the real loop with loss injected on the path."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ServerProcess, start_server
from webrtc_media import add_to_repo, make_mp4, until

from ipfs_kit_py.client.streaming import MediaStream, stream_content
from ipfs_kit_py.webrtc.bitrate import AdaptiveBitrateController, NetworkReport

# -- the decision logic, without sockets -------------------------------------------------------


def test_controller_steps_down_on_loss_and_back_up_when_clean() -> None:
    ctl = AdaptiveBitrateController(2_000_000)
    assert ctl.current == 2_000_000 and ctl.levels == [250_000, 500_000, 1_000_000, 2_000_000]
    assert ctl.update(NetworkReport(0.0, 0.02)) is None  # clean path at the top: nothing to do
    down = ctl.update(NetworkReport(0.30, 0.02))
    assert down is not None and down.old == 2_000_000 and down.new == 1_000_000 and "loss 30%" in down.reason
    changes = [ctl.update(NetworkReport(0.30, 0.02)) for _ in range(10)]
    assert ctl.current == 250_000 and [c.new for c in changes if c] == [500_000, 250_000]
    ups = [c for c in (ctl.update(NetworkReport(0.0, 0.02)) for _ in range(20)) if c]
    assert [c.new for c in ups] == [500_000, 1_000_000, 2_000_000] and all("recovering" in c.reason for c in ups)


def test_controller_holds_on_moderate_loss_and_reacts_to_rtt_and_remb() -> None:
    ctl = AdaptiveBitrateController(2_000_000)
    assert all(ctl.update(NetworkReport(0.05, 0.02)) is None for _ in range(10))  # between thresholds
    change = ctl.update(NetworkReport(0.0, 0.9))
    assert change is not None and change.new == 1_000_000 and change.reason.startswith("rtt")
    ctl = AdaptiveBitrateController(2_000_000)
    change = ctl.update(NetworkReport(0.0, 0.02, remb=600_000))  # REMB caps, the controller decides
    assert change is not None and change.new == 500_000 and "REMB" in change.reason
    # a REMB above the level being sent does not hold the controller back (it cannot exceed
    # ~1.5x what the receiver gets): clean reports step up one level at a time
    ups = [c for c in (ctl.update(NetworkReport(0.0, 0.02, remb=int(ctl.current * 1.4))) for _ in range(20)) if c]
    assert [c.new for c in ups] == [1_000_000, 2_000_000]


def test_controller_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        AdaptiveBitrateController(0)
    with pytest.raises(ValueError):
        AdaptiveBitrateController(100_000, min_bitrate=200_000)


# -- the real loop: server subprocess, aiortc client, packets dropped on the path -----------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    repo = tmp_path_factory.mktemp("webrtc-bitrate") / "repo"
    repo.mkdir()
    cids = add_to_repo(repo, {"video.mp4": make_mp4(4, bitrate=2_000_000, audio=False)})
    server = start_server(repo)
    try:
        yield server, cids["video.mp4"]
    finally:
        server.stop()


class LossyPath:
    """Drops a fraction of the RTP packets arriving at the client (as a lossy network would)."""

    def __init__(self, stream: MediaStream, seed: int = 1) -> None:
        self.rate = 0.0
        self.dropped = 0
        self.rng = random.Random(seed)
        transport = next(t.receiver.transport for t in stream.pc.getTransceivers() if t.kind == "video")
        original = transport._handle_rtp_data

        async def handle(data: bytes, arrival_time_ms: int) -> None:
            if self.rate and self.rng.random() < self.rate:
                self.dropped += 1
                return
            await original(data, arrival_time_ms)

        transport._handle_rtp_data = handle


async def wait_change(stream: MediaStream, seen: int, pred: Any, timeout: float) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for change in stream.quality_changes[seen:]:
            if pred(change):
                return change
        await asyncio.sleep(0.05)
    raise AssertionError(f"no such quality change within {timeout}s; got {stream.quality_changes}")


def justified(change: dict[str, Any]) -> bool:
    """A step down that the receiver report it came with explains."""
    return (change["fraction_lost"] > 0.10 or (change["rtt"] or 0) > 0.5
            or (change["remb"] is not None and change["remb"] < change["old_bitrate"]))


async def _has_report(stream: MediaStream) -> bool:
    return "fraction_lost" in (await stream.stats())["server"]["network"]


async def _where(value: Any, pred: Any) -> Any:
    v = await value
    return v if pred(v) else None


async def test_loss_lowers_bitrate_and_recovery_raises_it(srv) -> None:
    server, cid = srv
    stream = await stream_content(server.url, cid, tracks=("video",), loop=True)
    try:
        path = LossyPath(stream)
        await stream.next_frame(timeout=10)
        # a clean path: receiver reports reach the controller while two seconds of video play
        await until(lambda: stream.frames_received >= 60, 15, "two seconds of frames")
        await until(lambda: _has_report(stream), 10, "a receiver report at the server", 0.2)
        early = list(stream.quality_changes)
        # no step down without a reason in the report (a loaded CPU may really delay or drop packets)
        assert all(justified(c) for c in early if c["new_bitrate"] < c["old_bitrate"]), early
        if not early:
            assert (await stream.stats())["server"]["tracks"]["video"]["mode"] == "passthrough"

        path.rate = 0.3
        down = await wait_change(stream, len(early), lambda c: c["new_bitrate"] < c["old_bitrate"], 10)
        assert down["reason"].startswith("loss") and down["fraction_lost"] > 0.1
        assert down["new_mode"] == "transcode" and (early or down["old_mode"] == "passthrough")
        assert path.dropped > 0

        async def server_video() -> dict[str, Any]:
            return (await stream.stats())["server"]

        # the switch happens at the next keyframe (0.5 s GOP)
        stats = await until(lambda: _where(server_video(), lambda s: s["tracks"]["video"]["mode"] == "transcode"),
                            10, "the switch to transcode", 0.1)
        assert stats["bitrate"] < 2_000_000

        path.rate = 0.0
        seen = len(stream.quality_changes)
        lowest = min(c["new_bitrate"] for c in stream.quality_changes)
        up = await wait_change(stream, seen, lambda c: c["new_bitrate"] > c["old_bitrate"], 20)
        assert "recovering" in up["reason"] and up["new_bitrate"] > lowest
        for _ in range(5):  # frames keep decoding through the switches
            await stream.next_frame(timeout=5)
    finally:
        await stream.close()


@pytest.fixture(scope="module")
def rendition_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, str]]:
    repo = tmp_path_factory.mktemp("webrtc-renditions") / "repo"
    repo.mkdir()
    cids = add_to_repo(
        repo,
        {"video.mp4": make_mp4(4, bitrate=2_000_000, audio=False),
         "video-240p.mp4": make_mp4(4, width=320, height=240, bitrate=400_000, audio=False)},
        metadata=lambda c: {"video.mp4": {"renditions": [{"cid": c["video-240p.mp4"], "bitrate": 400_000}]}},
    )
    server = start_server(repo)
    try:
        yield server, cids["video.mp4"], cids["video-240p.mp4"]
    finally:
        server.stop()


async def wait_size(stream: MediaStream, size: tuple[int, int], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        frame = await stream.next_frame(timeout=5)
        if (frame.width, frame.height) == size:
            return
    raise AssertionError(f"no {size} frame within {timeout}s")


async def test_passthrough_switches_between_stored_renditions(rendition_srv) -> None:
    server, cid, low = rendition_srv
    stream = await stream_content(server.url, cid, tracks=("video",), loop=True)
    try:
        path = LossyPath(stream)
        await wait_size(stream, (640, 480), 10)
        path.rate = 0.3
        down = await wait_change(stream, 0, lambda c: c["new_bitrate"] < c["old_bitrate"], 10)
        assert down["new_bitrate"] == 400_000 and down["new_mode"] == "passthrough"
        assert down["old_rendition"] is None and down["new_rendition"] == low
        await wait_size(stream, (320, 240), 5)  # the stored 240p rendition, not re-encoded
        stats = (await stream.stats())["server"]["tracks"]["video"]
        assert stats["mode"] == "passthrough" and stats["rendition"] == low

        path.rate = 0.0
        seen = len(stream.quality_changes)
        up = await wait_change(stream, seen, lambda c: c["new_bitrate"] > c["old_bitrate"], 20)
        assert up["new_rendition"] is None and up["new_mode"] == "passthrough"
        await wait_size(stream, (640, 480), 5)
    finally:
        await stream.close()
