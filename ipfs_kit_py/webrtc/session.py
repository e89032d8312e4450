"""One WebRTC session: its state machine, options, tracks and bookkeeping (no I/O).

States and the only transitions allowed (anything else raises ``InvalidTransition``,
answered to the client as ``invalid_state``)::

    NEW --server offer--> OFFERED --answer--> NEGOTIATED --ICE+DTLS--> CONNECTED
    NEW --client offer answered-----------> NEGOTIATED
    CONNECTED --server re-offer (add/remove a stream)--> RENEGOTIATING --answer--> CONNECTED
    CONNECTED --client re-offer answered--> CONNECTED
    any state --close/failure/timeout--> CLOSED   (final)

A session carries one or more *streams* (``StreamSpec``: a CID and which of its
tracks, each with its own start, loop, pause/seek and end). Stream ``s0``'s tracks
are named ``video``/``audio`` (the single-stream names), the others ``sN.video``/``sN.audio``.
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

from ..errors import InvalidArgument, SignalingError
from .bitrate import PRESETS, AdaptiveBitrateController
from .media import IPFSMediaStreamTrack, MediaInfo, SessionClock

Send = Callable[[dict[str, Any]], Awaitable[None]]
CODECS = {"h264": "video/H264", "vp8": "video/VP8"}
QUALITIES = ("auto", "source", *PRESETS)  # source: the stored video as is, never re-encoded for bandwidth


class SessionState(enum.Enum):
    NEW = "new"
    OFFERED = "offered"  # server offer sent, waiting for the answer
    NEGOTIATED = "negotiated"  # descriptions exchanged, ICE/DTLS connecting
    CONNECTED = "connected"  # media flowing
    RENEGOTIATING = "renegotiating"  # connected, a server re-offer waits for its answer
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.value


TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.NEW: frozenset({SessionState.OFFERED, SessionState.NEGOTIATED, SessionState.CLOSED}),
    SessionState.OFFERED: frozenset({SessionState.NEGOTIATED, SessionState.CLOSED}),
    SessionState.NEGOTIATED: frozenset({SessionState.CONNECTED, SessionState.CLOSED}),
    SessionState.CONNECTED: frozenset({SessionState.RENEGOTIATING, SessionState.CLOSED}),
    SessionState.RENEGOTIATING: frozenset({SessionState.CONNECTED, SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
}


class InvalidTransition(SignalingError):
    """A request that does not fit the session's state (``invalid_state``)."""

    def __init__(self, pc_id: str, old: SessionState, new: SessionState, doing: str = "") -> None:
        allowed = sorted(str(s) for s, targets in TRANSITIONS.items() if new in targets)
        what = f" ({doing})" if doing else ""
        super().__init__("invalid_state", f"session {pc_id} is {old}, not {' or '.join(allowed)}{what}")
        self.old, self.new = old, new


MAX_STREAMS = 8  # streams in one session (each is a demux worker per track)


