"""One WebRTC session: its state machine, options, tracks and bookkeeping (no I/O).

States and the only transitions allowed (anything else raises ``InvalidTransition``,
answered to the client as ``invalid_state``)::

    NEW --server offer--> OFFERED --answer--> NEGOTIATED --ICE+DTLS--> CONNECTED
    NEW --client offer answered-----------> NEGOTIATED
    any state --close/failure/timeout--> CLOSED   (final)
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from ..errors import InvalidArgument, IPFSKitError
from .bitrate import PRESETS, AdaptiveBitrateController
from .media import IPFSMediaStreamTrack, MediaInfo

Send = Callable[[dict[str, Any]], Awaitable[None]]
CODECS = {"h264": "video/H264", "vp8": "video/VP8"}
QUALITIES = ("auto", *PRESETS)


class SignalingError(IPFSKitError):
    """A signaling request that cannot be served (sent to the client as an ``error``)."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SessionState(enum.Enum):
    NEW = "new"
    OFFERED = "offered"  # server offer sent, waiting for the answer
    NEGOTIATED = "negotiated"  # descriptions exchanged, ICE/DTLS connecting
    CONNECTED = "connected"  # media flowing
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.value


TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.NEW: frozenset({SessionState.OFFERED, SessionState.NEGOTIATED, SessionState.CLOSED}),
    SessionState.OFFERED: frozenset({SessionState.NEGOTIATED, SessionState.CLOSED}),
    SessionState.NEGOTIATED: frozenset({SessionState.CONNECTED, SessionState.CLOSED}),
    SessionState.CONNECTED: frozenset({SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
}


class InvalidTransition(SignalingError):
    """A request that does not fit the session's state (``invalid_state``)."""

    def __init__(self, pc_id: str, old: SessionState, new: SessionState, doing: str = "") -> None:
        allowed = sorted(str(s) for s, targets in TRANSITIONS.items() if new in targets)
        what = f" ({doing})" if doing else ""
        super().__init__("invalid_state", f"session {pc_id} is {old}, not {' or '.join(allowed)}{what}")
        self.old, self.new = old, new


@dataclass
class StreamOptions:
    tracks: tuple[str, ...] = ("video", "audio")
    codec: str = "h264"
    quality: str = "auto"
    start: float = 0.0
    loop: bool = False
    datachannel: bool = False

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> StreamOptions:
        """Options of an ``offer_request``/``offer`` message; bad values raise InvalidArgument."""
        tracks = msg.get("tracks", ["video", "audio"])
        if not isinstance(tracks, list) or any(t not in ("video", "audio") for t in tracks):
            raise InvalidArgument('tracks must be a list of "video" and "audio"')
        codec = str(msg.get("codec", "h264")).lower()
        if codec not in CODECS:
            raise InvalidArgument(f"codec must be one of {sorted(CODECS)}")
        quality = str(msg.get("quality", "auto"))
        if quality not in QUALITIES:
            raise InvalidArgument(f"quality must be one of {list(QUALITIES)}")
        start = parse_start(msg.get("start", 0))
        dc = bool(msg.get("datachannel", False))
        if not tracks and not dc:
            raise InvalidArgument("nothing to send: no tracks and no data channel")
        return cls(tuple(dict.fromkeys(tracks)), codec, quality, start, bool(msg.get("loop", False)), dc)


def parse_start(value: Any) -> float:
    """A start/seek position in seconds; InvalidArgument unless finite and >= 0."""
    try:
        start = float(value or 0)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of 309+ digits
        raise InvalidArgument("start must be a number of seconds") from None
    if not 0 <= start < float("inf"):  # also refuses NaN ("nan" and NaN parse)
        raise InvalidArgument("start must be a finite, non-negative number of seconds")
    return start


@dataclass
class Session:
    pc_id: str
    cid: str
    client_id: str
    pc: RTCPeerConnection
    options: StreamOptions
    send: Send | None
    info: MediaInfo | None = None
    tracks: dict[str, IPFSMediaStreamTrack] = field(default_factory=dict)
    transceivers: dict[str, RTCRtpTransceiver] = field(default_factory=dict)
    controller: AdaptiveBitrateController | None = None
    state: SessionState = SessionState.NEW
    codec: str | None = None
    created: float = field(default_factory=time.monotonic)
    remb: int | None = None
    last_report: dict[str, Any] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    control_task: asyncio.Task[Any] | None = None  # the bitrate loop, while one runs

    @property
    def video(self) -> IPFSMediaStreamTrack | None:
        return self.tracks.get("video")

    @property
    def open(self) -> bool:
        return self.state is not SessionState.CLOSED

    def advance(self, new: SessionState, doing: str = "") -> None:
        """Move to ``new``; InvalidTransition unless the table allows it."""
        if new not in TRANSITIONS[self.state]:
            raise InvalidTransition(self.pc_id, self.state, new, doing)
        self.state = new

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """A task that lives as long as the session (cancelled when it closes)."""
        task = asyncio.create_task(coro)
        self.tasks.append(task)
        return task
