"""SDP negotiation of a session: transceivers, codec preference, what was agreed, ICE candidates."""

from __future__ import annotations

from typing import Any

from aiortc import RTCIceCandidate, RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.sdp import candidate_from_sdp

from ..compat import aiortc as aiortc_compat
from ..errors import InvalidArgument, SignalingError
from .messages import IceCandidate
from .session import CODECS, Session


def check_sdp(sdp: Any) -> str:
    """Reject what is obviously not SDP before aiortc sees it."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or "\nm=" not in sdp.replace("\r", ""):
        raise SignalingError("invalid_sdp", "sdp must be a session description (starting with v=0, with m= sections)")
    return sdp


def prefer_codec(transceiver: RTCRtpTransceiver, codec: str) -> None:
    """aiortc offers VP8 first: order the wanted codec first (its RTX kept), keep the rest."""
    want = CODECS[codec].lower()
    caps = RTCRtpSender.getCapabilities("video").codecs
    first = [c for c in caps if c.mimeType.lower() == want]
    transceiver.setCodecPreferences(first + [c for c in caps if c.mimeType.lower() != want])


def add_transceivers(session: Session, names: list[str] | None = None) -> None:
    """A sendonly transceiver per track (``names``: those only), video with the codec preference."""
    for name in names if names is not None else list(session.tracks):
        track = session.tracks[name]
        t = session.pc.addTransceiver(track, direction="sendonly")
        session.transceivers[name] = t
        if track.kind == "video":
            prefer_codec(t, session.options.codec)


def drop_unmatched(session: Session, names: list[str] | None = None) -> None:
    """After a client offer: tracks with no section of their kind in it are stopped."""
    for name in names if names is not None else list(session.transceivers):
        t = session.transceivers.get(name)
        if t is not None and t.mid is None:
            del session.transceivers[name]
            track = session.tracks.pop(name)
            sid = session.track_stream.get(name)
            if sid in session.streams:
                session.streams[sid].tracks.remove(name)
            track.stop()


def video_codec(session: Session) -> str | None:
    """After the remote description: the agreed video codec of the first video track (None
    without video); every video track leaves as packets only when H.264 was agreed for it.
    SignalingError when a video section agreed on nothing."""
    first: str | None = None
    for name, t in session.transceivers.items():
        track = session.tracks.get(name)
        if track is None or track.kind != "video" or t.direction == "inactive":
            continue
        codecs = aiortc_compat.negotiated_codecs(t)
        if not codecs:
            raise SignalingError("no_common_codec", "the peer accepted no video codec we can send")
        track.output = "packets" if codecs[0].mimeType.lower() == "video/h264" else "frames"
        if track.output != "packets" and track.info.encryption is not None:
            raise SignalingError("no_common_codec", "encrypted media needs H.264 (the peer did not accept it)")
        if first is None or name == "video":
            first = str(codecs[0].mimeType)
    return first


def ice_candidate(c: IceCandidate) -> RTCIceCandidate:
    """aiortc's candidate from the browser's ``RTCIceCandidate.toJSON()`` fields."""
    try:
        out = candidate_from_sdp(c.candidate.removeprefix("candidate:"))
    except Exception as e:  # aiortc's parser asserts, indexes and converts as it goes
        raise InvalidArgument(f"malformed ICE candidate {c.candidate[:100]!r}: {e!r}") from None
    out.sdpMid = c.sdp_mid
    out.sdpMLineIndex = c.sdp_mline_index
    return out
