"""End-to-end encrypted media (SFrame, RFC 9605): the format, ingest, and Python playback
from the real server, which passes the frames through without ever holding the key."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
import websockets
from conftest import ServerProcess, start_server
from webrtc_media import make_mp4, until

from ipfs_kit_py import sframe
from ipfs_kit_py.client.streaming import stream_content
from ipfs_kit_py.errors import IPFSKitError
from ipfs_kit_py.webrtc.sframe_package import encrypt_package

CLI = str(Path(sys.executable).parent / "ipfs-kit")


# -- the format, without sockets ------------------------------------------------------------------------
def test_rfc_9605_vector_for_aes_128_gcm() -> None:
    """RFC 9605 appendix C.4, cipher suite 0x0004."""
    base = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    key, salt = sframe.derive(base, 0x123)
    assert (key.hex(), salt.hex()) == ("d34f547f4ca4f9a7447006fe7fcbf768", "75234edefe07819026751816")
    metadata = bytes.fromhex("4945544620534672616d65205747")
    ct = sframe.Context(base).seal(0x123, 0x4567, metadata, b"draft-ietf-sframe-enc")
    assert ct.hex() == ("9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0"
                        "b091c07018ce4adb34eb")
    assert sframe.Context(base).open(ct, metadata) == (0x123, 0x4567, b"draft-ietf-sframe-enc")
    for kid, ctr, header in [(7, 0, "7000"[:2]), (0xF, 0xAA, "880faa"), (0x1FF, 0xAAAA, "9901ffaaaa")]:
        assert sframe.encode_header(kid, ctr).hex() == header
        assert sframe.parse_header(bytes.fromhex(header))[:2] == (kid, ctr)


def test_escaping_never_makes_a_start_code() -> None:
    import random

    rng = random.Random(7)
    for _ in range(300):
        data = bytes(rng.choice((0, 0, 0, 1, 2, 3, 0x80, rng.randrange(256))) for _ in range(rng.randrange(1, 60)))
        for zeros in (0, 1, 2):
            out = sframe.escape(data, zeros)
            framed = b"\x00" * zeros + out + b"\x80"
            assert all(framed[i:i + 3] not in (b"\x00\x00\x00", b"\x00\x00\x01", b"\x00\x00\x02")
                       for i in range(len(framed) - 2))
            assert sframe.unescape(out, zeros) == data


def test_protected_frames_keep_h264_framing_and_authenticate() -> None:
    ctx = sframe.Context(sframe.new_key())
    sps = b"\x00\x00\x00\x01\x67\x42\xc0\x1e\xda"
    sei = b"\x00\x00\x01\x06\x05\x01\x80"  # a NAL unit after the slice: inside the ciphertext
    for n in range(0, 40):
        slice_nal = b"\x65\x88\x00" + sframe.escape(bytes([0, 1, 2, 3] * n) + b"\x80", 1)
        frame = sps + b"\x00\x00\x00\x01" + slice_nal + sei
        out = sframe.protect(frame, ctx, 0, n)
        s = out.index(b"\x65\x88\x00")
        assert out.startswith(sps) and b"\x00\x00\x01" not in out[s:] and b"\x00\x00\x00" not in out[s:]
        assert b"\x06\x05\x01" not in out  # the SEI is encrypted too
        assert out[-1] == 0x80 and sframe.unprotect(out, ctx) == frame
        tampered = bytearray(out)
        tampered[-5] ^= 0x10
        with pytest.raises(sframe.SFrameError, match="does not authenticate"):
            sframe.unprotect(bytes(tampered), ctx)
    with pytest.raises(sframe.SFrameError):
        sframe.unprotect(out, sframe.Context(sframe.new_key()))  # the wrong key
    with pytest.raises(sframe.SFrameError, match="not SFrame-protected"):
        sframe.unprotect(frame[:-1] + b"\x81", ctx)  # a plain frame
    with pytest.raises(sframe.SFrameError):
        sframe.unprotect(frame, ctx)  # a plain frame that happens to end like a protected one


def access_units(package: bytes) -> list[bytes]:
    """The package's samples in Annex B form, as the server sends them."""
    with av.open(io.BytesIO(package)) as c:
        v = c.streams.video[0]
        bsf = av.BitStreamFilterContext("h264_mp4toannexb", v)
        return [bytes(q) for p in c.demux(v) if p.size for q in bsf.filter(p)]


