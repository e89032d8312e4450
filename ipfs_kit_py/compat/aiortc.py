"""aiortc internals, each reached through one function here, per object (no global patch).

- ``negotiated_codecs``: the codecs a transceiver agreed on (``_codecs``; aiortc has
  no public getter before the first packet is sent).
- ``on_rtcp``: see the RTCP packets a sender receives (REMB) by wrapping that
  sender's ``_handle_rtcp_packet``.
- ``sender_encoder``: the sender's own encoder (name-mangled ``__encoder``), to set
  ``target_bitrate`` when aiortc encodes (VP8).
- ``on_received_frame``: transform (e.g. decrypt) or drop each frame a receiver
  assembled, before its decoder sees it (wraps that receiver's jitter buffer).
- ``keep_extension_ids``, ``keep_payload_types``: a server re-offer that keeps what the
  session negotiated (aiortc's ``createOffer`` renumbers both).
- ``set_default_ice_servers``: what a bare ``RTCPeerConnection()`` uses instead of
  aiortc's public STUN server (process-wide; called only by ``ice.apply_settings``).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCIceServer, RTCRtpCodecParameters, sdp
from aiortc.rtcicetransport import RTCIceGatherer
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from . import IncompatibleDependency

TESTED = ("1.9.", "1.10.", "1.11.", "1.12.", "1.13.", "1.14.", "1.15.", "1.16.")


def version() -> str:
    return importlib.metadata.version("aiortc")


def _assigns(fn: Any, name: str) -> bool:
    return name in fn.__code__.co_names


def check() -> None:
    """Raise IncompatibleDependency when aiortc lacks an internal used below."""
    v = version()
    if not v.startswith(TESTED):
        raise IncompatibleDependency(f"aiortc {v} is untested (compat/aiortc.py was checked against {TESTED})")
    missing = [what for what, ok in (
        ("RTCRtpTransceiver._codecs", _assigns(RTCRtpTransceiver.__init__, "_codecs")),
        ("RTCRtpSender._handle_rtcp_packet", callable(getattr(RTCRtpSender, "_handle_rtcp_packet", None))),
        ("RTCRtpSender.__encoder", _assigns(RTCRtpSender.__init__, "_RTCRtpSender__encoder")),
        ("RTCRtpReceiver.__jitter_buffer", _assigns(RTCRtpReceiver.__init__, "_RTCRtpReceiver__jitter_buffer")),
        ("RTCIceGatherer.getDefaultIceServers", callable(getattr(RTCIceGatherer, "getDefaultIceServers", None))),
    ) if not ok]
    if missing:
        raise IncompatibleDependency(f"aiortc {v} lacks {', '.join(missing)}")


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[Any]:
    """The transceiver's negotiated codecs, preferred first (empty before negotiation)."""
    return list(getattr(transceiver, "_codecs", []))


def on_rtcp(sender: RTCRtpSender, callback: Callable[[Any], None]) -> None:
    """Call ``callback(packet)`` for every RTCP packet ``sender`` handles (then aiortc handles it)."""
    original: Callable[[Any], Awaitable[None]] = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        callback(packet)
        await original(packet)

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]


def sender_encoder(sender: RTCRtpSender) -> Any:
    """aiortc's encoder of ``sender`` (None before its first frame, or when it packs packets)."""
    return getattr(sender, "_RTCRtpSender__encoder", None)


def on_received_frame(receiver: RTCRtpReceiver, transform: Callable[[bytes], bytes | None]) -> None:
    """Replace each assembled frame's bytes by ``transform(data)`` before decoding; None drops the
    frame (the decoder never sees it). Runs on the event loop: keep it quick."""
    jitter = receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]  # aiortc's private buffer (guarded)
    original = jitter.add

    def add(packet: Any) -> tuple[bool, Any]:
        pli, frame = original(packet)
        if frame is not None:
            data = transform(frame.data)
            if data is None:
                return pli, None
            frame.data = data
        return pli, frame

    jitter.add = add


