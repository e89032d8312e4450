"""The seed's "Connect with ipfs_kit_py client" block, completed: notifications,
WebRTC streaming and a libp2p transfer through IPFSSimpleAPI.

    python examples/simple_api.py http://127.0.0.1:8000 VIDEO_CID TARGET_MULTIADDR
"""

import argparse
import asyncio

from ipfs_kit_py import ice
from ipfs_kit_py.high_level_api import IPFSSimpleAPI


async def main_async(url: str, cid: str, target_peer: str) -> None:
    # Connect to MCP server
    api = IPFSSimpleAPI(mcp_url=url)

    # Test WebSocket notifications
    await api.subscribe_to_notifications(callback=print)

    # Test WebRTC streaming
    stream = await api.stream_content(cid)
    async for frame in stream:
        print(f"first frame: {frame.width}x{frame.height}")
        break

    # Test libp2p direct transfer
    result = await api.transfer_via_libp2p(cid, target_peer)
    print(f"transferred {result.bytes} bytes in {result.blocks} blocks to {result.peer}, pinned={result.pinned}")

    await asyncio.sleep(1.0)  # let the transfer's notifications arrive (printed by the callback)
    await api.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("cid")
    ap.add_argument("target_peer", help="the receiving node's /p2p/ multiaddr")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    ice.apply_settings()
    asyncio.run(asyncio.wait_for(main_async(args.url, args.cid, args.target_peer), args.timeout))


if __name__ == "__main__":
    main()
