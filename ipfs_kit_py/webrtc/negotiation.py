"""SDP negotiation of a session: transceivers, codec preference, what was agreed, ICE candidates."""

from __future__ import annotations

from typing import Any

from aiortc import RTCIceCandidate, RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.sdp import candidate_from_sdp

from ..compat import aiortc as aiortc_compat
from ..errors import InvalidArgument
from .messages import IceCandidate
from .session import CODECS, Session, SignalingError


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


def add_transceivers(session: Session) -> None:
    """A sendonly transceiver per track, the video one with the codec preference."""
    for kind, track in session.tracks.items():
        t = session.pc.addTransceiver(track, direction="sendonly")
        session.transceivers[kind] = t
        if kind == "video":
            prefer_codec(t, session.options.codec)


def drop_unmatched(session: Session) -> None:
    """After a client offer: tracks whose kind has no section in it are stopped."""
    for kind, t in list(session.transceivers.items()):
        if t.mid is None:
            del session.transceivers[kind]
            session.tracks.pop(kind).stop()


def video_codec(session: Session) -> str | None:
    """After the remote description: the agreed video codec (None without video). Video leaves
    the track as packets only when H.264 was agreed; SignalingError when nothing was."""
    t = session.transceivers.get("video")
    video = session.video
    if t is None or video is None:
        return None
    codecs = aiortc_compat.negotiated_codecs(t)
    if not codecs:
        raise SignalingError("no_common_codec", "the peer accepted no video codec we can send")
    video.output = "packets" if codecs[0].mimeType.lower() == "video/h264" else "frames"
    if video.output != "packets" and video.info.encryption is not None:
        raise SignalingError("no_common_codec", "encrypted media needs H.264 (the peer did not accept it)")
    return str(codecs[0].mimeType)


def ice_candidate(c: IceCandidate) -> RTCIceCandidate:
    """aiortc's candidate from the browser's ``RTCIceCandidate.toJSON()`` fields."""
    try:
        out = candidate_from_sdp(c.candidate.removeprefix("candidate:"))
    except Exception as e:  # aiortc's parser asserts, indexes and converts as it goes
        raise InvalidArgument(f"malformed ICE candidate {c.candidate[:100]!r}: {e!r}") from None
    out.sdpMid = c.sdp_mid
    out.sdpMLineIndex = c.sdp_mline_index
    return out
