"""The dependency hooks of ipfs_kit_py.compat: each works on the installed version, each is
scoped to the object (or context) it was asked for, and a version they do not fit fails loudly."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, VideoStreamTrack
from aiortc.rtcicetransport import RTCIceGatherer

from ipfs_kit_py.compat import IncompatibleDependency
from ipfs_kit_py.compat import aioice as aioice_compat
from ipfs_kit_py.compat import aiortc as aiortc_compat
from ipfs_kit_py.compat import dcutr as dcutr_compat
from ipfs_kit_py.compat import noise as noise_compat
from ipfs_kit_py.compat import yamux as yamux_compat
from ipfs_kit_py.config import WebRTCSettings
from ipfs_kit_py.ice import peer_connection


def test_installed_versions_have_what_the_hooks_use() -> None:
    aiortc_compat.check()
    aioice_compat.check()
    dcutr_compat.check()
    noise_compat.check()
    yamux_compat.check()


def test_yamux_window_updates_batched_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from libp2p.stream_muxer.yamux import yamux

    monkeypatch.delenv(yamux_compat.ENV, raising=False)
    monkeypatch.setattr(yamux, "_yamux_release_on_read", yamux._yamux_release_on_read)  # undone after
    yamux_compat.batch_window_updates()
    assert yamux._yamux_release_on_read() is False  # go-yamux's half-window credit
    monkeypatch.setenv(yamux_compat.ENV, "1")
    assert yamux._yamux_release_on_read() is True  # an explicit setting is py-libp2p's again
    from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH

    monkeypatch.setattr(yamux, "MAX_MESSAGE_SIZE", yamux.MAX_MESSAGE_SIZE)
    yamux_compat.frames_in_one_noise_message()
    assert yamux.MAX_MESSAGE_SIZE == MAX_PLAINTEXT_LENGTH  # header and data in one Noise message
    monkeypatch.setattr(yamux.YamuxStream, "write", yamux.YamuxStream.write)
    monkeypatch.setattr(yamux.YamuxStream, "send_window", getattr(yamux.YamuxStream, "send_window", 0), raising=False)
    yamux_compat.frames_written_together()
    assert yamux.YamuxStream.write is yamux_compat._write and isinstance(yamux.YamuxStream.send_window, property)
    monkeypatch.setattr(yamux_compat, "version", lambda: "0.9.0")
    with pytest.raises(IncompatibleDependency, match="libp2p 0.9.0 is untested"):
        yamux_compat.check()


def test_dcutr_hooks_fail_loudly_when_py_libp2p_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dcutr_compat, "version", lambda: "0.9.0")
    with pytest.raises(IncompatibleDependency, match="libp2p 0.9.0 is untested"):
        dcutr_compat.check()
    monkeypatch.undo()
    monkeypatch.delattr("libp2p.transport.tcp.tcp.TCP.dial_with_source")
    with pytest.raises(IncompatibleDependency, match="dial_with_source"):
        dcutr_compat.check()


def test_an_untested_or_changed_dependency_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc_compat, "version", lambda: "2.0.0")
    with pytest.raises(IncompatibleDependency, match="aiortc 2.0.0 is untested"):
        aiortc_compat.check()
    monkeypatch.setattr(aioice_compat, "version", lambda: "1.0.0")
    with pytest.raises(IncompatibleDependency, match="aioice 1.0.0"):
        aioice_compat.check()
    monkeypatch.undo()
    monkeypatch.delattr("aiortc.rtcrtpsender.RTCRtpSender._handle_rtcp_packet")
    with pytest.raises(IncompatibleDependency, match="_handle_rtcp_packet"):
        aiortc_compat.check()


def test_importing_and_using_the_client_patches_nothing_process_wide() -> None:
    code = """
import aioice.ice, asyncio
from aiortc.rtcicetransport import RTCIceGatherer
before = (aioice.ice.get_host_addresses, RTCIceGatherer.getDefaultIceServers.__func__)
import ipfs_kit_py.client.streaming, ipfs_kit_py.high_level_api
from ipfs_kit_py.config import WebRTCSettings
from ipfs_kit_py.ice import peer_connection
async def main():
    pc = peer_connection(WebRTCSettings(ice_hosts=["127.0.0.1"]))
    pc.createDataChannel("x")
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
asyncio.run(main())
after_servers = RTCIceGatherer.getDefaultIceServers.__func__
assert after_servers is before[1], "default ICE servers patched"
# the address hook may be installed, but without a context it is aioice's own behaviour
assert aioice.ice.get_host_addresses(True, False) == before[0](True, False)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


