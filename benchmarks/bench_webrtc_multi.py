"""Several streams in one WebRTC session, and end-to-end encrypted media (all on 127.0.0.1).

    .venv/bin/python benchmarks/bench_webrtc_multi.py [--seconds 5] [--streams 4]

All streams use ``quality=source`` (passthrough, never re-encoded): on a loaded machine the
adaptive controller would otherwise re-encode some of them and the comparison would
measure libx264, not the session layout.

- server CPU per stream: N tracks in one session (``open_streams``) vs N separate sessions
- server CPU per stream: encrypted passthrough (SFrame packages) vs plain passthrough of
  the same video (goal: within 1.2x)
- time to first decrypted frame in Chromium (player page with the key) vs time to first
  decoded frame of the same video unencrypted (median of 3 page loads each)

The Python client decodes every stream in this process on the same machine, so the
server's CPU is read from ``/proc/<pid>/stat`` over a window after every stream delivers
frames.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import start_server  # noqa: E402
from webrtc_media import make_mp4  # noqa: E402

from ipfs_kit_py.client.streaming import open_streams, stream_content  # noqa: E402
from ipfs_kit_py.node import Node  # noqa: E402
from ipfs_kit_py.webrtc.sframe_package import add_encrypted  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def window(pid: int, views: list, seconds: float) -> tuple[float, float]:
    """(server CPU per stream at 30 fps, slowest stream's frames/s) over ``seconds`` once all
    deliver. CPU is normalized by the frames delivered (CPU seconds per 30 frames), so that a
    loaded machine that delivers fewer frames does not look cheaper."""
    for v in views:
        await v.next_frame(15)
    await asyncio.sleep(1.0)  # past start-up: a measurement window, not a wait for a condition
    frames0 = [v.frames_received for v in views]
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    c1, t1 = cpu_seconds(pid), time.perf_counter()
    counts = [v.frames_received - f for v, f in zip(views, frames0, strict=True)]
    return (c1 - c0) / max(sum(counts), 1) * 30, min(counts) / (t1 - t0)


async def modes(streams: list) -> str:
    """How the server sent the video tracks at the end (passthrough unless loss made it re-encode)."""
    seen: dict[str, int] = {}
    for s in streams:
        for t in (await s.stats())["server"]["tracks"].values():
            seen[t["mode"]] = seen.get(t["mode"], 0) + 1
    return ", ".join(f"{n} {m}" for m, n in sorted(seen.items()))


async def one_session(url: str, cids: list[str], pid: int, seconds: float) -> tuple[float, float, str]:
    stream = await open_streams(url, [{"cid": c, "tracks": ["video"], "loop": True} for c in cids], quality="source")
    try:
        cpu, fps = await window(pid, [stream.streams[f"s{i}"] for i in range(len(cids))], seconds)
        return cpu, fps, await modes([stream])
    finally:
        await stream.close()


async def sessions(url: str, cids: list[str], pid: int, seconds: float,
                   key: str | None = None) -> tuple[float, float, str]:
    streams = [await stream_content(url, c, tracks=("video",), loop=True, datachannel=False, key=key, quality="source")
               for c in cids]
    try:
        cpu, fps = await window(pid, streams, seconds)
        return cpu, fps, await modes(streams)
    finally:
        for s in streams:
            await s.close()


def first_frame_in_chromium(url: str, cid: str, key: str | None, runs: int = 3) -> float:
    from playwright.sync_api import sync_playwright
    from test_webrtc_browser import FLAGS

    times = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            for _ in range(runs):
                page = b.new_page()
                t = time.perf_counter()
                page.goto(f"{url}/webrtc/player?cid={cid}" + (f"#key={key}" if key else ""))
                cond = "window.ipfsPlayer.sframe.decrypted > 0 && " if key else ""
                page.wait_for_function(f"{cond}window.ipfsPlayer.stats().then(s => s.framesDecoded > 0)",
                                       timeout=20000, polling=10)
                times.append(time.perf_counter() - t)
                page.close()
        finally:
            b.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--streams", type=int, default=4)
    args = ap.parse_args()
    n = args.streams
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"

        async def ingest() -> tuple[list[str], list[str], str]:
            node = Node(repo)
            try:
                plain, enc = [], []
                key = None
                for i in range(n):  # distinct files (noise differs), 640x480 30 fps ~1 Mbit/s
                    data = make_mp4(8, bitrate=1_000_000, audio=False, noise=i + 1)
                    plain.append(str((await node.model.add_bytes(data, f"v{i}.mp4")).cid))
                    r = await add_encrypted(node.model, io.BytesIO(data), f"e{i}.mp4",
                                            key=bytes.fromhex(key) if key else None)
                    key = str(r["key"])
                    enc.append(str(r["cid"]))
                assert key is not None
                return plain, enc, key
            finally:
                node.close()

        plain, enc, key = asyncio.run(ingest())
        srv = start_server(repo, env={"IPFS_KIT_WEBRTC_MAX_SESSIONS": "64", "IPFS_KIT_WEBRTC_MAX_SESSIONS_PER_ADDRESS": "0",
                                      "IPFS_KIT_WEBRTC_MAX_SESSIONS_PER_CLIENT": "0"})
        try:
            pid = srv.proc.pid
            print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

            async def cpu() -> None:
                one, one_fps, one_modes = await one_session(srv.url, plain, pid, args.seconds)
                many, many_fps, many_modes = await sessions(srv.url, plain, pid, args.seconds)
                print(f"{n} tracks in one session: {one * 100:.1f}% of a core per 30 fps stream (slowest {one_fps:.1f} fps; "
                      f"{one_modes}); {n} sessions: {many * 100:.1f}% (slowest {many_fps:.1f} fps; {many_modes}); "
                      f"ratio {one / many:.2f}")
                e, e_fps, e_modes = await sessions(srv.url, enc, pid, args.seconds, key=key)
                p, p_fps, p_modes = await sessions(srv.url, plain, pid, args.seconds)
                print(f"encrypted passthrough: {e * 100:.1f}% of a core per 30 fps stream (slowest {e_fps:.1f} fps; "
                      f"{e_modes}); plain: {p * 100:.1f}% (slowest {p_fps:.1f} fps; {p_modes}); "
                      f"ratio {e / p:.2f} (goal <= 1.2)")

            asyncio.run(cpu())
            if os.path.exists(CHROMIUM):
                t_enc = first_frame_in_chromium(srv.url, enc[0], key)
                t_plain = first_frame_in_chromium(srv.url, plain[0], None)
                print(f"time to first decrypted frame in Chromium: {t_enc * 1000:.0f} ms (median of 3); "
                      f"first decoded frame, same video unencrypted: {t_plain * 1000:.0f} ms; "
                      f"ratio {t_enc / t_plain:.2f}")
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
