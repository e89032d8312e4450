"""A session's figures: the receiver's reports (RTCP RR, REMB) and the ``stats`` reply."""

from __future__ import annotations

from typing import Any

from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from ..compat import aiortc as aiortc_compat
from .bitrate import NetworkReport
from .session import Session


def record_remb(session: Session) -> None:
    """Keep the receiver's latest REMB (of the video sender) in ``session.remb``."""
    t = session.transceivers.get("video")
    if t is None:
        return

    def seen(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                session.remb = unpack_remb_fci(packet.fci)[0]
            except ValueError:
                pass

    aiortc_compat.on_rtcp(t.sender, seen)


async def refresh(session: Session) -> Any:
    """Update ``session.last_report`` from the video sender's stats; returns the latest
    ``remote-inbound-rtp`` entry (None before the first receiver report)."""
    t = session.transceivers.get("video")
    if t is None:
        return None
    stats = await t.sender.getStats()
    remote = next((s for s in stats.values() if s.type == "remote-inbound-rtp"), None)
    out = next((s for s in stats.values() if s.type == "outbound-rtp"), None)
    if out is not None:
        session.last_report.update(packets_sent=out.packetsSent, bytes_sent=out.bytesSent)
    if remote is not None:
        session.last_report.update(fraction_lost=remote.fractionLost / 256, packets_lost=remote.packetsLost,
                                   rtt=remote.roundTripTime, jitter=remote.jitter, remb=session.remb)
    return remote


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
        "tracks": {k: t.stats() for k, t in session.tracks.items()},
        "bitrate": ctl.current if ctl else None,
        "bitrate_estimate": int(ctl.estimate) if ctl else None,
        "network": {k: v for k, v in session.last_report.items() if k != "control_ts"},
    }
