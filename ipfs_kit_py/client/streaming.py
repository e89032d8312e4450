"""WebRTC streaming client: play a CID from a node in Python, or fetch it over a data channel.

``stream_content(url, cid)`` asks the node for an offer on ``/ws/webrtc`` (the
seed's flow), answers it, and returns a ``MediaStream``: ``async for frame in
stream`` yields decoded ``av.VideoFrame`` objects; ``await stream.stats()``,
``await stream.fetch(cid)`` (data channel, verified against the CID),
``await stream.set_quality(q)`` and ``await stream.close()``. End-to-end
encrypted content (``ipfs-kit add --encrypt-media``) plays with ``key=``: each
frame is decrypted (SFrame, ``ipfs_kit_py.sframe``) before it is decoded; a
frame that does not authenticate is dropped and reported to the node.
ICE host addresses and servers come from the ``webrtc`` settings
(``IPFS_KIT_WEBRTC_ICE_HOSTS`` etc.) unless given.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import av
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .. import sframe
from ..car_channel import LABEL, CarReceiver
from ..compat import aiortc as aiortc_compat
from ..config import WebRTCSettings, load_settings
from ..errors import (
    ChannelUnavailable,
    InvalidArgument,
    IPFSKitError,
    error_for,
)
from ..ice import peer_connection
from .auth import auth_headers

FRAME_BUFFER = 60  # decoded video frames kept for a slow consumer (older ones are dropped)


def signaling_url(url: str) -> str:
    """``http://host:port`` (or ``ws://...``) -> ``ws://host:port/ws/webrtc``."""
    if "://" not in url:
        url = "http://" + url
    scheme, rest = url.split("://", 1)
    ws_scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(scheme)
    if ws_scheme is None:
        raise InvalidArgument(f"unsupported URL scheme {scheme!r}")
    host = rest.split("/", 1)[0]
    return f"{ws_scheme}://{host}/ws/webrtc"


def error_from(reply: dict[str, Any]) -> IPFSKitError:
    """The typed exception for a signaling ``error`` reply (``errors.BY_CODE``)."""
    return error_for(str(reply.get("code")), f"{reply.get('code')}: {reply.get('error')}")