async def _hosts_of(pc: RTCPeerConnection) -> set[str]:
    pc.createDataChannel("probe")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        return {line.split()[4] for line in pc.localDescription.sdp.splitlines()
                if line.startswith("a=candidate:") and " typ host" in line}
    finally:
        await pc.close()


async def test_host_addresses_are_per_connection() -> None:
    loopback, other = await asyncio.gather(
        _hosts_of(peer_connection(WebRTCSettings(ice_hosts=["127.0.0.1"]))),
        _hosts_of(peer_connection(WebRTCSettings(ice_hosts=["::1"]))))
    assert loopback == {"127.0.0.1"} and other == {"::1"}  # gathered at the same time, each its own
    # outside a connection's context: the process default (apply_settings, if a test called it), else aioice's
    expected = [h for h in aioice_compat._process_hosts if ":" not in h] or aioice_compat._original(True, False)
    assert aioice.ice.get_host_addresses(True, False) == expected
    assert RTCIceGatherer.getDefaultIceServers() is not None


class Pattern(VideoStreamTrack):
    """aiortc's own blank-frame source: enough to make its encoder and RTCP run."""


async def test_sender_hooks_see_rtcp_and_the_encoder() -> None:
    settings = WebRTCSettings(ice_hosts=["127.0.0.1"])
    sender_pc, receiver_pc = peer_connection(settings), peer_connection(settings)
    try:
        t = sender_pc.addTransceiver(Pattern(), direction="sendonly")
        rtcp: list[object] = []
        aiortc_compat.on_rtcp(t.sender, rtcp.append)
        frames: list[bytes] = []

        @receiver_pc.on("track")
        def _track(track) -> None:
            receiver = next(x.receiver for x in receiver_pc.getTransceivers() if x.receiver.track is track)
            aiortc_compat.on_received_frame(receiver, lambda data: frames.append(data) or data)

        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        assert [c.mimeType for c in aiortc_compat.negotiated_codecs(t)][:1] == ["video/VP8"]
        track = receiver_pc.getTransceivers()[0].receiver.track
        await asyncio.wait_for(track.recv(), 15)
        async with asyncio.timeout(15):
            while not rtcp:  # receiver reports arrive about once a second
                await asyncio.sleep(0.05)
        assert frames, "the receiver hook saw no assembled frame"
        encoder = aiortc_compat.sender_encoder(t.sender)
        assert encoder is not None and hasattr(encoder, "target_bitrate")
    finally:
        await sender_pc.close()
        await receiver_pc.close()


async def test_reoffers_keep_the_negotiated_extension_ids() -> None:
    """aiortc re-offers with its own header extension ids; Chromium refuses any id reassignment."""
    pc = peer_connection(WebRTCSettings(ice_hosts=["127.0.0.1"]))
    try:
        pc.addTransceiver("video", direction="sendonly")
        pc.addTransceiver("audio", direction="sendonly")
        offer = (await pc.createOffer()).sdp
        uri = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
        assert f"a=extmap:3 {uri}" in offer  # aiortc's own id: if this changes, revisit keep_extension_ids
        remote = offer.replace(f"a=extmap:3 {uri}", f"a=extmap:2 {uri}").replace(
            "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level", "a=extmap:5 urn:ietf:params:rtp-hdrext:ssrc-audio-level")
        kept = aiortc_compat.keep_extension_ids(offer, remote)
        assert f"a=extmap:2 {uri}" in kept and "a=extmap:5 urn:ietf:params:rtp-hdrext:ssrc-audio-level" in kept
        assert aiortc_compat.keep_extension_ids(offer, None) == offer
    finally:
        await pc.close()


class _Pipe:
    """One end of a trio memory stream with py-libp2p's read/write/close shape."""

    def __init__(self, stream: object) -> None:
        self.stream = stream

    async def read(self, n: int | None = None) -> bytes:
        return await self.stream.receive_some(n)  # type: ignore[attr-defined]

    async def write(self, data: bytes) -> None:
        await self.stream.send_all(data)  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self.stream.aclose()  # type: ignore[attr-defined]


