"""Encrypted ingest: re-package an H.264 MP4 so that every frame is SFrame-protected.

The package is an ordinary MP4 (its own CID): the video track's codec parameters
(SPS/PPS in ``avcC``) and timing stay clear, each sample is the original access unit
protected as ``ipfs_kit_py.sframe`` describes (CTR = the frame's index, KID as given),
and the container's ``comment`` tag says ``ipfs-kit sframe/1 suite=4 kid=K`` so
that the server knows to pass it through untouched. Audio is dropped (the server
could only stream it by decoding it). The key is the caller's: this module never
stores it.
"""

from __future__ import annotations

import asyncio
import tempfile
from typing import IO

import av

from .. import sframe
from ..errors import InvalidArgument, NotMedia
from ..model import AddOptions, IPFSModel
from .media import MediaFile, probe


def _nal_length_size(extradata: bytes | None) -> int:
    if not extradata or extradata[0] != 1 or len(extradata) < 5:
        raise InvalidArgument("the video must be H.264 in MP4/MOV form (avcC parameters)")
    return (extradata[4] & 3) + 1


def split_avcc(data: bytes, size: int) -> list[bytes]:
    nals, pos = [], 0
    while pos + size <= len(data):
        n = int.from_bytes(data[pos:pos + size], "big")
        pos += size
        if pos + n > len(data):
            raise InvalidArgument("truncated H.264 sample")
        nals.append(data[pos:pos + n])
        pos += n
    return nals


def protect_sample(data: bytes, size: int, ctx: sframe.Context, kid: int, ctr: int) -> bytes:
    """One AVCC sample -> the same sample with its slice data protected (as ``sframe.protect``
    would protect its Annex B form)."""
    nals = split_avcc(data, size)
    i = next((k for k, n in enumerate(nals) if n and n[0] & 0x1F in sframe.VCL), None)
    if i is None or len(nals[i]) <= sframe.CLEAR:
        raise InvalidArgument(f"frame {ctr} has no slice to protect")
    metadata = nals[i][:sframe.CLEAR]
    plaintext = nals[i][sframe.CLEAR:] + b"".join(sframe.START + n for n in nals[i + 1:])
    sealed = ctx.seal(kid, ctr, metadata, plaintext)
    protected = metadata + sframe.escape(sealed, sframe._trailing_zeros(metadata)) + bytes([sframe.TRAILER])
    return b"".join(len(n).to_bytes(size, "big") + n for n in [*nals[:i], protected])


def encrypt_package(src: MediaFile, dst: IO[bytes], key: bytes, kid: int = 0) -> dict[str, object]:
    """Write the encrypted package of the MP4 in ``src`` to ``dst`` (blocking); returns
    ``{"frames", "kid", "media"}``. InvalidArgument unless it is H.264 without B-frames."""
    try:
        info = probe(src)
    except NotMedia as e:
        raise InvalidArgument(str(e)) from None
    if info.encryption is not None:
        raise InvalidArgument("the media is already SFrame-encrypted (an ipfs-kit sframe package)")
    if not info.passthrough:
        raise InvalidArgument("encrypted media must be H.264 without B-frames (baseline profile); "
                              "re-encode it first (the server cannot transcode what it cannot decrypt)")
    src.seek(0)
    ctx = sframe.Context(key)
    frames = 0
    with av.open(src, mode="r") as inp, av.open(dst, mode="w", format="mp4") as out:
        vin = inp.streams.video[0]
        size = _nal_length_size(vin.codec_context.extradata)
        vout = out.add_stream_from_template(vin)
        out.metadata["comment"] = sframe.PackageInfo("sframe", sframe.SUITE, kid).tag()
        for packet in inp.demux(vin):
            if packet.size == 0 or packet.pts is None:
                continue
            sealed = av.Packet(protect_sample(bytes(packet), size, ctx, kid, frames))
            sealed.pts, sealed.dts, sealed.duration = packet.pts, packet.dts, packet.duration
            sealed.time_base = packet.time_base
            sealed.is_keyframe = packet.is_keyframe
            sealed.stream = vout
            out.mux(sealed)
            frames += 1
    return {"frames": frames, "kid": kid, "media": info.to_dict()}


async def add_encrypted(model: IPFSModel, src: MediaFile, name: str = "", *, kid: int = 0, pin: bool = True,
                        key: bytes | None = None) -> dict[str, object]:
    """Encrypt the MP4 in ``src`` and add the package to ``model``: ``{"cid", "key", "kid", "frames",
    "size", "name"}``. The key (new unless given) is returned, never stored or logged; the
    package goes through a temporary file, never whole in memory."""
    if not 0 <= kid < 1 << 64:
        raise InvalidArgument("kid must be a 64-bit unsigned integer")
    base_key = key or sframe.new_key()
    with tempfile.TemporaryFile() as tmp:
        info = await asyncio.to_thread(encrypt_package, src, tmp, base_key, kid)
        tmp.seek(0)
        session = model.begin_add(AddOptions(pin=pin))
        session.start_file(name)
        while chunk := await asyncio.to_thread(tmp.read, 1 << 20):
            await session.write(chunk)
        await session.finish_file()
        result = (await session.commit())[-1]
    return {"cid": str(result.cid), "name": result.name, "size": result.size, "key": base_key.hex(),
            "kid": kid, "frames": info["frames"]}
