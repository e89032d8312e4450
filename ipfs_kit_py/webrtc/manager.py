"""WebRTCStreamingManager: owns the peer connections of the node.

One ``Session`` per peer connection (``session.py``: its state machine, tracks,
bitrate controller, and the client (signaling connection) it belongs to). The
manager builds sessions (media probing, limits), drives their negotiation
(``negotiation.py``), starts the bitrate loop (``control.py``) when they connect,
answers stats (``stats.py``) and tears them down. It enforces
``webrtc.max_sessions`` (and ``max_sessions_per_client`` per signaling
connection, ``max_sessions_per_address`` per remote address), closes offers
unanswered after ``webrtc.offer_timeout`` seconds and negotiated sessions that
do not connect within ``webrtc.connect_timeout`` (a client that offers and goes
silent holds no slot for long), closes exactly the sessions of a client that
goes away, and closes everything on stop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from aiortc import RTCSessionDescription

from ..compat import aiortc as aiortc_compat
from ..config import WebRTCSettings
from ..errors import InvalidArgument, IPFSKitError, LimitExceeded, NotFound, SignalingError
from ..events import EventBus, NotificationType
from ..ice import peer_connection
from ..model import IPFSModel
from . import control, datachannel, negotiation, stats
from .bitrate import PRESETS, AdaptiveBitrateController, NetworkReport
from .media import (
    IPFSMediaStreamTrack,
    MediaFile,
    MediaInfo,
    Rendition,
    SessionClock,
    keyframe_before,
    probe,
)
from .messages import FrameError, IceCandidate, parse_candidate
from .negotiation import check_sdp
from .session import (
    CODECS,
    MAX_STREAMS,
    QUALITIES,
    MediaStreamState,
    Send,
    Session,
    SessionState,
    StreamOptions,
    StreamSpec,
    track_name,
)
from .testpattern import test_pattern_cid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedStream:
    spec: StreamSpec
    cid: str
    info: MediaInfo
    start: float  # the keyframe time playback starts at
    renditions: list[Rendition]

__all__ = ["CODECS", "QUALITIES", "Session", "SessionState", "SignalingError", "StreamOptions",
           "WebRTCStreamingManager", "check_sdp"]


class WebRTCStreamingManager:
    """Sessions streaming IPFS content over WebRTC; see the module docstring."""

    def __init__(self, model: IPFSModel | None = None, settings: WebRTCSettings | None = None,
                 bus: EventBus | None = None, *, ipfs_api: IPFSModel | None = None,
                 stats_interval: float = 1.0) -> None:
        model = model or ipfs_api  # the seed writes WebRTCStreamingManager(ipfs_api=...)
        if model is None:
            raise TypeError("WebRTCStreamingManager needs the model: WebRTCStreamingManager(ipfs_api=model)")
        self.model = model
        self.settings = settings or WebRTCSettings()
        self.bus = bus or model.bus
        self.stats_interval = stats_interval
        self.sessions: dict[str, Session] = {}
        self.client_addresses: dict[str, str] = {}  # client_id -> remote IP (max_sessions_per_address)
        self._closing = False

    # -- service lifecycle --------------------------------------------------------------
    async def start(self) -> None:
        self._closing = False

    async def stop(self) -> None:
        self._closing = True
        await asyncio.gather(*(self.close_session(pc_id, "server shutting down")
                               for pc_id in list(self.sessions)), return_exceptions=True)

    # -- events ---------------------------------------------------------------------------
    def emit(self, type_: NotificationType, data: dict[str, Any]) -> None:
        self.bus.publish(type_, data)

    async def _notify(self, session: Session, msg: dict[str, Any]) -> None:
        if session.send is None:
            return
        try:
            await session.send(msg)
        except Exception:  # the client went away; its sessions are being closed
            session.send = None

    async def fail(self, session: Session, code: str, message: str, *, stream_id: str | None = None,
                   track: str | None = None) -> None:
        """Report an error of a running session to its client and the hub, then close it."""
        where = {"stream_id": stream_id, "track": track} if track else {}
        self.emit(NotificationType.WEBRTC_ERROR, {"pc_id": session.pc_id, "cid": session.cid,
                                                  "code": code, "error": message, **where})
        await self._notify(session, {"type": "error", "pc_id": session.pc_id, "code": code, "error": message,
                                     **where})
        await self.close_session(session.pc_id, message)

    # -- building a session ------------------------------------------------------------------
    async def _open_stream(self, spec: StreamSpec, options: StreamOptions) -> OpenedStream:
        """Probe a stream's content (off the event loop): its media, start keyframe, renditions."""
        cid = spec.cid if spec.cid is not None else await test_pattern_cid(self.model)
        if not isinstance(cid, str) or not cid:
            raise InvalidArgument("cid is required")
        start = spec.start

        def inspect() -> MediaInfo:
            nonlocal start
            reader = self.model.open(cid)  # unknown or invalid CIDs raise here
            try:
                info = probe(reader, reader.size)
                if start and info.video_codec:  # video can only start at a keyframe: audio starts there too
                    reader.seek(0)
                    start = keyframe_before(reader, start)
                return info
            finally:
                reader.close()

        info = await asyncio.to_thread(inspect)
        if info.encryption is not None:
            check_encrypted(info, options)
        renditions = await self._renditions(cid, info) if info.passthrough and info.encryption is None else []
        return OpenedStream(spec, cid, info, start, renditions)

    def _add_tracks(self, session: Session, opened: OpenedStream) -> MediaStreamState:
        """The tracks of one stream (sharing its clock); SignalingError ``not_media`` when it has
        none of the requested kinds."""
        spec, info, cid = opened.spec, opened.info, opened.cid
        sid = session.new_stream_id()
        st = MediaStreamState(sid, spec, cid, info, SessionClock())
        fixed = PRESETS.get(session.options.quality)

        def open_reader(rendition: str | None = None) -> MediaFile:
            return self.model.open(rendition or cid)

        for kind in spec.tracks:
            if (kind == "video" and not info.video_codec) or (kind == "audio" and not info.audio_codec):
                continue
            name = track_name(sid, kind)
            track = IPFSMediaStreamTrack(
                kind, open_reader, info, st.clock, start=opened.start,
                loop=spec.loop, target_bitrate=fixed, allow_passthrough=fixed is None,
                renditions=opened.renditions if kind == "video" else None)
            session.tracks[name] = track
            session.track_stream[name] = sid
            st.tracks.append(name)
            track.on("ended", lambda n=name: self._track_ended(session, n))
        if not st.tracks:
            raise SignalingError("not_media", f"{cid} has none of the requested tracks {list(spec.tracks)}")
        session.streams[sid] = st
        return st

    def _main_track(self, session: Session) -> str | None:
        """The video track the viewer marked main (else the first stream's)."""
        videos = session.video_tracks()
        for sid, st in session.streams.items():
            if st.spec.main:
                name = track_name(sid, "video")
                if name in videos:
                    return name
        return next(iter(videos), None)

    def _make_controller(self, session: Session) -> None:
        """One controller per session, over the bandwidth every adaptive video track shares."""
        if session.options.quality != "auto":
            session.controller = None
            return
        videos = {n: t for n, t in session.video_tracks().items() if t.info.encryption is None}
        if not videos:
            session.controller = None
        elif len(videos) == 1:
            (name, track), = videos.items()
            if session.controller is None or session.controller_tracks != [name]:
                session.controller = control.controller_for(track.info, [r for r in track.renditions if r.cid])
        else:
            session.controller = control.shared_controller(list(videos.values()))
        session.controller_tracks = sorted(videos)

    async def _prepare(self, cid: Any, options: StreamOptions, client_id: str, send: Send | None) -> Session:
        if self._closing:
            raise SignalingError("unavailable", "server is shutting down")
        if not self.settings.enabled:
            raise SignalingError("unavailable", "WebRTC is disabled on this node")
        self._check_limits(client_id)
        if options.streams:
            specs = list(options.streams)
        else:
            if not isinstance(cid, str) or not cid:
                raise InvalidArgument("cid is required")
            specs = [StreamSpec(cid, options.tracks, options.start, options.loop, True)] if options.tracks else []
        if not specs:  # data only: any content
            await asyncio.to_thread(self.model.resolve, cid)
        opened = [await self._open_stream(spec, options) for spec in specs]
        self._check_limits(client_id)  # again: others may have started meanwhile
        first = opened[0] if opened else None
        session = Session(uuid.uuid4().hex, first.cid if first else cid, client_id, peer_connection(self.settings),
                          options, send, first.info if first else None)
        self.sessions[session.pc_id] = session
        try:
            for o in opened:
                self._add_tracks(session, o)
        except BaseException:
            await self.close_session(session.pc_id, "nothing to stream")
            raise
        self._make_controller(session)
        self._watch(session)
        return session

    def _watch(self, session: Session) -> None:
        pc = session.pc

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState == "connected" and session.state is SessionState.NEGOTIATED:
                session.advance(SessionState.CONNECTED)
                self._connected(session)
                await self._notify(session, {"type": "connected", "pc_id": session.pc_id})
            elif pc.connectionState in ("failed", "closed") and session.open:
                if pc.connectionState == "failed":
                    await self.fail(session, "connection_failed", "ICE/DTLS connection failed")
                else:
                    await self.close_session(session.pc_id, "peer connection closed")

        @pc.on("datachannel")
        def _dc(channel: Any) -> None:
            if channel.label == datachannel.LABEL:
                datachannel.serve_channel(channel, self.model.car_export)

    def _connected(self, session: Session) -> None:
        self.emit(NotificationType.WEBRTC_CONNECTED, {
            "pc_id": session.pc_id, "cid": session.cid, "codec": session.codec,
            "mode": session.video.desired_mode() if session.video else None, "tracks": list(session.tracks)})
        self._start_control(session)

    def _start_control(self, session: Session) -> None:
        if session.controller is None or not session.video_tracks() or session.state is not SessionState.CONNECTED:
            return
        if session.control_task is None or session.control_task.done():
            session.control_task = session.spawn(
                control.run(session, self.stats_interval, self.read_report, lambda d: self._quality_changed(session, d),
                            self._main_track))

    async def _quality_changed(self, session: Session, data: dict[str, Any]) -> None:
        self.emit(NotificationType.WEBRTC_QUALITY_CHANGED, data)
        await self._notify(session, {"type": "quality_changed", **data})

    def _track_ended(self, session: Session, name: str) -> None:
        """A track ended: its stream ends when all its tracks have (``stream_ended``), the session
        when every stream has (``ended``); ``media_error`` when a track ended on an error."""
        sid = session.track_stream.get(name)
        st = session.streams.get(sid) if sid else None
        if not session.open or st is None or st.state in ("ended", "removed"):
            return
        tracks = [session.tracks[n] for n in st.tracks if n in session.tracks]
        if any(t.readyState != "ended" for t in tracks):
            return
        errors = [t.error for t in tracks if t.error is not None]
        if errors:
            st.state = "ended"
            session.spawn(self.fail(session, "media_error", f"reading {st.cid} failed: {errors[0]}",
                                    stream_id=sid, track=name))
            return
        st.state = "ended"
        if len(session.streams) > 1:
            session.spawn(self._notify(session, {"type": "stream_ended", "pc_id": session.pc_id, "stream_id": sid}))
        if all(x.state in ("ended", "removed") for x in session.streams.values()):
            session.spawn(self._notify(session, {"type": "ended", "pc_id": session.pc_id}))

    def register_client(self, client_id: str, address: str | None) -> None:
        """Note a signaling client's remote IP address (``webrtc.max_sessions_per_address``)."""
        if address:
            self.client_addresses[client_id] = address

    def _check_limits(self, client_id: str) -> None:
        """LimitExceeded when one more session would pass the global, per-client or per-address cap."""
        s = self.settings
        if len(self.sessions) >= s.max_sessions:
            raise LimitExceeded(f"session limit reached ({s.max_sessions} concurrent sessions, webrtc.max_sessions)")
        if not client_id:
            return
        if s.max_sessions_per_client > 0:
            mine = sum(1 for x in self.sessions.values() if x.client_id == client_id)
            if mine >= s.max_sessions_per_client:
                raise LimitExceeded(f"session limit reached for this connection ({mine} sessions open, "
                                    "webrtc.max_sessions_per_client): close one first")
        address = self.client_addresses.get(client_id)
        if address and s.max_sessions_per_address > 0:
            clients = {c for c, a in self.client_addresses.items() if a == address}
            n = sum(1 for x in self.sessions.values() if x.client_id in clients)
            if n >= s.max_sessions_per_address:
                raise LimitExceeded(f"session limit reached for address {address} ({n} sessions open, "
                                    "webrtc.max_sessions_per_address)")

    async def _renditions(self, cid: str, info: MediaInfo) -> list[Rendition]:
        """Stored renditions of ``cid`` usable for passthrough switching, from its metadata
        ``{"renditions": [{"cid": CID, "bitrate": bits/s}, ...]}`` (written at ingest)."""
        try:
            md = await self.model.metadata_get(cid)
        except IPFSKitError:
            return []
        out = []
        for r in (md.user or {}).get("renditions") or []:
            try:
                rcid, bitrate = str(r["cid"]), int(r["bitrate"])

                def check(rcid: str = rcid) -> MediaInfo:
                    reader = self.model.open(rcid)
                    try:
                        return probe(reader, reader.size)
                    finally:
                        reader.close()

                rinfo = await asyncio.to_thread(check)
            except (KeyError, TypeError, ValueError, IPFSKitError) as e:
                log.warning("ignoring rendition %r of %s: %s", r, cid, e)
                continue
            if rinfo.passthrough and 0 < bitrate < info.video_bitrate:
                out.append(Rendition(rcid, bitrate))
        return out

    @staticmethod
    def _controller(info: MediaInfo, renditions: list[Rendition]) -> AdaptiveBitrateController:
        return control.controller_for(info, renditions)

    # -- timers ------------------------------------------------------------------------------
    def _deadline(self, session: Session, seconds: float, while_in: SessionState, code: str, message: str) -> None:
        """Fail the session with ``code`` if it is still ``while_in`` after ``seconds``."""
        async def expire() -> None:
            await asyncio.sleep(seconds)  # a deadline, not a guess
            if session.open and session.state is while_in and session.pc.connectionState != "connected":
                await self.fail(session, code, message)

        if seconds > 0:
            session.spawn(expire())

    def _negotiated(self, session: Session, doing: str) -> None:
        session.codec = negotiation.video_codec(session)
        stats.record_remb(session, list(session.transceivers))
        session.advance(SessionState.NEGOTIATED, doing)
        self._deadline(session, self.settings.connect_timeout, SessionState.NEGOTIATED, "connect_timeout",
                       f"not connected within {self.settings.connect_timeout:g} s of negotiation "
                       "(no usable ICE candidates?); session closed")

    # -- server offer (the seed's flow) -----------------------------------------------------
    async def create_offer(self, cid: Any, options: StreamOptions, client_id: str = "",
                           send: Send | None = None) -> dict[str, Any]:
        session = await self._prepare(cid, options, client_id, send)
        try:
            negotiation.add_transceivers(session)
            if options.datachannel:
                channel = session.pc.createDataChannel(datachannel.LABEL)
                datachannel.serve_channel(channel, self.model.car_export)
            await session.pc.setLocalDescription(await session.pc.createOffer())
            session.advance(SessionState.OFFERED)
        except BaseException:
            await self.close_session(session.pc_id, "offer failed")
            raise
        self._deadline(session, self.settings.offer_timeout, SessionState.OFFERED, "offer_timeout",
                       f"no answer within {self.settings.offer_timeout:g} s; session closed")
        self.emit(NotificationType.WEBRTC_OFFER, {"pc_id": session.pc_id, "cid": session.cid, "offerer": "server",
                                                  "tracks": list(session.tracks),
                                                  "streams": [st.describe() for st in session.streams.values()]})
        return {"type": "offer", "pc_id": session.pc_id, "cid": session.cid, "sdp": session.pc.localDescription.sdp,
                "media": session.info.to_dict() if session.info else None, "tracks": session.track_map(),
                "streams": [st.describe() for st in session.streams.values()]}

    def _session(self, pc_id: Any, client_id: str | None = None) -> Session:
        session = self.sessions.get(pc_id) if isinstance(pc_id, str) else None
        if session is None or (client_id is not None and session.client_id != client_id):
            raise NotFound(f"unknown pc_id {pc_id!r}")
        return session

    async def accept_answer(self, pc_id: str, sdp: Any, client_id: str | None = None) -> dict[str, Any]:
        session = self._session(pc_id, client_id)
        if session.state is SessionState.RENEGOTIATING:
            return await self._accept_reanswer(session, check_sdp(sdp))
        if session.state is not SessionState.OFFERED:
            raise SignalingError("invalid_state", f"session {pc_id} is {session.state}, not waiting for an answer")
        check_sdp(sdp)
        try:
            await session.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            self._negotiated(session, "answer")
        except SignalingError:
            await self.close_session(pc_id, "negotiation failed")
            raise
        except Exception as e:
            await self.close_session(pc_id, "invalid answer")
            raise SignalingError("invalid_sdp", f"answer rejected: {e}") from None
        return {"type": "answer_ack", "pc_id": pc_id}

    # -- client offer (browsers) -------------------------------------------------------------
    async def answer_offer(self, cid: Any, sdp: Any, options: StreamOptions, client_id: str = "",
                           send: Send | None = None) -> dict[str, Any]:
        check_sdp(sdp)
        session = await self._prepare(cid, options, client_id, send)
        pc = session.pc
        try:
            # our sendonly transceivers (with the codec preference) are matched to the offer's sections
            negotiation.add_transceivers(session)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except Exception as e:
                raise SignalingError("invalid_sdp", f"offer rejected: {e}") from None
            negotiation.drop_unmatched(session)
            if not session.transceivers and not options.datachannel:
                raise SignalingError("no_media_section", "the offer has no audio or video section to receive into")
            await pc.setLocalDescription(await pc.createAnswer())
            self._negotiated(session, "offer")
        except BaseException:
            await self.close_session(session.pc_id, "offer failed")
            raise
        self.emit(NotificationType.WEBRTC_OFFER, {"pc_id": session.pc_id, "cid": session.cid, "offerer": "client",
                                                  "tracks": list(session.transceivers),
                                                  "streams": [st.describe() for st in session.streams.values()]})
        return {"type": "answer", "pc_id": session.pc_id, "sdp": pc.localDescription.sdp,
                "media": session.info.to_dict() if session.info else None, "tracks": session.track_map(),
                "streams": [st.describe() for st in session.streams.values()]}

    # -- several streams: renegotiation and per-stream control ------------------------------
    def _stream(self, session: Session, stream_id: str) -> MediaStreamState:
        st = session.streams.get(stream_id)
        if st is None or st.state == "removed":
            raise NotFound(f"unknown stream {stream_id!r} in session {session.pc_id}")
        return st

    def _connected_session(self, pc_id: str, client_id: str | None, doing: str) -> Session:
        session = self._session(pc_id, client_id)
        if session.state is not SessionState.CONNECTED:
            raise SignalingError("invalid_state", f"session {pc_id} is {session.state}, not connected ({doing}); "
                                 "wait for connected, or for the answer of the pending offer")
        return session

    async def _reoffer(self, session: Session, stream_id: str, reason: str) -> dict[str, Any]:
        """A new server offer for a connected session (its answer comes as ``answer``)."""
        offer = await session.pc.createOffer()
        remote = session.pc.remoteDescription.sdp if session.pc.remoteDescription else None
        sdp = aiortc_compat.keep_payload_types(aiortc_compat.keep_extension_ids(offer.sdp, remote), remote)
        offer = RTCSessionDescription(sdp, "offer")
        await session.pc.setLocalDescription(offer)
        session.advance(SessionState.RENEGOTIATING, reason)
        self._deadline(session, self.settings.offer_timeout, SessionState.RENEGOTIATING, "offer_timeout",
                       f"no answer to the re-offer within {self.settings.offer_timeout:g} s; session closed")
        st = session.streams[stream_id]
        self.emit(NotificationType.WEBRTC_OFFER, {"pc_id": session.pc_id, "cid": st.cid, "offerer": "server",
                                                  "tracks": list(st.tracks), "stream_id": stream_id,
                                                  "renegotiation": reason})
        return {"type": "offer", "pc_id": session.pc_id, "stream_id": stream_id, "sdp": session.pc.localDescription.sdp,
                "media": st.info.to_dict() if st.info else None, "tracks": session.track_map(),
                "streams": [x.describe() for x in session.streams.values()]}

    async def add_stream(self, pc_id: str, spec: StreamSpec, client_id: str | None = None) -> dict[str, Any]:
        """Add a stream to a connected session: its tracks get new transceivers; the reply is the
        server's re-offer."""
        session = self._connected_session(pc_id, client_id, "add_stream")
        if sum(1 for st in session.streams.values() if st.state != "removed") >= MAX_STREAMS:
            raise LimitExceeded(f"a session carries at most {MAX_STREAMS} streams")
        opened = await self._open_stream(spec, session.options)
        st = self._add_tracks(session, opened)
        negotiation.add_transceivers(session, st.tracks)
        self._make_controller(session)
        try:
            return await self._reoffer(session, st.stream_id, "add_stream")
        except SignalingError:
            raise
        except Exception as e:
            await self.fail(session, "negotiation_failed", f"re-offer failed: {e}")
            raise SignalingError("negotiation_failed", f"re-offer failed: {e}") from None

    async def remove_stream(self, pc_id: str, stream_id: str, client_id: str | None = None) -> dict[str, Any]:
        """Stop a stream's tracks and set their transceivers inactive; the reply is the re-offer."""
        session = self._connected_session(pc_id, client_id, "remove_stream")
        st = self._stream(session, stream_id)
        st.state = "removed"
        for name in st.tracks:
            track = session.tracks.pop(name, None)
            t = session.transceivers.get(name)
            if t is not None:
                t.direction = "inactive"
            if track is not None:
                track.stop()
        self._make_controller(session)
        return await self._reoffer(session, stream_id, "remove_stream")

    async def _accept_reanswer(self, session: Session, sdp: str) -> dict[str, Any]:
        try:
            await session.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            negotiation.video_codec(session)
        except SignalingError as e:
            await self.fail(session, e.code, str(e))
            raise
        except Exception as e:
            await self.fail(session, "invalid_sdp", f"answer rejected: {e}")
            raise SignalingError("invalid_sdp", f"answer rejected: {e}") from None
        stats.record_remb(session, list(session.transceivers))
        session.advance(SessionState.CONNECTED, "answer")
        self._start_control(session)
        return {"type": "answer_ack", "pc_id": session.pc_id}

    async def answer_reoffer(self, pc_id: str, sdp: Any, spec: StreamSpec | None,
                             client_id: str | None = None) -> dict[str, Any]:
        """The client re-offers in a connected session (adding receive sections for ``spec``)."""
        session = self._connected_session(pc_id, client_id, "offer")
        check_sdp(sdp)
        st = None
        if spec is not None:
            if sum(1 for x in session.streams.values() if x.state != "removed") >= MAX_STREAMS:
                raise LimitExceeded(f"a session carries at most {MAX_STREAMS} streams")
            st = self._add_tracks(session, await self._open_stream(spec, session.options))
            negotiation.add_transceivers(session, st.tracks)
        pc = session.pc
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            if st is not None:
                negotiation.drop_unmatched(session, st.tracks)
                if not any(n in session.transceivers for n in st.tracks):
                    raise SignalingError("no_media_section", "the re-offer has no new section for the stream")
            await pc.setLocalDescription(await pc.createAnswer())
            negotiation.video_codec(session)
        except Exception as e:
            code = e.code if isinstance(e, SignalingError) else "invalid_sdp"
            await self.fail(session, code, f"re-offer failed: {e}")
            raise SignalingError(code, f"re-offer failed: {e}") from None
        stats.record_remb(session, list(session.transceivers))
        self._make_controller(session)
        self._start_control(session)
        if st is not None:
            self.emit(NotificationType.WEBRTC_OFFER, {"pc_id": pc_id, "cid": st.cid, "offerer": "client",
                                                      "tracks": list(st.tracks), "stream_id": st.stream_id,
                                                      "renegotiation": "offer"})
        return {"type": "answer", "pc_id": pc_id, "sdp": pc.localDescription.sdp,
                "stream_id": st.stream_id if st else None, "media": st.info.to_dict() if st and st.info else None,
                "tracks": session.track_map(), "streams": [x.describe() for x in session.streams.values()]}

    async def control_stream(self, pc_id: str, stream_id: str, action: str, position: float | None,
                             client_id: str | None = None) -> dict[str, Any]:
        """pause / play / seek / end one stream of a session; the others go on."""
        session = self._session(pc_id, client_id)
        st = self._stream(session, stream_id)
        tracks = [session.tracks[n] for n in st.tracks if n in session.tracks]
        if st.state == "ended" and action != "end":
            raise SignalingError("invalid_state", f"stream {stream_id} has ended")
        if action == "pause":
            st.clock.pause()
            st.state = "paused"
        elif action == "play":
            st.clock.resume()
            st.state = "playing"
        elif action == "seek":
            assert position is not None
            at = position
            if st.info is not None and st.info.video_codec:
                def keyframe(t: float = position) -> float:
                    with self.model.open(st.cid) as reader:
                        return keyframe_before(reader, t)
                at = await asyncio.to_thread(keyframe)
            for t in tracks:
                t.seek(at)
            position = at
        else:  # end
            for t in tracks:
                t.stop()
        data = {"pc_id": pc_id, "stream_id": stream_id, "action": action, "state": st.state,
                "tracks": list(st.tracks), "position": position}
        return {"type": "stream_state", **data}

    async def add_candidate(self, pc_id: str, candidate: IceCandidate | dict[str, Any] | None,
                            client_id: str | None = None) -> None:
        session = self._session(pc_id, client_id)
        if isinstance(candidate, dict):  # the pre-typed form (``{"candidate", "sdpMid", "sdpMLineIndex"}``)
            candidate = parse_candidate(candidate)
        if candidate is None:
            return  # end of candidates: aiortc needs no signal
        await session.pc.addIceCandidate(negotiation.ice_candidate(candidate))

    # -- running sessions --------------------------------------------------------------------
    async def read_report(self, session: Session) -> NetworkReport | None:
        """The latest receiver report for the video sender, or None when no new one arrived."""
        return await stats.read_report(session)

    def apply_bitrate(self, session: Session, bitrate: int | None) -> None:
        control.apply_bitrate(session, bitrate, self._main_track(session))

    async def set_quality(self, pc_id: str, quality: str, client_id: str | None = None) -> dict[str, Any]:
        session = self._session(pc_id, client_id)
        if quality not in QUALITIES:
            raise InvalidArgument(f"quality must be one of {list(QUALITIES)}")
        video = session.video or next(iter(session.video_tracks().values()), None)
        if video is None:
            raise SignalingError("no_video", "this session sends no video")
        if video.info.encryption is not None and quality not in ("auto", "source"):
            raise SignalingError("encrypted", "encrypted media is passed through as stored: no other quality")
        old = video.target_bitrate
        session.options.quality = quality
        fixed = PRESETS.get(quality)
        for track in session.video_tracks().values():
            track.allow_passthrough = fixed is None and track.info.passthrough
        session.controller = None
        self._make_controller(session)
        self._start_control(session)
        targets: dict[str, int | None] = {}
        for name, track in session.video_tracks().items():
            if track.info.encryption is None:  # a preset applies to each track
                control._set(session, name, track, fixed)
                targets[name] = fixed
        data = {"pc_id": pc_id, "cid": session.cid, "old_bitrate": old, "new_bitrate": fixed,
                "reason": f"client asked for quality {quality}", "old_mode": None, "new_mode": video.desired_mode(),
                "track": self._main_track(session), "tracks": targets}
        self.emit(NotificationType.WEBRTC_QUALITY_CHANGED, data)
        return {"type": "quality_changed", **data}

    def viewer_error(self, report: FrameError, client_id: str | None = None) -> dict[str, Any]:
        """A viewer could not use frames (SFrame authentication failed, no key): ``webrtc_error``
        on the hub, the session stays open (the viewer decides whether to close it)."""
        session = self._session(report.pc_id, client_id)
        self.emit(NotificationType.WEBRTC_ERROR, {"pc_id": session.pc_id, "cid": session.cid, "code": report.code,
                                                  "error": report.error, "source": "viewer",
                                                  "track": report.track})
        return {"type": "frame_error_ack", "pc_id": session.pc_id}

    async def stats(self, pc_id: str, client_id: str | None = None) -> dict[str, Any]:
        session = self._session(pc_id, client_id)
        try:
            await stats.refresh(session)
        except Exception:  # transport gone: the figures so far
            pass
        return {"type": "stats", "pc_id": pc_id, "stats": stats.session_stats(session)}

    # -- teardown ----------------------------------------------------------------------------
    async def close_session(self, pc_id: str, reason: str = "closed") -> bool:
        session = self.sessions.pop(pc_id, None)
        if session is None:
            return False
        session.advance(SessionState.CLOSED)
        current = asyncio.current_task()
        for task in session.tasks:
            if task is not current:
                task.cancel()
        for track in session.tracks.values():
            track.stop()
        try:
            await asyncio.wait_for(session.pc.close(), 5)
        except Exception:
            log.debug("closing %s", pc_id, exc_info=True)
        log.info("webrtc session %s (%s) closed: %s", pc_id, session.cid, reason)
        return True

    async def close_client(self, client_id: str) -> int:
        """Close exactly the sessions opened by ``client_id``; returns how many."""
        self.client_addresses.pop(client_id, None)
        ids = [s.pc_id for s in self.sessions.values() if s.client_id == client_id]
        await asyncio.gather(*(self.close_session(i, "client went away") for i in ids), return_exceptions=True)
        return len(ids)


def check_encrypted(info: MediaInfo, options: StreamOptions) -> None:
    """An SFrame package streams only as stored: H.264 video passed through, nothing re-encoded."""
    if options.quality not in ("auto", "source"):
        raise SignalingError("encrypted", "encrypted media is passed through as stored: quality must be auto or source")
    if options.codec != "h264":
        raise SignalingError("encrypted", "encrypted media is H.264 passed through: codec must be h264")