def test_noise_messages_cut_out_of_large_reads_whatever_the_split() -> None:
    import random

    import trio
    import trio.testing
    from libp2p.io.exceptions import IncompleteReadError

    noise_compat.check()
    rng = random.Random(7)
    msgs = [rng.randbytes(rng.choice([0, 1, 17, 1000, 65519, 65535])) for _ in range(60)]
    wire = b"".join(len(m).to_bytes(2, "big") + m for m in msgs)

    async def main() -> None:
        a, b = trio.testing.memory_stream_pair()
        reader = noise_compat.BufferedPackets(_Pipe(b))
        got: list[bytes] = []

        async def send() -> None:
            pos = 0
            while pos < len(wire):  # pieces of 1 byte to 200 kB: across lengths, bodies, messages
                n = rng.choice([1, 2, 3, 100, 65537, 200_000])
                await a.send_all(wire[pos:pos + n])
                pos += n
                await trio.sleep(0)
            await a.send_all(b"\x00\x05ab")  # a message cut short by the close
            await a.aclose()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            for _ in msgs:
                got.append(await reader.read_msg())
            with pytest.raises(IncompleteReadError) as cut:
                await reader.read_msg()
        assert got == msgs
        assert not cut.value.is_clean_close  # 4 bytes of a 7-byte message: not a clean close

        a, b = trio.testing.memory_stream_pair()
        reader = noise_compat.BufferedPackets(_Pipe(b))
        await a.send_all(b"\x00\x01x")
        await a.aclose()
        assert await reader.read_msg() == b"x"
        with pytest.raises(IncompleteReadError) as clean:
            await reader.read_msg()
        assert clean.value.is_clean_close  # closed between messages: yamux ends the connection quietly

    trio.run(main)


def _noise_pair() -> tuple[object, object]:
    """Two Noise XX transport states (py-libp2p's suite), handshake done in memory."""
    from noise.connection import Keypair, NoiseConnection

    ends = []
    for initiator in (True, False):
        c = NoiseConnection.from_name(b"Noise_XX_25519_ChaChaPoly_SHA256")
        c.set_as_initiator() if initiator else c.set_as_responder()
        c.set_keypair_from_private_bytes(Keypair.STATIC, bytes([initiator + 1]) * 32)
        c.start_handshake()
        ends.append(c)
    a, b = ends
    b.read_message(a.write_message())
    a.read_message(b.write_message())
    b.read_message(a.write_message())
    assert a.handshake_finished and b.handshake_finished
    return a, b


def test_noise_write_sends_all_its_messages_with_one_socket_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 kB: four Noise messages, encrypted in order, one socket write; the buffered reader
    decrypts them back. py-libp2p's own writer made four socket writes of it."""
    import trio
    import trio.testing
    from libp2p.security.noise import io as noise_io

    monkeypatch.setattr(noise_io.NoiseTransportReadWriter, "__init__", noise_io.NoiseTransportReadWriter.__init__)
    monkeypatch.setattr(noise_io.NoiseTransportReadWriter, "write_msg", noise_io.NoiseTransportReadWriter.write_msg,
                        raising=False)
    noise_compat.buffered_transport_reads()
    noise_compat.one_socket_write_per_write()
    enc, dec = _noise_pair()
    payload = bytes(range(256)) * 800  # 204,800 bytes: 4 messages of at most 65,519
    writes: list[int] = []

    class Counting(_Pipe):
        async def write(self, data: bytes) -> None:
            writes.append(len(data))
            await super().write(data)

    async def main() -> None:
        a, b = trio.testing.memory_stream_pair()
        writer = noise_io.NoiseTransportReadWriter(Counting(a), enc)
        reader = noise_io.NoiseTransportReadWriter(_Pipe(b), dec)
        assert isinstance(reader.read_writer, noise_compat.BufferedPackets)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.write_msg, payload)
            got = b""
            while len(got) < len(payload):
                got += await reader.read_msg()
        assert got == payload
        assert writes == [len(payload) + 4 * (2 + 16)]  # each message: 2-byte length, 16-byte tag
        await writer.write_msg(b"")  # an empty write is one (empty) message, as before
        assert await reader.read_msg() == b""

    trio.run(main)


