"""WebRTCStreamingManager: owns the peer connections of the node.

One ``Session`` per peer connection: its tracks, its bitrate controller, the
client (signaling connection) it belongs to, and a state:
``offered`` (server offer sent, waiting for the answer) -> ``negotiated`` ->
``connected`` -> ``closed``. The manager enforces ``webrtc.max_sessions``
(and ``max_sessions_per_client`` per signaling connection,
``max_sessions_per_address`` per remote address), closes offers unanswered
after ``webrtc.offer_timeout`` seconds and negotiated sessions that do not
connect within ``webrtc.connect_timeout`` (a client that offers and goes
silent holds no slot for long), closes exactly the sessions of a client that
goes away, and closes everything on stop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcrtpsender import RTCRtpSender as _Sender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.sdp import candidate_from_sdp

from ..config import WebRTCSettings
from ..errors import InvalidArgument, IPFSKitError, LimitExceeded, NotFound, SignalingError
from ..events import EventBus, NotificationType
from ..model import IPFSModel
from . import datachannel
from .bitrate import PRESETS, AdaptiveBitrateController, NetworkReport
from .ice import rtc_configuration
from .media import (
    FRAMES,
    IPFSMediaStreamTrack,
    MediaInfo,
    Rendition,
    SessionClock,
    keyframe_before,
    probe,
)

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
CODECS = {"h264": "video/H264", "vp8": "video/VP8"}
QUALITIES = ("auto", *PRESETS)


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
        try:
            start = float(msg.get("start", 0) or 0)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of 309+ digits
            raise InvalidArgument("start must be a number of seconds") from None
        if not 0 <= start < float("inf"):  # also refuses NaN ("nan" and NaN parse)
            raise InvalidArgument("start must be a finite, non-negative number of seconds")
        dc = bool(msg.get("datachannel", False))
        if not tracks and not dc:
            raise InvalidArgument("nothing to send: no tracks and no data channel")
        return cls(tuple(dict.fromkeys(tracks)), codec, quality, start, bool(msg.get("loop", False)), dc)


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
    state: str = "new"
    codec: str | None = None
    created: float = field(default_factory=time.monotonic)
    remb: int | None = None
    last_report: dict[str, Any] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def video(self) -> IPFSMediaStreamTrack | None:
        return self.tracks.get("video")


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

    async def fail(self, session: Session, code: str, message: str) -> None:
        """Report an error of a running session to its client and the hub, then close it."""
        self.emit(NotificationType.WEBRTC_ERROR, {"pc_id": session.pc_id, "cid": session.cid,
                                                  "code": code, "error": message})
        await self._notify(session, {"type": "error", "pc_id": session.pc_id, "code": code, "error": message})
        await self.close_session(session.pc_id, message)

    # -- building a session ------------------------------------------------------------------
    async def _prepare(self, cid: str, options: StreamOptions, client_id: str, send: Send | None) -> Session:
        if self._closing:
            raise SignalingError("unavailable", "server is shutting down")
        if not self.settings.enabled:
            raise SignalingError("unavailable", "WebRTC is disabled on this node")
        self._check_limits(client_id)
        if not isinstance(cid, str) or not cid:
            raise InvalidArgument("cid is required")

        start = options.start

        def inspect() -> MediaInfo | None:
            nonlocal start
            if not options.tracks:  # data only: any content
                self.model.resolve(cid)
                return None
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
        renditions = await self._renditions(cid, info) if info is not None and info.passthrough else []
        self._check_limits(client_id)  # again: others may have started meanwhile
        pc = RTCPeerConnection(rtc_configuration(self.settings))
        session = Session(uuid.uuid4().hex, cid, client_id, pc, options, send, info)
        self.sessions[session.pc_id] = session
        clock = SessionClock()
        fixed = PRESETS.get(options.quality)
        for kind in options.tracks:
            if info is None or (kind == "video" and not info.video_codec) or (kind == "audio" and not info.audio_codec):
                continue
            session.tracks[kind] = IPFSMediaStreamTrack(
                kind, lambda c=None: self.model.open(c or cid), info, clock, start=start,
                loop=options.loop, target_bitrate=fixed, allow_passthrough=fixed is None,
                renditions=renditions if kind == "video" else None)
        if not session.tracks and not options.datachannel:
            await self.close_session(session.pc_id, "nothing to stream")
            raise SignalingError("not_media", f"{cid} has none of the requested tracks {list(options.tracks)}")
        if info is not None and info.video_codec and options.quality == "auto":
            session.controller = self._controller(info, renditions)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState == "connected" and session.state != "connected":
                session.state = "connected"
                self.emit(NotificationType.WEBRTC_CONNECTED, {
                    "pc_id": session.pc_id, "cid": cid, "codec": session.codec,
                    "mode": session.video.desired_mode() if session.video else None})
                await self._notify(session, {"type": "connected", "pc_id": session.pc_id})
                if session.controller is not None and session.video is not None:
                    session.tasks.append(asyncio.create_task(self._control(session)))
                session.tasks.append(asyncio.create_task(self._watch_tracks(session)))
            elif pc.connectionState in ("failed", "closed") and session.state != "closed":
                if pc.connectionState == "failed":
                    await self.fail(session, "connection_failed", "ICE/DTLS connection failed")
                else:
                    await self.close_session(session.pc_id, "peer connection closed")

        @pc.on("datachannel")
        def _dc(channel: Any) -> None:
            if channel.label == datachannel.LABEL:
                datachannel.serve_channel(channel, self.model.car_export)
        return session

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

    def _start_connect_timer(self, session: Session) -> None:
        if self.settings.connect_timeout > 0:
            session.tasks.append(asyncio.create_task(self._connect_timeout(session)))

    async def _connect_timeout(self, session: Session) -> None:
        await asyncio.sleep(self.settings.connect_timeout)
        if session.pc_id in self.sessions and session.state != "connected" and session.pc.connectionState != "connected":
            await self.fail(session, "connect_timeout",
                            f"not connected within {self.settings.connect_timeout:g} s of negotiation "
                            "(no usable ICE candidates?); session closed")

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
        top = max(info.video_bitrate, 300_000)
        if renditions:  # the levels are the stored renditions
            return AdaptiveBitrateController(top, min_bitrate=min(r.bitrate for r in renditions),
                                             ladder=tuple(r.bitrate for r in renditions))
        return AdaptiveBitrateController(top, min_bitrate=min(250_000, top))

    def _add_tracks(self, session: Session) -> None:
        for kind, track in session.tracks.items():
            t = session.pc.addTransceiver(track, direction="sendonly")
            session.transceivers[kind] = t
            if kind == "video":
                self._prefer_codec(t, session.options.codec)

    @staticmethod
    def _prefer_codec(transceiver: RTCRtpTransceiver, codec: str) -> None:
        # aiortc offers VP8 first; order the wanted codec first (its RTX kept) and keep the rest
        want = CODECS[codec].lower()
        caps = RTCRtpSender.getCapabilities("video").codecs
        first = [c for c in caps if c.mimeType.lower() == want]
        transceiver.setCodecPreferences(first + [c for c in caps if c.mimeType.lower() != want])

    def _negotiated(self, session: Session) -> None:
        """After the remote description: video leaves as packets only when H.264 was agreed."""
        t = session.transceivers.get("video")
        video = session.video
        if t is None or video is None:
            return
        codecs = getattr(t, "_codecs", [])
        if not codecs:
            raise SignalingError("no_common_codec", "the peer accepted no video codec we can send")
        session.codec = codecs[0].mimeType
        video.output = "packets" if codecs[0].mimeType.lower() == "video/h264" else "frames"
        self._hook_remb(session, t.sender)

    @staticmethod
    def _hook_remb(session: Session, sender: _Sender) -> None:
        """Record the receiver's REMB so the controller can take it into account."""
        from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

        original = sender._handle_rtcp_packet

        async def handle(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                try:
                    session.remb = unpack_remb_fci(packet.fci)[0]
                except ValueError:
                    pass
            await original(packet)

        sender._handle_rtcp_packet = handle  # type: ignore[method-assign]

    # -- server offer (the seed's flow) -----------------------------------------------------
    async def create_offer(self, cid: str, options: StreamOptions, client_id: str = "",
                           send: Send | None = None) -> dict[str, Any]:
        session = await self._prepare(cid, options, client_id, send)
        try:
            self._add_tracks(session)
            if options.datachannel:
                channel = session.pc.createDataChannel(datachannel.LABEL)
                datachannel.serve_channel(channel, self.model.car_export)
            await session.pc.setLocalDescription(await session.pc.createOffer())
        except BaseException:
            await self.close_session(session.pc_id, "offer failed")
            raise
        session.state = "offered"
        session.tasks.append(asyncio.create_task(self._offer_timeout(session)))
        self.emit(NotificationType.WEBRTC_OFFER, {"pc_id": session.pc_id, "cid": cid, "offerer": "server",
                                                  "tracks": list(session.tracks)})
        return {"type": "offer", "pc_id": session.pc_id, "cid": cid, "sdp": session.pc.localDescription.sdp,
                "media": session.info.to_dict() if session.info else None}

    async def _offer_timeout(self, session: Session) -> None:
        await asyncio.sleep(self.settings.offer_timeout)
        if session.state == "offered" and session.pc_id in self.sessions:
            await self.fail(session, "offer_timeout",
                            f"no answer within {self.settings.offer_timeout:g} s; session closed")

    def _session(self, pc_id: Any, client_id: str | None = None) -> Session:
        session = self.sessions.get(pc_id) if isinstance(pc_id, str) else None
        if session is None or (client_id is not None and session.client_id != client_id):
            raise NotFound(f"unknown pc_id {pc_id!r}")
        return session

    async def accept_answer(self, pc_id: str, sdp: str, client_id: str | None = None) -> dict[str, Any]:
        session = self._session(pc_id, client_id)
        if session.state != "offered":
            raise SignalingError("invalid_state", f"session {pc_id} is {session.state}, not waiting for an answer")
        check_sdp(sdp)
        try:
            await session.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            self._negotiated(session)
        except SignalingError:
            await self.close_session(pc_id, "negotiation failed")
            raise
        except Exception as e:
            await self.close_session(pc_id, "invalid answer")
            raise SignalingError("invalid_sdp", f"answer rejected: {e}") from None
        session.state = "negotiated"
        self._start_connect_timer(session)
        return {"type": "answer_ack", "pc_id": pc_id}

    # -- client offer (browsers) -------------------------------------------------------------
    async def answer_offer(self, cid: str, sdp: str, options: StreamOptions, client_id: str = "",
                           send: Send | None = None) -> dict[str, Any]:
        check_sdp(sdp)
        session = await self._prepare(cid, options, client_id, send)
        pc = session.pc
        try:
            # our sendonly transceivers (with the codec preference) are matched to the offer's sections
            self._add_tracks(session)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except Exception as e:
                raise SignalingError("invalid_sdp", f"offer rejected: {e}") from None
            for kind, t in list(session.transceivers.items()):
                if t.mid is None:  # the offer has no section for this kind
                    del session.transceivers[kind]
                    session.tracks.pop(kind).stop()
            if not session.transceivers and not options.datachannel:
                raise SignalingError("no_media_section", "the offer has no audio or video section to receive into")
            await pc.setLocalDescription(await pc.createAnswer())
            self._negotiated(session)
        except BaseException:
            await self.close_session(session.pc_id, "offer failed")
            raise
        session.state = "negotiated"
        self._start_connect_timer(session)
        self.emit(NotificationType.WEBRTC_OFFER, {"pc_id": session.pc_id, "cid": cid, "offerer": "client",
                                                  "tracks": list(session.transceivers)})
        return {"type": "answer", "pc_id": session.pc_id, "sdp": pc.localDescription.sdp,
                "media": session.info.to_dict() if session.info else None}

    async def add_candidate(self, pc_id: str, candidate: dict[str, Any] | None,
                            client_id: str | None = None) -> None:
        session = self._session(pc_id, client_id)
        if not candidate or not candidate.get("candidate"):
            return  # end of candidates: aiortc needs no signal
        text = str(candidate["candidate"])
        try:
            c = candidate_from_sdp(text.removeprefix("candidate:"))
        except Exception as e:  # aiortc's parser asserts, indexes and converts as it goes
            raise InvalidArgument(f"malformed ICE candidate {text[:100]!r}: {e!r}") from None
        c.sdpMid = candidate.get("sdpMid")
        c.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await session.pc.addIceCandidate(c)

    # -- running sessions --------------------------------------------------------------------
    async def _watch_tracks(self, session: Session) -> None:
        """Report a track that ended with an error (a damaged file) or ended normally."""
        while session.pc_id in self.sessions:
            await asyncio.sleep(0.5)
            ended = [t for t in session.tracks.values() if t.readyState == "ended"]
            if not session.tracks or len(ended) < len(session.tracks):
                continue
            errors = [t.error for t in ended if t.error is not None]
            if errors:
                await self.fail(session, "media_error", f"reading {session.cid} failed: {errors[0]}")
            else:
                await self._notify(session, {"type": "ended", "pc_id": session.pc_id})
            return

    async def read_report(self, session: Session) -> NetworkReport | None:
        """The latest receiver report for the video sender, or None when no new one arrived."""
        t = session.transceivers.get("video")
        if t is None:
            return None
        stats = await t.sender.getStats()
        remote = next((s for s in stats.values() if s.type == "remote-inbound-rtp"), None)
        out = next((s for s in stats.values() if s.type == "outbound-rtp"), None)
        if out is not None:
            session.last_report.update(packets_sent=out.packetsSent, bytes_sent=out.bytesSent)
        if remote is None or session.last_report.get("remote_ts") == remote.timestamp:
            return None
        session.last_report.update(remote_ts=remote.timestamp, fraction_lost=remote.fractionLost / 256,
                                   packets_lost=remote.packetsLost, rtt=remote.roundTripTime,
                                   jitter=remote.jitter, remb=session.remb)
        return NetworkReport(remote.fractionLost / 256, remote.roundTripTime, remote.jitter, session.remb)

    async def _control(self, session: Session) -> None:
        """Once a second: receiver report -> controller -> the video track's target."""
        assert session.controller is not None and session.video is not None
        ctl, video = session.controller, session.video
        while session.pc_id in self.sessions and video.readyState == "live":
            await asyncio.sleep(self.stats_interval)
            try:
                report = await self.read_report(session)
            except Exception:  # transport gone; the state handler closes the session
                return
            if report is None:
                continue
            change = ctl.update(report)
            if change is None:
                continue
            old_mode, old_rendition = video.desired()
            self.apply_bitrate(session, None if change.new >= ctl.max_bitrate else change.new)
            new_mode, new_rendition = video.desired()
            data = {"pc_id": session.pc_id, "cid": session.cid, "old_bitrate": change.old,
                    "new_bitrate": change.new, "reason": change.reason, "old_mode": old_mode,
                    "new_mode": new_mode, "old_rendition": old_rendition, "new_rendition": new_rendition,
                    "fraction_lost": report.fraction_lost,
                    "rtt": report.rtt, "remb": report.remb}
            self.emit(NotificationType.WEBRTC_QUALITY_CHANGED, data)
            await self._notify(session, {"type": "quality_changed", **data})

    def apply_bitrate(self, session: Session, bitrate: int | None) -> None:
        """Set the video target (None: the source's). Packets: our encoder or passthrough
        follow at the next keyframe; frames: aiortc's encoder (REMB may move it; we reapply)."""
        video = session.video
        if video is None:
            return
        video.target_bitrate = bitrate
        if video.output == FRAMES:
            t = session.transceivers.get("video")
            encoder = getattr(t.sender, "_RTCRtpSender__encoder", None) if t else None
            if encoder is not None and hasattr(encoder, "target_bitrate"):
                encoder.target_bitrate = bitrate or session.info.video_bitrate if session.info else bitrate

    async def set_quality(self, pc_id: str, quality: str, client_id: str | None = None) -> dict[str, Any]:
        session = self._session(pc_id, client_id)
        if quality not in QUALITIES:
            raise InvalidArgument(f"quality must be one of {list(QUALITIES)}")
        video = session.video
        if video is None:
            raise SignalingError("no_video", "this session sends no video")
        old = video.target_bitrate
        session.options.quality = quality
        fixed = PRESETS.get(quality)
        video.allow_passthrough = fixed is None and video.info.passthrough
        if fixed is None and session.info is not None:
            session.controller = self._controller(session.info, [r for r in video.renditions if r.cid])
            if session.state == "connected" and not any(
                    t.get_coro().__name__ == "_control" for t in session.tasks if not t.done()):
                session.tasks.append(asyncio.create_task(self._control(session)))
        else:
            session.controller = None
        self.apply_bitrate(session, fixed)
        data = {"pc_id": pc_id, "cid": session.cid, "old_bitrate": old, "new_bitrate": fixed,
                "reason": f"client asked for quality {quality}", "old_mode": None, "new_mode": video.desired_mode()}
        self.emit(NotificationType.WEBRTC_QUALITY_CHANGED, data)
        return {"type": "quality_changed", **data}

    async def stats(self, pc_id: str, client_id: str | None = None) -> dict[str, Any]:
        session = self._session(pc_id, client_id)
        try:
            await self.read_report(session)
        except Exception:
            pass
        return {"type": "stats", "pc_id": pc_id, "stats": {
            "state": session.state, "cid": session.cid, "codec": session.codec,
            "connection_state": session.pc.connectionState,
            "tracks": {k: t.stats() for k, t in session.tracks.items()},
            "bitrate": session.controller.current if session.controller else None,
            "bitrate_estimate": int(session.controller.estimate) if session.controller else None,
            "network": {k: v for k, v in session.last_report.items() if k != "remote_ts"},
        }}

    # -- teardown ----------------------------------------------------------------------------
    async def close_session(self, pc_id: str, reason: str = "closed") -> bool:
        session = self.sessions.pop(pc_id, None)
        if session is None:
            return False
        session.state = "closed"
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


def check_sdp(sdp: Any) -> None:
    """Reject what is obviously not SDP before aiortc sees it."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or "\nm=" not in sdp.replace("\r", ""):
        raise SignalingError("invalid_sdp", "sdp must be a session description (starting with v=0, with m= sections)")
