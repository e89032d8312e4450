"""The seed's fallback chain: have one node push content to another, libp2p first,
then WebSocket, then HTTP, and show how each channel did.

    python examples/transfer_content.py http://SOURCE:8000 CID http://TARGET:8001
"""

import argparse
import asyncio

from ipfs_kit_py.errors import TransferError
from ipfs_kit_py.high_level_api import IPFSSimpleAPI


async def transfer_content(source, cid, target_peer):
    """Transfer content with protocol fallback chain (run by the source node)."""
    async with IPFSSimpleAPI(mcp_url=source) as api:
        try:
            report = await api.transfer_content(cid, target_peer)
        except TransferError as e:
            for attempt in e.attempts:
                print(f"  {attempt.channel:9} failed: {attempt.error}")
            return False
    for attempt in report.attempts:
        status = "carried it" if attempt.ok else f"failed: {attempt.error}"
        print(f"  {attempt.channel:9} {status} ({attempt.seconds:.2f} s)")
    print(f"transferred {report.cid} over {report.channel} ({report.bytes} bytes)")
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="URL of the node that has the content")
    ap.add_argument("cid")
    ap.add_argument("target", help="the receiving node: URL, peer ID or /p2p/ multiaddr")
    args = ap.parse_args()
    raise SystemExit(0 if asyncio.run(transfer_content(args.source, args.cid, args.target)) else 1)


if __name__ == "__main__":
    main()
