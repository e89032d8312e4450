"""The manager's events on the bus (what the WebSocket hub forwards), and its clean shutdown.

Runs the manager in-process on a real repo with a real aiortc peer on loopback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiortc import RTCSessionDescription
from webrtc_media import make_mp4, until

from ipfs_kit_py.events import Event, NotificationType
from ipfs_kit_py.ice import peer_connection
from ipfs_kit_py.node import Node
from ipfs_kit_py.webrtc import StreamOptions, WebRTCStreamingManager


async def test_manager_emits_webrtc_events_and_stops_cleanly(tmp_path: Path) -> None:
    node = Node(tmp_path / "repo")
    node.settings.webrtc.offer_timeout = 1.0
    events: list[Event] = []
    node.bus.subscribe(events.append)
    manager = WebRTCStreamingManager(node.model, node.settings.webrtc, node.bus)
    await manager.start()
    pc = peer_connection(node.settings.webrtc)
    try:
        cid = str((await node.model.add_bytes(make_mp4(2, audio=False), "v.mp4")).cid)
        offer = await manager.create_offer(cid, StreamOptions(tracks=("video",)), client_id="a")
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        assert await manager.accept_answer(offer["pc_id"], pc.localDescription.sdp, "a") == {
            "type": "answer_ack", "pc_id": offer["pc_id"]}
        track = next(t.receiver.track for t in pc.getTransceivers() if t.kind == "video")
        frame = await asyncio.wait_for(track.recv(), 10)
        assert frame.width == 640
        reply = await manager.set_quality(offer["pc_id"], "low", "a")
        assert reply["new_bitrate"] == 400_000 and reply["new_mode"] == "transcode"

        unanswered = await manager.create_offer(cid, StreamOptions(tracks=("video",)), client_id="b")
        offered_at = asyncio.get_running_loop().time()
        await until(lambda: unanswered["pc_id"] not in manager.sessions, 10, "the unanswered offer expires")
        assert asyncio.get_running_loop().time() - offered_at >= 0.9  # not before webrtc.offer_timeout
        assert offer["pc_id"] in manager.sessions

        by_type: dict[str, list[dict]] = {}
        for e in events:
            by_type.setdefault(e.type.value, []).append(dict(e.data))
        assert [e["pc_id"] for e in by_type["webrtc_offer"]] == [offer["pc_id"], unanswered["pc_id"]]
        assert by_type["webrtc_connected"] == [{"pc_id": offer["pc_id"], "cid": cid, "codec": "video/H264",
                                                "mode": "passthrough", "tracks": ["video"]}]
        assert by_type["webrtc_quality_changed"][0]["new_bitrate"] == 400_000
        assert by_type["webrtc_error"] == [{"pc_id": unanswered["pc_id"], "cid": cid, "code": "offer_timeout",
                                            "error": "no answer within 1 s; session closed"}]
        assert all(e.type in set(NotificationType) for e in events)
    finally:
        await manager.stop()
        assert manager.sessions == {}
        await pc.close()
        node.close()