def decode(units: list[bytes]) -> int:
    codec = av.CodecContext.create("h264", "r")
    n = 0
    for u in units:
        try:
            n += len(codec.decode(av.Packet(u)))
        except av.error.FFmpegError:
            pass
    return n


def test_package_decodes_only_with_the_key() -> None:
    key = sframe.new_key()
    out = io.BytesIO()
    info = encrypt_package(io.BytesIO(make_mp4(2)), out, key, kid=3)
    assert info["frames"] == 60 and info["kid"] == 3
    units = access_units(out.getvalue())
    ctx = sframe.Context(key)
    assert decode([sframe.unprotect(u, ctx) for u in units]) == 60
    assert decode(units) < 60  # the decoder cannot use the ciphertext (most frames are refused outright)
    with av.open(io.BytesIO(out.getvalue())) as c:
        assert [s.type for s in c.streams] == ["video"]  # audio is not in the package


def test_b_frames_cannot_be_encrypted() -> None:
    with pytest.raises(IPFSKitError, match="B-frames"):
        encrypt_package(io.BytesIO(make_mp4(1, b_frames=2, audio=False)), io.BytesIO(), sframe.new_key())


# -- the real server --------------------------------------------------------------------------------------
def tamper(package: bytes, index: int) -> bytes:
    """The package with one byte of frame ``index``'s ciphertext changed (no start code made)."""
    src, dst = io.BytesIO(package), io.BytesIO()
    with av.open(src) as inp, av.open(dst, "w", format="mp4") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        out.metadata["comment"] = inp.metadata["comment"]
        for i, p in enumerate(x for x in inp.demux(vin) if x.size):
            data = bytearray(bytes(p))
            if i == index:
                pos = len(data) - 20
                while data[pos] < 0x10:
                    pos -= 1
                data[pos] ^= 0x01
            q = av.Packet(bytes(data))
            q.pts, q.dts, q.duration, q.time_base, q.is_keyframe = p.pts, p.dts, p.duration, p.time_base, p.is_keyframe
            q.stream = vout
            out.mux(q)
    return dst.getvalue()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    base = tmp_path_factory.mktemp("sframe")
    repo = base / "repo"
    (base / "film.mp4").write_bytes(make_mp4(4, audio=True))
    # ingest with the CLI: encrypted in the CLI's process, the node only ever stores ciphertext
    out = subprocess.run([CLI, "--repo", str(repo), "add", "--encrypt-media", str(base / "film.mp4")],
                         capture_output=True, text=True, timeout=120, check=True).stdout.splitlines()
    assert out[0].startswith("added ") and "(120 frames encrypted, key id 0)" in out[0]
    cid, key = out[0].split()[1], out[1].removeprefix("media key: ")
    assert len(key) == 32
    cat = subprocess.run([CLI, "--repo", str(repo), "cat", cid], capture_output=True, timeout=60, check=True).stdout
    other = subprocess.run([CLI, "--repo", str(repo), "add", "-Q", "-"], input=tamper(cat, 20),
                           capture_output=True, timeout=60, check=True).stdout.decode().strip()
    server = start_server(repo)
    try:
        yield server, {"cid": cid, "key": key, "tampered": other}
    finally:
        server.stop()


def server_memory(pid: int) -> bytes:
    """Every readable private mapping of the server process (the test is its parent, so ptrace allows it)."""
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5].startswith("[v")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                chunks.append(mem.read(end - start))
            except (OSError, ValueError, OverflowError):
                pass
    return b"".join(chunks)


async def hub_errors(server: ServerProcess, sink: list[dict]) -> None:
    async with websockets.connect(f"ws://{server.host_port}/ws/notifications") as hub:
        await hub.send(json.dumps({"id": 1, "action": "subscribe", "notification_types": ["webrtc_error"]}))
        async for raw in hub:
            msg = json.loads(raw)
            if msg.get("type") == "webrtc_error":
                sink.append(msg["data"])


