"""A session's figures: the receiver's reports (RTCP RR, REMB) and the ``stats`` reply."""

from __future__ import annotations

import time
from typing import Any

from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from ..compat import aiortc as aiortc_compat
from .bitrate import NetworkReport
from .session import Session

REMB_STALE = 30.0  # seconds after which an SSRC set's REMB no longer counts (its stream is gone)


def record_remb(session: Session, names: list[str]) -> None:
    """Keep the receiver's latest REMB (one estimate for the whole connection) in ``session.remb``,
    hooking the video senders of ``names`` not hooked yet."""

    def seen(packet: Any) -> None:
        # a REMB covers the SSRCs it lists: Chromium sends one for all of them, aiortc one per
        # receiver (its own SSRC); the connection's estimate is the sum over distinct SSRC sets
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            now = time.monotonic()
            estimates = session.remb_estimates
            estimates[tuple(sorted(ssrcs))] = (bitrate, now)
            for k in [k for k, (_, t) in estimates.items() if now - t > REMB_STALE]:
                del estimates[k]
            session.remb = sum(b for b, _ in estimates.values())

    for name in names:
        t = session.transceivers.get(name)
        track = session.tracks.get(name)
        if t is None or track is None or track.kind != "video" or getattr(t.sender, "_ipfs_kit_remb", False):
            continue
        t.sender._ipfs_kit_remb = True  # type: ignore[attr-defined]
        aiortc_compat.on_rtcp(t.sender, seen)


async def refresh(session: Session) -> Any:
    """Update ``session.last_report`` from the video senders' stats (the worst of them: they
    share one path); returns the latest ``remote-inbound-rtp`` entry (None before the first)."""
    worst = None
    sent = [0, 0]
    for name, t in session.transceivers.items():
        track = session.tracks.get(name)
        if track is None or track.kind != "video":
            continue
        stats = await t.sender.getStats()
        remote = next((s for s in stats.values() if s.type == "remote-inbound-rtp"), None)
        out = next((s for s in stats.values() if s.type == "outbound-rtp"), None)
        if out is not None:
            sent[0] += out.packetsSent
            sent[1] += out.bytesSent
        if remote is not None and (worst is None or (remote.fractionLost, remote.roundTripTime or 0)
                                   > (worst.fractionLost, worst.roundTripTime or 0)):
            worst = remote
    if sent[0]:
        session.last_report.update(packets_sent=sent[0], bytes_sent=sent[1])
    if worst is not None:
        session.last_report.update(fraction_lost=worst.fractionLost / 256, packets_lost=worst.packetsLost,
                                   rtt=worst.roundTripTime, jitter=worst.jitter, remb=session.remb)
    return worst


async def read_report(session: Session) -> NetworkReport | None:
    """The receiver report the bitrate loop has not seen yet, or None (a ``stats_request``
    in between does not consume it)."""
    remote = await refresh(session)
    if remote is None or session.last_report.get("control_ts") == remote.timestamp:
        return None
    session.last_report["control_ts"] = remote.timestamp
    return NetworkReport(remote.fractionLost / 256, remote.roundTripTime, remote.jitter, session.remb)


def session_stats(session: Session) -> dict[str, Any]:
    """The ``stats`` of a ``stats_request`` reply (docs/protocols.md)."""
    ctl = session.controller
    return {
        "state": str(session.state), "cid": session.cid, "codec": session.codec,
        "connection_state": session.pc.connectionState,
        "tracks": {k: {**t.stats(), "stream_id": session.track_stream.get(k)} for k, t in session.tracks.items()},
        "streams": {sid: {**st.describe(), "paused": st.clock.paused} for sid, st in session.streams.items()},
        "bitrate": ctl.current if ctl else None,
        "bitrate_estimate": int(ctl.estimate) if ctl else None,
        "network": {k: v for k, v in session.last_report.items() if k != "control_ts"},
    }
