"""Signaling messages, parsed into typed requests at the boundary (no I/O).

``parse_message(text)`` checks the frame (JSON text, an object, a known ``type``)
and returns the object; ``parse_request(obj)`` turns it into one of the request
dataclasses below, validating every field, so the manager never sees a raw
dict. Errors are ``SignalingError`` (``malformed``, ``unknown_type``),
``InvalidArgument`` (bad options) or ``NotFound`` (a ``pc_id`` that is not a string).
``docs/protocols.md`` (WebRTC) documents each message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument, NotFound, SignalingError
from .session import QUALITIES, StreamOptions, StreamSpec, parse_start


@dataclass(frozen=True)
class OfferRequest:
    """The server offers (the seed's flow)."""

    cid: str | None  # None with ``test_pattern``: the built-in clip
    test_pattern: bool
    options: StreamOptions


@dataclass(frozen=True)
class ClientOffer:
    """The client offers (browsers); the server answers. With ``pc_id``: a re-offer in a
    connected session, adding ``stream`` (its new receive sections) or not."""

    cid: Any  # validated by the model (InvalidCID / NotFound)
    sdp: Any  # validated by negotiation.check_sdp, after the session lookup rules
    options: StreamOptions
    pc_id: str | None = None
    stream: StreamSpec | None = None
    test_pattern: bool = False  # no cid: answer with the built-in clip, as on offer_request


@dataclass(frozen=True)
class AddStream:
    """Add a stream to a connected session; the server re-offers."""

    pc_id: str
    stream: StreamSpec


@dataclass(frozen=True)
class RemoveStream:
    pc_id: str
    stream_id: str


@dataclass(frozen=True)
class StreamControl:
    """pause | play | seek (to ``position`` seconds) | end, for one stream of a session."""

    pc_id: str
    stream_id: str
    action: str
    position: float | None


@dataclass(frozen=True)
class Answer:
    pc_id: str
    sdp: Any


@dataclass(frozen=True)
class IceCandidate:
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True)
class Candidate:
    pc_id: str
    candidate: IceCandidate | None  # None: end of candidates


@dataclass(frozen=True)
class Close:
    pc_id: str


@dataclass(frozen=True)
class StatsRequest:
    pc_id: str


@dataclass(frozen=True)
class QualityChange:
    pc_id: str
    quality: str


@dataclass(frozen=True)
class FrameError:
    """The viewer reports frames it could not use (e.g. SFrame authentication failed)."""

    pc_id: str
    code: str
    error: str
    track: str | None


@dataclass(frozen=True)
class Ping:
    pass


Request = (OfferRequest | ClientOffer | Answer | Candidate | Close | StatsRequest | QualityChange | FrameError
           | AddStream | RemoveStream | StreamControl | Ping)
REQUEST_TYPES = ("offer_request", "offer", "answer", "candidate", "close", "stats_request", "quality_change",
                 "frame_error", "add_stream", "remove_stream", "stream_control", "ping")
STREAM_ACTIONS = ("pause", "play", "seek", "end")
FRAME_ERROR_CODES = ("sframe_auth_failed", "sframe_no_key", "decode_error")


def parse_message(text: str | bytes | None) -> dict[str, Any]:
    """The JSON object of one WebSocket message; SignalingError when malformed. An unknown
    ``type`` is refused by ``parse_request``, so that its error still echoes the ``id``."""
    if not isinstance(text, str):
        raise SignalingError("malformed", "signaling messages are JSON text, not binary")
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError) as e:  # RecursionError: JSON nested too deeply
        raise SignalingError("malformed", f"invalid JSON: {e}") from None
    if not isinstance(msg, dict):
        raise SignalingError("malformed", "a message must be a JSON object")
    return msg


def _pc_id(msg: dict[str, Any]) -> str:
    pc_id = msg.get("pc_id")
    if not isinstance(pc_id, str):
        raise NotFound(f"unknown pc_id {pc_id!r}")
    return pc_id


def parse_candidate(value: Any) -> IceCandidate | None:
    if not value:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument("candidate must be an object (RTCIceCandidate.toJSON()) or null")
    text = value.get("candidate")
    if not text:
        return None  # an empty candidate string also marks the end of candidates
    if not isinstance(text, str):
        raise InvalidArgument("candidate.candidate must be a string")
    mid = value.get("sdpMid")
    index = value.get("sdpMLineIndex")
    if mid is not None and not isinstance(mid, str):
        raise InvalidArgument("candidate.sdpMid must be a string or null")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
        raise InvalidArgument("candidate.sdpMLineIndex must be a non-negative integer or null")
    return IceCandidate(text, mid, index)


def parse_request(msg: dict[str, Any]) -> Request:
    """The typed request of a message from ``parse_message``."""
    kind = msg.get("type")
    if kind not in REQUEST_TYPES:
        raise SignalingError("unknown_type", f"unknown message type {kind!r}; expected one of {list(REQUEST_TYPES)}")
    if kind == "offer_request":
        cid = msg.get("cid")
        test_pattern = msg.get("test_pattern") is True and cid is None
        return OfferRequest(None if test_pattern else cid, test_pattern, StreamOptions.parse(msg))
    if kind == "offer":
        if "pc_id" in msg:  # a re-offer
            stream = StreamSpec.parse(msg["stream"]) if msg.get("stream") is not None else None
            return ClientOffer(None, msg.get("sdp"), StreamOptions(), _pc_id(msg), stream)
        cid = msg.get("cid")
        test_pattern = msg.get("test_pattern") is True and cid is None
        return ClientOffer(cid, msg.get("sdp"), StreamOptions.parse(msg), test_pattern=test_pattern)
    if kind == "ping":
        return Ping()
    pc_id = _pc_id(msg)
    if kind == "answer":
        return Answer(pc_id, msg.get("sdp"))
    if kind == "candidate":
        return Candidate(pc_id, parse_candidate(msg.get("candidate")))
    if kind == "close":
        return Close(pc_id)
    if kind == "stats_request":
        return StatsRequest(pc_id)
    if kind == "add_stream":
        return AddStream(pc_id, StreamSpec.parse(msg.get("stream")))
    if kind in ("remove_stream", "stream_control"):
        sid = msg.get("stream_id")
        if not isinstance(sid, str):
            raise InvalidArgument("stream_id must be a string")
        if kind == "remove_stream":
            return RemoveStream(pc_id, sid)
        action, position = msg.get("action"), msg.get("position")
        if action not in STREAM_ACTIONS:
            raise InvalidArgument(f"action must be one of {list(STREAM_ACTIONS)}")
        if action == "seek":
            if position is None:
                raise InvalidArgument("seek needs a position in seconds")
            position = parse_start(position)
        return StreamControl(pc_id, sid, action, position if action == "seek" else None)
    if kind == "frame_error":
        code, error, track = msg.get("code"), msg.get("error", ""), msg.get("track")
        if code not in FRAME_ERROR_CODES:
            raise InvalidArgument(f"frame_error code must be one of {list(FRAME_ERROR_CODES)}")
        if not isinstance(error, str) or (track is not None and not isinstance(track, str)):
            raise InvalidArgument("frame_error error and track must be strings")
        return FrameError(pc_id, code, error[:300], track[:64] if track else None)
    quality = msg.get("quality")
    if quality not in QUALITIES:
        raise InvalidArgument(f"quality must be one of {list(QUALITIES)}")
    return QualityChange(pc_id, quality)
