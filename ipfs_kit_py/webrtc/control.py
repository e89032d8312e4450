"""The bitrate loop of a session: receiver report -> controller -> the video track's target."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ..compat import aiortc as aiortc_compat
from .bitrate import AdaptiveBitrateController, NetworkReport
from .media import FRAMES, MediaInfo, Rendition
from .session import Session

OnChange = Callable[[dict[str, Any]], Awaitable[None]]


def controller_for(info: MediaInfo, renditions: list[Rendition]) -> AdaptiveBitrateController:
    """The controller of a video: its levels are the stored renditions when there are some."""
    top = max(info.video_bitrate, 300_000)
    if renditions:
        return AdaptiveBitrateController(top, min_bitrate=min(r.bitrate for r in renditions),
                                         ladder=tuple(r.bitrate for r in renditions))
    return AdaptiveBitrateController(top, min_bitrate=min(250_000, top))


def apply_bitrate(session: Session, bitrate: int | None) -> None:
    """Set the video target (None: the source's). Packets: our encoder or passthrough follow at
    the next keyframe; frames: aiortc's encoder (REMB may move it; the loop reapplies)."""
    video = session.video
    if video is None:
        return
    video.target_bitrate = bitrate
    if video.output == FRAMES:
        t = session.transceivers.get("video")
        encoder = aiortc_compat.sender_encoder(t.sender) if t else None
        if encoder is not None and hasattr(encoder, "target_bitrate"):
            encoder.target_bitrate = bitrate or (session.info.video_bitrate if session.info else None)


async def run(session: Session, interval: float, read_report: Callable[[Session], Awaitable[NetworkReport | None]],
              on_change: OnChange) -> None:
    """Every ``interval`` seconds while the video is live: apply the controller's decision to the
    latest receiver report and pass each change (the ``quality_changed`` fields) to ``on_change``."""
    assert session.controller is not None and session.video is not None
    video = session.video
    while session.open and video.readyState == "live":
        await asyncio.sleep(interval)  # the pace of receiver reports, not a wait for a condition
        ctl = session.controller
        if ctl is None:  # a fixed quality was chosen meanwhile
            return
        try:
            report = await read_report(session)
        except Exception:  # transport gone; the state handler closes the session
            return
        if report is None:
            continue
        change = ctl.update(report)
        if change is None:
            continue
        old_mode, old_rendition = video.desired()
        apply_bitrate(session, None if change.new >= ctl.max_bitrate else change.new)
        new_mode, new_rendition = video.desired()
        await on_change({"pc_id": session.pc_id, "cid": session.cid, "old_bitrate": change.old,
                         "new_bitrate": change.new, "reason": change.reason, "old_mode": old_mode,
                         "new_mode": new_mode, "old_rendition": old_rendition, "new_rendition": new_rendition,
                         "fraction_lost": report.fraction_lost, "rtt": report.rtt, "remb": report.remb})