async def test_python_client_decrypts_with_the_key(srv) -> None:
    server, c = srv
    stream = await stream_content(server.url, c["cid"], tracks=("video",), loop=True, key=c["key"])
    try:
        assert stream.media["encryption"] == {"scheme": "sframe", "suite": 4, "kid": 0}
        assert stream.media["audio_codec"] is None  # the package carries video only
        frames = [await stream.next_frame(10) for _ in range(30)]
        assert all((f.width, f.height) == (640, 480) for f in frames)
        assert len(set(bytes(frames[-1].planes[0])[::97])) > 20  # testsrc's bars, not noise or grey
        assert stream.frames_rejected == 0 and stream.frames_decrypted >= 30
        server_stats = (await stream.stats())["server"]
        assert server_stats["tracks"]["video"]["mode"] == "passthrough"
        with pytest.raises(IPFSKitError, match="encrypted"):
            await stream.set_quality("low")  # the server cannot re-encode what it cannot decrypt
        # the key never reached the server: not in its memory, not in its log
        key = bytes.fromhex(c["key"])
        derived = sframe.derive(key, 0)[0]
        memory = await asyncio.to_thread(server_memory, server.proc.pid)
        assert len(memory) > 10_000_000 and c["cid"].encode() in memory  # the scan sees the server's data
        for secret in (key, derived, c["key"].encode(), c["key"].upper().encode()):
            assert secret not in memory
        assert c["key"] not in server.log.read_text()
    finally:
        await stream.close()


@pytest.mark.parametrize("key", [None, "00" * 16], ids=["no key", "wrong key"])
async def test_without_the_right_key_no_frame_decodes(srv, key) -> None:
    server, c = srv
    errors: list[dict] = []
    watcher = asyncio.create_task(hub_errors(server, errors))
    stream = await stream_content(server.url, c["cid"], tracks=("video",), loop=True, key=key)
    try:
        await until(lambda: stream.frames_rejected >= 30, 15, "30 frames refused")
        assert stream.frames_received == 0 and stream.frames_decrypted == 0
        code = "sframe_no_key" if key is None else "sframe_auth_failed"
        assert stream.decrypt_error.startswith(code)
        await until(lambda: any(e["pc_id"] == stream.pc_id for e in errors), 10, "webrtc_error on the hub")
        e = next(e for e in errors if e["pc_id"] == stream.pc_id)
        assert e["code"] == code and e["source"] == "viewer" and e["cid"] == c["cid"]
    finally:
        watcher.cancel()
        await stream.close()


async def test_a_tampered_frame_is_detected_and_reported(srv) -> None:
    server, c = srv
    errors: list[dict] = []
    watcher = asyncio.create_task(hub_errors(server, errors))
    stream = await stream_content(server.url, c["tampered"], tracks=("video",), key=c["key"])
    try:
        await until(lambda: stream.frames_rejected >= 1, 15, "the tampered frame refused")
        assert "frame 20 " in stream.decrypt_error and "does not authenticate" in stream.decrypt_error
        assert stream.frames_decrypted >= 20  # the frames before it were fine
        await until(lambda: any(e["pc_id"] == stream.pc_id for e in errors), 10, "webrtc_error on the hub")
        assert next(e for e in errors if e["pc_id"] == stream.pc_id)["code"] == "sframe_auth_failed"
    finally:
        watcher.cancel()
        await stream.close()


async def test_the_node_side_operation_returns_the_key_once_on_ws_and_http(srv) -> None:
    """add_encrypted_media (registry): over /ws from the MP4's bytes, over HTTP from a stored CID."""
    import base64

    import httpx

    server, c = srv
    data = make_mp4(1, audio=False)
    async with websockets.connect(f"ws://{server.host_port}/ws", max_size=None) as ws:
        await ws.recv()  # welcome
        await ws.send(json.dumps({"id": 1, "action": "add_encrypted_media", "content": base64.b64encode(data).decode(),
                                  "name": "clip.mp4", "kid": 9}))
        while (reply := json.loads(await asyncio.wait_for(ws.recv(), 30))).get("id") != 1:
            pass
    assert reply["type"] == "result", reply
    r = reply["result"]
    assert r["kid"] == 9 and r["frames"] == 30 and len(r["key"]) == 32
    stream = await stream_content(server.url, r["cid"], tracks=("video",), key=r["key"])
    try:
        assert stream.media["encryption"]["kid"] == 9
        assert (await stream.next_frame(10)).width == 640 and stream.frames_rejected == 0
    finally:
        await stream.close()
    async with httpx.AsyncClient(timeout=30) as http:
        plain = (await http.post(f"{server.url}/api/v0/add", files={"file": ("p.mp4", data)})).json()["Hash"]
        answer = (await http.post(f"{server.url}/api/v0/ipfs-kit/media/encrypt", params={"arg": plain})).json()
        assert len(answer["Key"]) == 32 and answer["Frames"] == 30 and answer["Hash"] != plain
        bad = await http.post(f"{server.url}/api/v0/ipfs-kit/media/encrypt", params={"arg": c["cid"]})
        assert bad.status_code == 400 and "already SFrame-encrypted" in bad.json()["Message"]  # a package