class _Dribble(_Pipe):
    """A pipe whose reads return pieces of random size (1 byte to 200 kB): yamux frames
    arrive cut at every possible place."""

    def __init__(self, stream: object, seed: int) -> None:
        import random

        super().__init__(stream)
        self.rng = random.Random(seed)
        self.pending = b""

    async def read(self, n: int | None = None) -> bytes:
        if not self.pending:
            self.pending = await self.stream.receive_some(None)  # type: ignore[attr-defined]
            if not self.pending:
                return b""
        k = self.rng.choice([1, 5, 12, 13, 100, 65_531, 200_000])
        piece, self.pending = self.pending[:k], self.pending[k:]
        return piece


def test_yamux_data_frames_go_straight_to_their_streams_and_the_rest_to_py_libp2p() -> None:
    """Two real py-libp2p Yamux connections over an in-memory pipe cut at random places:
    12 streams each way carry random data (plain DATA frames, taken directly), open with
    SYN, end with FIN, one is reset; window updates and pings cross too (py-libp2p's loop).
    Every byte arrives in order, and most frames took the direct path."""
    import hashlib
    import random

    import trio
    import trio.testing
    from libp2p.peer.id import ID
    from libp2p.stream_muxer.exceptions import MuxedStreamEOF, MuxedStreamError, MuxedStreamReset
    from libp2p.stream_muxer.yamux import yamux

    yamux_compat.data_frames_read_directly()
    yamux_compat.frames_written_together()
    rng = random.Random(11)
    payloads = [rng.randbytes(rng.choice([0, 1, 1000, 65_507, 300_000, 1_100_000])) for _ in range(12)]

    async def main() -> None:
        a, b = trio.testing.memory_stream_pair()
        left = yamux.Yamux(_Dribble(a, 1), ID(b"\x00\x01a"), is_initiator=True)
        right = yamux.Yamux(_Dribble(b, 2), ID(b"\x00\x01b"), is_initiator=False)
        got: dict[int, str] = {}
        refused: list[int] = []

        async def serve(mux: yamux.Yamux) -> None:
            async with trio.open_nursery() as n:
                while True:
                    s = await mux.accept_stream()
                    n.start_soon(echo_digest, s)

        async def read_all(s: yamux.YamuxStream, into: Callable[[bytes], object]) -> None:
            try:
                while data := await s.read(65_536):
                    into(data)
            except MuxedStreamEOF:
                pass

        async def echo_digest(s: yamux.YamuxStream) -> None:
            h, size = hashlib.sha256(), [0]
            try:
                await read_all(s, lambda d: (h.update(d), size.append(size.pop() + len(d))))
                await s.write(f"{h.hexdigest()} {size[0]}".encode())
                await s.close()
            except (MuxedStreamReset, MuxedStreamError):
                refused.append(s.stream_id)  # the stream reset on purpose


        async def send(mux: yamux.Yamux, i: int) -> None:
            s = await mux.open_stream()
            for pos in range(0, len(payloads[i]), 400_000):
                await s.write(payloads[i][pos:pos + 400_000])
            await s.close()
            answer = bytearray()
            await read_all(s, answer.extend)
            got[i] = answer.decode()

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for mux in (left, right):
                    await nursery.start(mux._handle_incoming_with_ready_signal)
                    nursery.start_soon(serve, mux)
                reset = await left.open_stream()
                await reset.write(b"then reset")
                await reset.reset()
                async with trio.open_nursery() as senders:
                    for i in range(12):
                        senders.start_soon(send, left if i % 2 else right, i)
                await left._write_frame(yamux_compat._HEADER.pack(0, 2, 1, 0, 7))  # a ping (SYN): answered
                nursery.cancel_scope.cancel()
        assert refused == [reset.stream_id]
        assert got == {i: f"{hashlib.sha256(p).hexdigest()} {len(p)}" for i, p in enumerate(payloads)}
        direct = sum(getattr(m.secured_conn, yamux_compat._FRAMES).direct for m in (left, right))
        assert direct > sum(len(p) for p in payloads) // 65_519 // 2, direct

    trio.run(main)