def keep_extension_ids(offer_sdp: str, remote_sdp: str | None) -> str:
    """A re-offer with the RTP header extension ids the session already negotiated.

    aiortc's ``createOffer`` resets every transceiver to its own extension ids (mid=1,
    audio-level=2, abs-send-time=3); after a browser's offer set other ids (Chromium:
    abs-send-time=2), Chromium refuses the re-offer ("RTP extension ID reassignment not
    supported"). Ids of URIs already negotiated are kept, the others get free ids."""
    if not remote_sdp:
        return offer_sdp
    remote = sdp.SessionDescription.parse(remote_sdp)
    ids = {x.uri: x.id for m in remote.media for x in m.rtp.headerExtensions}
    used = set(ids.values())
    description = sdp.SessionDescription.parse(offer_sdp)
    for media in description.media:
        for ext in media.rtp.headerExtensions:
            if ext.uri not in ids:
                ids[ext.uri] = next(i for i in range(1, 15) if i not in used)
                used.add(ids[ext.uri])
            ext.id = ids[ext.uri]
    return str(description)


def _pt(codec: RTCRtpCodecParameters) -> int:
    """A parsed SDP codec's payload type (its rtpmap line always gives one)."""
    if codec.payloadType is None:
        raise ValueError(f"SDP codec {codec.mimeType} has no payload type")
    return codec.payloadType


def _codec_key(codec: Any, by_pt: dict[int, Any]) -> tuple[Any, ...]:
    """What makes two codec entries the same codec, whatever their payload type (an RTX
    entry: the codec it repairs)."""
    mime = codec.mimeType.lower()
    if mime.endswith("/rtx"):
        apt = by_pt.get(int(codec.parameters.get("apt", -1)))
        return ("rtx", _codec_key(apt, {}) if apt is not None else None)
    extra: tuple[str, ...] = ()
    if mime == "video/h264":
        extra = (str(codec.parameters.get("profile-level-id", "")).lower(),
                 str(codec.parameters.get("packetization-mode", "0")))
    return (mime, codec.clockRate, codec.channels, extra)


def keep_payload_types(offer_sdp: str, remote_sdp: str | None) -> str:
    """A re-offer with the RTP payload types the session already negotiated.

    aiortc's ``createOffer`` numbers every codec afresh (H.264 96/97..., Opus 96...), but a
    sender that started keeps the payload types it was started with (``RTCRtpSender.send``
    acts once). After a browser's offer (Chromium: H.264 102, its RTX 103, Opus 111), the
    re-offer told the browser that 102 was now an RTX stream: the tracks already playing
    stopped decoding at the first add_stream or remove_stream. Codecs already negotiated
    keep their payload type in every section; the others keep theirs when free, else get a
    free dynamic one, the same in every section (one mapping per BUNDLE group)."""
    if not remote_sdp:
        return offer_sdp
    pts: dict[tuple[Any, ...], int] = {}
    for media in sdp.SessionDescription.parse(remote_sdp).media:
        by_pt = {_pt(c): c for c in media.rtp.codecs}
        for c in media.rtp.codecs:
            pts.setdefault(_codec_key(c, by_pt), _pt(c))
    used = set(pts.values())
    description = sdp.SessionDescription.parse(offer_sdp)
    keyed = []
    for media in description.media:
        by_pt = {_pt(c): c for c in media.rtp.codecs}
        keyed.append([(c, _codec_key(c, by_pt)) for c in media.rtp.codecs])
    for media_codecs in keyed:
        for c, key in media_codecs:
            if key not in pts:
                pt = _pt(c) if _pt(c) not in used else next(p for p in range(96, 128) if p not in used)
                pts[key] = pt
                used.add(pt)
    for media, media_codecs in zip(description.media, keyed, strict=True):
        old_to_new = {_pt(c): pts[key] for c, key in media_codecs}
        for c, key in media_codecs:
            c.payloadType = pts[key]
            if key[0] == "rtx" and "apt" in c.parameters:
                c.parameters["apt"] = old_to_new.get(int(str(c.parameters["apt"])), c.parameters["apt"])
        media.fmt = [old_to_new.get(f, f) if isinstance(f, int) else f for f in media.fmt]
    return str(description)


_default_servers: list[RTCIceServer] = []


def set_default_ice_servers(servers: list[RTCIceServer]) -> None:
    """The ICE servers of every ``RTCPeerConnection()`` created without a configuration (process-wide)."""
    _default_servers[:] = servers
    # a patch of aiortc's classmethod (this module's purpose): mypy cannot type the replacement
    RTCIceGatherer.getDefaultIceServers = classmethod(  # type: ignore[method-assign, assignment]
        lambda cls: list(_default_servers))