def parse_tracks(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or any(t not in ("video", "audio") for t in value):
        raise InvalidArgument('tracks must be a list of "video" and "audio"')
    return tuple(dict.fromkeys(value))


@dataclass(frozen=True)
class StreamSpec:
    """One stream of a session: a CID (None: the built-in test pattern) and its options."""

    cid: str | None
    tracks: tuple[str, ...] = ("video", "audio")
    start: float = 0.0
    loop: bool = False
    main: bool = False  # gets the larger share of the connection's bandwidth

    @classmethod
    def parse(cls, obj: Any, default: StreamOptions | None = None) -> StreamSpec:
        if not isinstance(obj, dict):
            raise InvalidArgument("a stream is an object {cid, tracks?, start?, loop?, main?}")
        cid = obj.get("cid")
        if cid is None and obj.get("test_pattern") is not True:
            raise InvalidArgument("a stream needs a cid (or test_pattern: true)")
        if cid is not None and not isinstance(cid, str):
            raise InvalidArgument("cid must be a string")
        d = default or StreamOptions()
        tracks = parse_tracks(obj["tracks"]) if "tracks" in obj else d.tracks
        if not tracks:
            raise InvalidArgument("a stream needs at least one track")
        return cls(cid, tracks, parse_start(obj.get("start", 0)), bool(obj.get("loop", d.loop)),
                   bool(obj.get("main", False)))


@dataclass
class StreamOptions:
    tracks: tuple[str, ...] = ("video", "audio")
    codec: str = "h264"
    quality: str = "auto"
    start: float = 0.0
    loop: bool = False
    datachannel: bool = False
    streams: tuple[StreamSpec, ...] = ()  # several streams in one session (``streams`` in the message)

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> StreamOptions:
        """Options of an ``offer_request``/``offer`` message; bad values raise InvalidArgument."""
        tracks = parse_tracks(msg.get("tracks", ["video", "audio"]))
        codec = str(msg.get("codec", "h264")).lower()
        if codec not in CODECS:
            raise InvalidArgument(f"codec must be one of {sorted(CODECS)}")
        quality = str(msg.get("quality", "auto"))
        if quality not in QUALITIES:
            raise InvalidArgument(f"quality must be one of {list(QUALITIES)}")
        start = parse_start(msg.get("start", 0))
        dc = bool(msg.get("datachannel", False))
        out = cls(tracks, codec, quality, start, bool(msg.get("loop", False)), dc)
        if "streams" in msg:
            streams = msg["streams"]
            if not isinstance(streams, list) or not 1 <= len(streams) <= MAX_STREAMS:
                raise InvalidArgument(f"streams must be a list of 1 to {MAX_STREAMS} stream objects")
            out.streams = tuple(StreamSpec.parse(x, out) for x in streams)
        elif not tracks and not dc:
            raise InvalidArgument("nothing to send: no tracks and no data channel")
        return out


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
class MediaStreamState:
    """A stream of a session: its tracks (by track name), clock and state."""

    stream_id: str
    spec: StreamSpec
    cid: str
    info: MediaInfo | None
    clock: SessionClock
    tracks: list[str] = field(default_factory=list)  # names in Session.tracks
    state: str = "playing"  # playing | paused | ended | removed

    def describe(self) -> dict[str, Any]:
        return {"stream_id": self.stream_id, "cid": self.cid, "tracks": list(self.tracks), "main": self.spec.main,
                "state": self.state}


def track_name(stream_id: str, kind: str) -> str:
    return kind if stream_id == "s0" else f"{stream_id}.{kind}"


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
    remb: int | None = None  # the connection's receiver estimate (sum over REMB SSRC sets)
    remb_estimates: dict[tuple[int, ...], tuple[int, float]] = field(default_factory=dict)
    last_report: dict[str, Any] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    control_task: asyncio.Task[Any] | None = None  # the bitrate loop, while one runs
    controller_tracks: list[str] = field(default_factory=list)  # the video tracks the controller serves
    streams: dict[str, MediaStreamState] = field(default_factory=dict)
    track_stream: dict[str, str] = field(default_factory=dict)  # track name -> stream id
    next_stream: int = 0

    def new_stream_id(self) -> str:
        sid = f"s{self.next_stream}"
        self.next_stream += 1
        return sid

    def video_tracks(self) -> dict[str, IPFSMediaStreamTrack]:
        """The live video tracks of every stream, by name."""
        return {n: t for n, t in self.tracks.items() if t.kind == "video" and t.readyState == "live"}

    def track_map(self) -> list[dict[str, Any]]:
        """Which transceiver (mid) carries which stream's track: the client maps tracks with it."""
        out = []
        for name, t in self.transceivers.items():
            track = self.tracks.get(name)
            sid = self.track_stream.get(name)
            if track is None or sid is None or t.mid is None:
                continue
            out.append({"mid": t.mid, "name": name, "stream_id": sid, "kind": track.kind,
                        "cid": self.streams[sid].cid, "encrypted": track.info.encryption is not None})
        return out

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
