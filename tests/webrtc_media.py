"""Test media for the WebRTC tests, generated with PyAV (FFmpeg's testsrc and sine sources)."""

from __future__ import annotations

import fractions
import io

import av


def make_mp4(seconds: float = 3.0, *, fps: int = 30, width: int = 640, height: int = 480, gop: int = 15,
             bitrate: int = 1_500_000, audio: bool = True, codec: str = "libx264", b_frames: int = 0,
             qp: int | None = None, noise: int = 0) -> bytes:
    """An MP4: H.264 (baseline, no B-frames unless asked) with short GOPs, plus AAC audio.
    ``qp`` (constant quantizer) replaces the bitrate; ``noise`` (0-100) makes every frame
    different: both make large files."""
    out_buf = io.BytesIO()
    out = av.open(out_buf, "w", format="mp4")
    v = out.add_stream(codec, rate=fps)
    v.width, v.height, v.pix_fmt = width, height, "yuv420p"
    if qp is None:
        v.bit_rate = bitrate
    v.codec_context.gop_size = gop
    v.codec_context.max_b_frames = b_frames
    if codec == "libx264":
        v.codec_context.profile = "Baseline" if not b_frames else "High"
        v.codec_context.options = {"preset": "ultrafast", "bf": str(b_frames), "keyint_min": str(gop),
                                   **({"qp": str(qp)} if qp is not None else {})}
    a = out.add_stream("aac", rate=48000) if audio else None
    if a is not None:
        a.layout = "stereo"

    graph = f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}"
    src = av.open(graph + (f",noise=alls={noise}:allf=t" if noise else ""), format="lavfi")
    for i, frame in enumerate(src.decode(video=0)):
        f = frame.reformat(format="yuv420p")
        f.pts, f.time_base = i, fractions.Fraction(1, fps)
        f.pict_type = av.video.frame.PictureType.NONE  # lavfi marks every frame I: let the GOP decide
        for p in v.encode(f):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    src.close()
    if a is not None:
        asrc = av.open(f"sine=frequency=440:sample_rate=48000:duration={seconds}", format="lavfi")
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        for frame in asrc.decode(audio=0):
            for r in resampler.resample(frame):
                for p in a.encode(r):
                    out.mux(p)
        for p in a.encode(None):
            out.mux(p)
        asrc.close()
    out.close()
    return out_buf.getvalue()


if __name__ == "__main__":
    import time

    t = time.perf_counter()
    data = make_mp4()
    print(len(data), "bytes in", round(time.perf_counter() - t, 2), "s")
    c = av.open(io.BytesIO(data))
    print(c.streams.video[0].codec_context.profile, c.streams.video[0].codec_context.has_b_frames,
          [s.codec_context.name for s in c.streams])


def add_to_repo(repo, items: dict[str, bytes], metadata=None) -> dict[str, str]:
    """Add ``items`` (name -> bytes) to the repo through the model, before its server starts
    (a stopped server releases the repo); returns name -> CID. ``metadata(cids)`` may return
    {name: values} to store as the metadata of those items."""
    import asyncio

    from ipfs_kit_py.node import Node

    async def run() -> dict[str, str]:
        node = Node(repo)
        try:
            cids = {name: str((await node.model.add_bytes(data, name)).cid) for name, data in items.items()}
            for name, values in (metadata(cids) if metadata else {}).items():
                await node.model.metadata_set(cids[name], values)
            return cids
        finally:
            node.close()

    return asyncio.run(run())


async def until(pred, timeout: float, what: str, interval: float = 0.05):
    """Wait for ``pred()`` (sync or async) to return something truthy; AssertionError after ``timeout``."""
    import asyncio
    import inspect

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = pred()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(interval)
