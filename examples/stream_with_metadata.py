"""The seed's hybrid pattern: a WebRTC stream and the content's metadata over
WebSocket, started at the same time.

    python examples/stream_with_metadata.py http://127.0.0.1:8000 VIDEO_CID [--frames 30]
"""

import argparse
import asyncio

from ipfs_kit_py import ice
from ipfs_kit_py.client.hybrid import stream_with_metadata


async def main_async(url: str, cid: str, frames: int) -> None:
    both = await stream_with_metadata(cid, url, tracks=("video",))
    md = both.metadata
    print(f"metadata: {md['name']} {md['content_type']} {md['size']} bytes {md['user']}")
    n, size = 0, ""
    async for frame in both.stream:
        n, size = n + 1, f"{frame.width}x{frame.height}"
        if n >= frames:
            break
    print(f"decoded {n} frames of {size}")
    await both.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("cid")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    ice.apply_settings()  # loopback-only ICE when IPFS_KIT_WEBRTC_ICE_HOSTS says so
    asyncio.run(asyncio.wait_for(main_async(args.url, args.cid, args.frames), args.timeout))


if __name__ == "__main__":
    main()