class Signaling:
    """One signaling WebSocket: requests with ids matched to replies, other messages queued."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(256)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, timeout: float = 10, token: str | None = None) -> Signaling:
        try:
            ws = await asyncio.wait_for(websockets.connect(signaling_url(url), max_size=1 << 22,
                                                           additional_headers=auth_headers(token)), timeout)
        except (OSError, TimeoutError, websockets.WebSocketException) as e:
            raise ChannelUnavailable(f"cannot reach WebRTC signaling at {url}: {e}") from None
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                fut = self._pending.pop(msg.get("id"), None) if "id" in msg else None
                if fut is not None and not fut.done():
                    fut.set_result(msg)
                elif self.events.full():
                    self.events.get_nowait()
                    self.events.put_nowait(msg)
                else:
                    self.events.put_nowait(msg)
        except (websockets.WebSocketException, OSError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ChannelUnavailable("signaling connection closed"))

    async def request(self, msg: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        """Send ``msg`` and return its reply; an ``error`` reply raises."""
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self.ws.send(json.dumps({**msg, "id": rid}))
        except websockets.WebSocketException as e:
            self._pending.pop(rid, None)
            raise ChannelUnavailable(f"signaling connection closed: {e}") from None
        reply = await asyncio.wait_for(fut, timeout)
        if reply.get("type") == "error":
            raise error_from(reply)
        return reply

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(Exception):
            await self._reader


class StreamView:
    """One stream of a session (``stream_id``): its decoded video frames and counters."""

    def __init__(self, stream_id: str, cid: str | None) -> None:
        self.stream_id, self.cid = stream_id, cid
        self.frames: asyncio.Queue[av.VideoFrame | None] = asyncio.Queue(FRAME_BUFFER)
        self.frames_received = 0
        self.audio_frames = 0
        self.first_frame_at: float | None = None
        self.ended = False
        self.last_frame: av.VideoFrame | None = None

    def put(self, frame: av.VideoFrame | None) -> None:
        if frame is not None:
            self.frames_received += 1
            self.last_frame = frame
            if self.first_frame_at is None:
                self.first_frame_at = time.monotonic()
        if self.frames.full():
            self.frames.get_nowait()
        self.frames.put_nowait(frame)

    async def next_frame(self, timeout: float = 10) -> av.VideoFrame:
        frame = await asyncio.wait_for(self.frames.get(), timeout)
        if frame is None:
            raise MediaStreamError(f"stream {self.stream_id} ended")
        return frame


class MediaStream:
    """A running WebRTC session with the node: one stream or several (``streams``)."""

    def __init__(self, signaling: Signaling, pc: RTCPeerConnection, pc_id: str, cid: str | None,
                 media: dict[str, Any] | None, datachannel: bool = True, key: bytes | None = None) -> None:
        self.signaling, self.pc, self.pc_id, self.cid, self.media = signaling, pc, pc_id, cid, media
        self.datachannel = datachannel
        self.frames: asyncio.Queue[av.VideoFrame | None] = asyncio.Queue(FRAME_BUFFER)
        self.frames_received = 0
        self.frames_dropped = 0
        self.audio_frames = 0
        self.started = time.monotonic()
        self.first_frame_at: float | None = None
        self.connected = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._channel: Any = None
        self._channel_open = asyncio.Event()
        self._transfer: CarReceiver | None = None
        self._dc_lock = asyncio.Lock()
        self._rid = itertools.count(1)
        self.closed = False
        self.ended = False
        self.error: dict[str, Any] | None = None  # the server's ``error`` message, if any
        self.quality_changes: list[dict[str, Any]] = []  # the server's ``quality_changed`` messages
        # end-to-end encrypted media (SFrame): frames decrypted here, before aiortc decodes them
        self.encrypted = bool(media and media.get("encryption"))
        self._sframe = sframe.Context(key) if key is not None else None
        self.frames_decrypted = 0
        self.frames_rejected = 0
        self.decrypt_error: str | None = None  # why frames were rejected (no key, wrong key, tampering)
        self.streams: dict[str, StreamView] = {}  # stream_id -> its frames
        self._mids: dict[str, dict[str, Any]] = {}  # transceiver mid -> {stream_id, kind, cid, name}
        self._tasks.append(asyncio.create_task(self._watch()))

        @pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            transceiver = next(t for t in pc.getTransceivers() if t.receiver.track is track)
            where = self._mids.get(transceiver.mid or "", {})
            sid = where.get("stream_id", "s0")
            view = self.streams.setdefault(sid, StreamView(sid, where.get("cid", cid)))
            if track.kind == "video" and (self.encrypted or where.get("encrypted")):
                aiortc_compat.on_received_frame(transceiver.receiver, self._decrypt)
            self._tasks.append(asyncio.create_task(self._pump(track, view)))

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState == "connected":
                self.connected.set()

        @pc.on("datachannel")
        def _dc(channel: Any) -> None:
            if channel.label == LABEL:
                self._attach(channel)

    def _decrypt(self, frame: bytes) -> bytes | None:
        """An SFrame-protected access unit -> the original, or None (dropped, never decoded)."""
        if self._sframe is None:
            self._reject("sframe_no_key", "the content is encrypted end to end and no key was given")
            return None
        try:
            out = sframe.unprotect(frame, self._sframe)
        except sframe.SFrameError as e:
            self._reject("sframe_auth_failed", str(e))
            return None
        self.frames_decrypted += 1
        return out

    def _reject(self, code: str, message: str) -> None:
        self.frames_rejected += 1
        if self.decrypt_error is None:  # report the first one to the node (webrtc_error on its hub)
            self.decrypt_error = f"{code}: {message}"
            self._tasks.append(asyncio.create_task(self._report(code, message)))

    async def _report(self, code: str, message: str) -> None:
        with contextlib.suppress(Exception):
            await self.signaling.request({"type": "frame_error", "pc_id": self.pc_id, "code": code,
                                          "error": message, "track": "video"}, timeout=5)

    def _attach(self, channel: Any) -> None:
        self._channel = channel

        def _open() -> None:
            self._channel_open.set()

        def _message(message: str | bytes) -> None:
            if self._transfer is None:
                return
            if isinstance(message, str):
                self._transfer.on_text(json.loads(message))
            else:
                self._transfer.on_binary(message)

        channel.on("open", _open)  # pyee: on(event, handler) registers it
        channel.on("message", _message)
        if channel.readyState == "open":
            self._channel_open.set()

    async def _watch(self) -> None:
        """Server messages about this session: quality changes, the end of the content, errors."""
        while True:
            msg = await self.signaling.events.get()
            if msg.get("pc_id") != self.pc_id:
                continue
            if msg.get("type") == "quality_changed":
                self.quality_changes.append(msg)
            elif msg.get("type") == "stream_ended":
                view = self.streams.get(str(msg.get("stream_id")))
                if view is not None:
                    view.ended = True
            elif msg.get("type") in ("ended", "error"):
                self.ended = True
                if msg["type"] == "error":
                    self.error = msg
                with contextlib.suppress(asyncio.QueueFull):
                    self.frames.put_nowait(None)

    def learn_tracks(self, reply: dict[str, Any]) -> None:
        """Note which transceiver (mid) carries which stream (the ``tracks`` of an offer/answer)."""
        for t in reply.get("tracks") or []:
            self._mids[str(t.get("mid"))] = t
            self.streams.setdefault(t["stream_id"], StreamView(t["stream_id"], t.get("cid")))

    async def _pump(self, track: MediaStreamTrack, view: StreamView) -> None:
        """Move decoded frames off the receiver (it buffers without bound) into our bounded queues:
        the stream's own, and for the first stream (``s0``) this session's."""
        first = view.stream_id == "s0"
        try:
            while True:
                frame = cast(av.VideoFrame, await track.recv())  # audio frames are only counted
                if track.kind == "audio":
                    view.audio_frames += 1
                    if first:
                        self.audio_frames += 1
                    continue
                view.put(frame)
                if not first:
                    continue
                self.frames_received += 1
                if self.first_frame_at is None:
                    self.first_frame_at = time.monotonic()
                if self.frames.full():
                    self.frames.get_nowait()
                    self.frames_dropped += 1
                self.frames.put_nowait(frame)
        except MediaStreamError:
            pass
        finally:
            if track.kind == "video":
                view.ended = True
                view.put(None)
                if first:
                    with contextlib.suppress(asyncio.QueueFull):
                        self.frames.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[av.VideoFrame]:
        while not self.closed:
            if self.ended and self.frames.empty():
                return
            frame = await self.frames.get()
            if frame is None:
                return
            yield frame

    async def next_frame(self, timeout: float = 10) -> av.VideoFrame:
        frame = await asyncio.wait_for(self.frames.get(), timeout)
        if frame is None:
            raise MediaStreamError(f"stream ended{': ' + str(self.error['error']) if self.error else ''}")
        return frame

    @property
    def time_to_first_frame(self) -> float | None:
        return None if self.first_frame_at is None else self.first_frame_at - self.started

    async def stats(self) -> dict[str, Any]:
        """Local receive figures and the server's view of the session (``stats_request``)."""
        inbound = {}
        for s in (await self.pc.getStats()).values():
            if s.type == "inbound-rtp":
                inbound[s.kind] = {"packets_received": s.packetsReceived, "packets_lost": s.packetsLost,
                                   "jitter": s.jitter}
        server = await self.signaling.request({"type": "stats_request", "pc_id": self.pc_id})
        return {"pc_id": self.pc_id, "cid": self.cid, "frames_received": self.frames_received,
                "frames_dropped": self.frames_dropped, "audio_frames": self.audio_frames,
                "time_to_first_frame": self.time_to_first_frame, "connection_state": self.pc.connectionState,
                "inbound": inbound, "server": server["stats"]}

    # -- several streams in this session ---------------------------------------------------
    async def _answer(self, offer: dict[str, Any], timeout: float = 30) -> None:
        self.learn_tracks(offer)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.signaling.request({"type": "answer", "pc_id": self.pc_id, "sdp": self.pc.localDescription.sdp},
                                     timeout)

    async def add_stream(self, cid: str, *, tracks: tuple[str, ...] = ("video",), start: float = 0.0,
                         loop: bool = False, main: bool = False, timeout: float = 30) -> StreamView:
        """Add ``cid`` to this session (renegotiated: the node re-offers, this client answers)."""
        offer = await self.signaling.request({"type": "add_stream", "pc_id": self.pc_id, "stream": {
            "cid": cid, "tracks": list(tracks), "start": start, "loop": loop, "main": main}}, timeout)
        await self._answer(offer, timeout)
        return self.streams[offer["stream_id"]]

    async def remove_stream(self, stream_id: str, timeout: float = 30) -> None:
        """Stop one stream (its transceivers become inactive after a renegotiation)."""
        offer = await self.signaling.request({"type": "remove_stream", "pc_id": self.pc_id, "stream_id": stream_id},
                                             timeout)
        await self._answer(offer, timeout)

    async def control(self, stream_id: str, action: str, position: float | None = None) -> dict[str, Any]:
        """``pause``, ``play``, ``seek`` (to ``position`` s) or ``end`` one stream; the others go on."""
        msg: dict[str, Any] = {"type": "stream_control", "pc_id": self.pc_id, "stream_id": stream_id,
                               "action": action}
        if position is not None:
            msg["position"] = position
        return await self.signaling.request(msg)

    async def set_quality(self, quality: str) -> dict[str, Any]:
        return await self.signaling.request({"type": "quality_change", "pc_id": self.pc_id, "quality": quality})

    async def fetch(self, cid: str, timeout: float = 60) -> bytes:
        """The content of ``cid`` over this session's data channel, verified block by block."""
        if not self.datachannel:
            raise ChannelUnavailable("this stream was opened without a data channel")
        try:
            await asyncio.wait_for(self._channel_open.wait(), timeout)
        except TimeoutError:
            raise ChannelUnavailable("the data channel did not open") from None
        async with self._dc_lock:
            rid = next(self._rid)
            self._transfer = CarReceiver(cid, rid)
            self._channel.send(json.dumps({"type": "get", "id": rid, "cid": cid}))
            try:
                return await asyncio.wait_for(self._transfer.result, timeout)
            finally:
                self._transfer = None

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.signaling.request({"type": "close", "pc_id": self.pc_id}, timeout=5)
        for t in self._tasks:
            t.cancel()
        await self.pc.close()
        await self.signaling.close()

    async def __aenter__(self) -> MediaStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def stream_content(url: str, cid: str | None, *, tracks: tuple[str, ...] = ("video", "audio"),
                         codec: str = "h264", quality: str = "auto", start: float = 0.0, loop: bool = False,
                         datachannel: bool = True, settings: WebRTCSettings | None = None,
                         timeout: float = 30, token: str | None = None, key: str | bytes | None = None,
                         streams: list[dict[str, Any]] | None = None) -> MediaStream:
    """Open a WebRTC session playing ``cid`` from the node at ``url``; see the module docstring.
    ``key``: the media key of end-to-end encrypted content (32 hex digits), never sent anywhere.
    ``streams``: several streams in one session, each ``{"cid", "tracks"?, "start"?, "loop"?,
    "main"?}`` (``cid`` is then ignored); see ``open_streams``."""
    base_key = sframe.parse_key(key) if isinstance(key, str) else key
    sig = await Signaling.connect(url, token=token)
    pc: RTCPeerConnection | None = None
    source = {"test_pattern": True} if cid is None else {"cid": cid}  # None: the server's test pattern
    if streams is not None:
        source = {}
    try:
        request = {"type": "offer_request", **source, "tracks": list(tracks), "codec": codec,
                   "quality": quality, "start": start, "loop": loop, "datachannel": datachannel}
        if streams is not None:
            request["streams"] = streams
        offer = await sig.request(request, timeout)
        pc = peer_connection(settings or load_settings().webrtc)
        stream = MediaStream(sig, pc, offer["pc_id"], offer.get("cid", cid), offer.get("media"), datachannel,
                             base_key)
        stream.learn_tracks(offer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await sig.request({"type": "answer", "pc_id": offer["pc_id"], "sdp": pc.localDescription.sdp}, timeout)
        return stream
    except BaseException:
        if pc is not None:
            await pc.close()
        await sig.close()
        raise


async def open_streams(url: str, streams: list[dict[str, Any]], **options: Any) -> MediaStream:
    """The multi-stream form: one session playing several CIDs at once (a grid, the video of one
    with the audio of another); ``stream.streams[stream_id]`` has each one's frames, ``add_stream``,
    ``remove_stream`` and ``control`` change them mid-session. ``options`` as ``stream_content``."""
    if not streams:
        raise InvalidArgument("open_streams needs at least one stream")
    return await stream_content(url, None, streams=streams, **options)


async def stream_test_pattern(url: str, *, timeout: float = 30, token: str | None = None) -> MediaStream:
    """A session playing the server's built-in test pattern (works on an empty node)."""
    return await stream_content(url, None, tracks=("video",), datachannel=False, timeout=timeout, token=token)


async def fetch_content(url: str, cid: str, *, settings: WebRTCSettings | None = None, timeout: float = 60,
                        token: str | None = None) -> bytes:
    """The content of ``cid`` over a WebRTC data channel (no media), verified against the CID."""
    stream = await stream_content(url, cid, tracks=(), datachannel=True, settings=settings, timeout=timeout,
                                  token=token)
    try:
        return await stream.fetch(cid, timeout)
    finally:
        await stream.close()
