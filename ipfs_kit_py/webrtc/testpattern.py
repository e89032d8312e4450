"""The built-in test pattern: a short H.264 clip (FFmpeg's testsrc) the node can
always stream, so a WebRTC check works on an empty node.

It is real content: encoded once with PyAV, added to the store unpinned (GC may
remove it; it is made again when next asked for) and streamed through the same
pipeline as any video.
"""

from __future__ import annotations

import asyncio
import fractions
import io

import av

from ..content.cid import CID
from ..model import AddOptions, IPFSModel

NAME = "ipfs-kit-test-pattern.mp4"
_lock = asyncio.Lock()
_cid: CID | None = None


def make_test_pattern(seconds: float = 2.0, width: int = 320, height: int = 240, fps: int = 30) -> bytes:
    """H.264 baseline (no B-frames, a keyframe every half second) in MP4: passthrough-ready."""
    buf = io.BytesIO()
    out = av.open(buf, "w", format="mp4")
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.gop_size = fps // 2
    stream.codec_context.max_b_frames = 0
    stream.codec_context.profile = "Baseline"
    stream.codec_context.options = {"preset": "ultrafast", "bf": "0"}
    src = av.open(f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}", format="lavfi")
    try:
        for i, frame in enumerate(src.decode(video=0)):
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = i, fractions.Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    finally:
        src.close()
        out.close()
    return buf.getvalue()


async def test_pattern_cid(model: IPFSModel) -> str:
    """The CID of the test pattern in this node's store, encoding and adding it if needed."""
    global _cid
    async with _lock:
        if _cid is None or not model.store.has(_cid):
            data = await asyncio.to_thread(make_test_pattern)
            _cid = (await model.add_bytes(data, NAME, AddOptions(pin=False))).cid
        return str(_cid)
