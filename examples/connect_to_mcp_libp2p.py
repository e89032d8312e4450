"""The seed's libp2p client, as written: fetch content straight from a server's peer
over ``/ipfs-kit/mcp/1.0.0``.

    python examples/connect_to_mcp_libp2p.py http://127.0.0.1:8000 CID

The server's peer ID and address come from its ``id`` (``HTTPClient.id()``).
"""

import argparse
import asyncio
import base64
import json

from ipfs_kit_py.client import HTTPClient

CID = "QmSomeContentIdentifier"


async def connect_to_mcp_libp2p(peer_id, multiaddr):
    # Create libp2p host
    from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer

    peer = IPFSLibp2pPeer(role="leecher")

    # Connect to MCP server peer
    await peer.connect_to_peer(peer_id, multiaddr)

    # Open stream with specific protocol
    stream = await peer.new_stream(peer_id, "/ipfs-kit/mcp/1.0.0")

    # Send request
    request = {
        "action": "get_content",
        "cid": CID
    }
    await stream.write(json.dumps(request).encode())

    # Read response
    response_data = await stream.read(10 * 1024 * 1024)  # 10MB max
    response = json.loads(response_data.decode())

    # Process response...
    if "error" in response:
        print(f"error: {response['error']}")
    else:
        print(f"received {response['size']} bytes of {response['cid']}: {base64.b64decode(response['content'])[:60]!r}")

    # Close the stream when done
    await stream.close()
    await peer.stop()
    return response


async def fetch(url: str) -> dict:
    async with HTTPClient(url) as client:
        ident = await client.id()
    return await connect_to_mcp_libp2p(ident.id, ident.addresses[0])


def main() -> None:
    global CID
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="the server's HTTP address, to learn its peer ID and multiaddr")
    ap.add_argument("cid")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    CID = args.cid
    response = asyncio.run(asyncio.wait_for(fetch(args.url), args.timeout))
    raise SystemExit(1 if "error" in response else 0)


if __name__ == "__main__":
    main()
