"""The bitrate loop of a session: receiver report -> controller -> the video track's target."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from ..compat import aiortc as aiortc_compat
from .bitrate import AdaptiveBitrateController, NetworkReport
from .media import FRAMES, IPFSMediaStreamTrack, MediaInfo, Rendition
from .session import Session

OnChange = Callable[[dict[str, Any]], Awaitable[None]]


def controller_for(info: MediaInfo, renditions: list[Rendition]) -> AdaptiveBitrateController:
    """The controller of a video: its levels are the stored renditions when there are some."""
    top = max(info.video_bitrate, 300_000)
    if renditions:
        return AdaptiveBitrateController(top, min_bitrate=min(r.bitrate for r in renditions),
                                         ladder=tuple(r.bitrate for r in renditions))
    return AdaptiveBitrateController(top, min_bitrate=min(250_000, top))


REMB_WARMUP = 4.0  # seconds of a new loop during which REMB is not yet trusted (it ramps up from a low start)
MAIN_WEIGHT = 3  # the main track's share of the bandwidth, against 1 for each other track


def shared_controller(videos: list[IPFSMediaStreamTrack]) -> AdaptiveBitrateController:
    """One controller over the bandwidth several video tracks share (the sum of their sources)."""
    total = sum(max(v.info.video_bitrate, 300_000) for v in videos)
    floor = min(250_000 * len(videos), total)
    return AdaptiveBitrateController(total, min_bitrate=floor, ladder=(total // 8, total // 4, total // 2))


def allocate(total: int, sources: dict[str, int], main: str | None) -> dict[str, int]:
    """Split ``total`` bits/s over tracks (name -> source bitrate): the main track weighs
    ``MAIN_WEIGHT``, the others 1; no track gets more than its source; what one cannot use goes
    to the others (water-filling)."""
    out: dict[str, int] = {}
    left, open_ = float(total), dict(sources)
    while open_ and left > 1:
        weights = {n: (MAIN_WEIGHT if n == main else 1) for n in open_}
        unit = left / sum(weights.values())
        capped = {n for n in open_ if unit * weights[n] >= open_[n]}
        if not capped:
            for n in open_:
                out[n] = int(unit * weights[n])
            return out
        for n in capped:
            out[n] = open_.pop(n)
            left -= out[n]
    for n in open_:
        out[n] = max(0, int(left / len(open_)))
    return out


def _set(session: Session, name: str, track: IPFSMediaStreamTrack, bitrate: int | None) -> None:
    track.target_bitrate = bitrate
    if track.output == FRAMES:
        t = session.transceivers.get(name)
        encoder = aiortc_compat.sender_encoder(t.sender) if t else None
        if encoder is not None and hasattr(encoder, "target_bitrate"):
            encoder.target_bitrate = bitrate or track.info.video_bitrate


def apply_bitrate(session: Session, bitrate: int | None, main: str | None = None) -> dict[str, int | None]:
    """Set the video targets (None: the sources'); returns each track's target. One video track
    gets ``bitrate``; several share it (``allocate``). Packets: our encoder or passthrough follow
    at the next keyframe; frames: aiortc's encoder (REMB may move it; the loop reapplies)."""
    videos = {n: t for n, t in session.video_tracks().items() if t.info.encryption is None}
    if not videos:
        return {}
    if len(videos) == 1 or bitrate is None:
        for name, track in videos.items():
            _set(session, name, track, bitrate)
        return {name: bitrate for name in videos}
    sources = {n: max(t.info.video_bitrate, 1) for n, t in videos.items()}
    shares = allocate(bitrate, sources, main if main in videos else next(iter(videos)))
    out: dict[str, int | None] = {}
    for name, track in videos.items():
        target = shares.get(name, 0)
        out[name] = None if target >= sources[name] * 0.9 else max(target, 100_000)
        _set(session, name, track, out[name])
    return out


async def run(session: Session, interval: float, read_report: Callable[[Session], Awaitable[NetworkReport | None]],
              on_change: OnChange, main: Callable[[Session], str | None] = lambda s: None) -> None:
    """Every ``interval`` seconds while a video track is live: apply the controller's decision to
    the latest receiver report and pass each change (the ``quality_changed`` fields) to ``on_change``."""
    started = asyncio.get_running_loop().time()
    while session.open and session.video_tracks():
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
        if asyncio.get_running_loop().time() - started < REMB_WARMUP:
            report = dataclasses.replace(report, remb=None)  # receivers start their estimate low
        change = ctl.update(report)
        if change is None:
            continue
        main_track = main(session)
        video = session.tracks.get(main_track or "") or next(iter(session.video_tracks().values()))
        old_mode, old_rendition = video.desired()
        targets = apply_bitrate(session, None if change.new >= ctl.max_bitrate else change.new, main_track)
        new_mode, new_rendition = video.desired()
        await on_change({"pc_id": session.pc_id, "cid": session.cid, "old_bitrate": change.old,
                         "new_bitrate": change.new, "reason": change.reason, "old_mode": old_mode,
                         "new_mode": new_mode, "old_rendition": old_rendition, "new_rendition": new_rendition,
                         "fraction_lost": report.fraction_lost, "rtt": report.rtt, "remb": report.remb,
                         "track": main_track, "tracks": targets})
