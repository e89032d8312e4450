"""The seed's server-side setup (``_init_webrtc``, ``initialize_websockets``,
``initialize_libp2p``) as a small custom server built from ipfs_kit_py's parts.

    python examples/server_components.py REPO_DIR

It builds the components the way the seed shows, then proves each one works:
a second peer asks the server's ``/ipfs-kit/mcp/1.0.0`` handler for content over
libp2p. (``python -m ipfs_kit_py.mcp.server`` is the full server; this is for
embedding the pieces in your own.)
"""

import argparse
import asyncio
import json
import logging

from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer
from ipfs_kit_py.mcp.ws_hub import WebSocketManager
from ipfs_kit_py.node import Node
from ipfs_kit_py.p2p import mcp_protocol

logger = logging.getLogger("example")

try:
    from ipfs_kit_py.webrtc.manager import WebRTCStreamingManager

    HAVE_WEBRTC = True
except ImportError:
    HAVE_WEBRTC = False


class MCPServer:
    def __init__(self, repo: str, role: str = "master") -> None:
        self.node = Node(repo)
        self.ipfs_kit = self.node.model  # the one operation set
        self.role = role
        self.config = {"bootstrap_peers": []}

    def _init_webrtc(self):
        """Initialize WebRTC streaming manager if dependencies are available."""
        if 'HAVE_WEBRTC' in globals() and HAVE_WEBRTC:
            logger.info("WebRTC dependencies available, initializing WebRTC support")
            try:
                # Create WebRTC streaming manager with the IPFS client
                self.webrtc_manager = WebRTCStreamingManager(ipfs_api=self.ipfs_kit)
                logger.info("WebRTC streaming manager initialized successfully")
                return True
            except Exception as e:
                logger.warning(f"Failed to initialize WebRTC streaming manager: {e}")
        else:
            logger.info("WebRTC dependencies not available. WebRTC functionality will be disabled.")

        return False

    def initialize_websockets(self):
        self.websocket_manager = WebSocketManager(self.node)  # WebSocketManager() alone opens the default repo

        # Register WebSocket routes (the full server serves these with FastAPI)
        self.websocket_routes = {
            "/ws": self.handle_general_websocket,
            "/ws/notifications": self.handle_notification_websocket,
            "/ws/webrtc": self.handle_webrtc_websocket
        }

    async def handle_general_websocket(self, websocket):
        await self.websocket_manager.serve(websocket, "general")

    async def handle_notification_websocket(self, websocket):
        await self.websocket_manager.serve(websocket, "notifications")

    async def handle_webrtc_websocket(self, websocket):
        from ipfs_kit_py.webrtc.signaling import handle_websocket

        await handle_websocket(websocket, self.webrtc_manager, self.node)

    def initialize_libp2p(self):
        """Initialize libp2p peer for direct P2P communication."""
        try:
            from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer

            # Create libp2p peer with appropriate role
            self.libp2p_peer = IPFSLibp2pPeer(
                role=self.role,
                bootstrap_peers=self.config.get("bootstrap_peers", [])
            )

            # Start discovery
            self.libp2p_peer.start_discovery()

            # Register protocol handlers
            self.libp2p_peer.register_protocol_handler(
                "/ipfs-kit/mcp/1.0.0",
                self.handle_mcp_protocol
            )

            logger.info(f"libp2p peer initialized with ID: {self.libp2p_peer.get_id()}")
            return True
        except ImportError:
            logger.info("libp2p support not available. P2P functionality will be disabled.")
            self.libp2p_peer = None
            return False

    async def handle_mcp_protocol(self, stream):
        """One JSON request in, one JSON answer out, through the shared operation table."""
        await mcp_protocol.handle(stream, self.ipfs_kit, allowlist=[])


async def ask_over_libp2p(server: MCPServer, cid: str) -> dict:
    async with IPFSLibp2pPeer(role="leecher") as client:
        await client.connect_to_peer(server.libp2p_peer.get_id(), server.libp2p_peer.get_addrs()[0])
        stream = await client.new_stream(server.libp2p_peer.get_id(), "/ipfs-kit/mcp/1.0.0")
        await stream.write(json.dumps({"action": "get_content", "cid": cid}).encode())
        answer = json.loads(await stream.read(10 * 1024 * 1024))
        await stream.close()
        return answer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = MCPServer(args.repo)
    try:
        print("webrtc:", server._init_webrtc())
        server.initialize_websockets()
        print("websocket routes:", sorted(server.websocket_routes))
        print("libp2p:", server.initialize_libp2p())
        added = asyncio.run(server.ipfs_kit.add_bytes(b"hello from the custom server\n", "hello.txt"))
        answer = asyncio.run(asyncio.wait_for(ask_over_libp2p(server, str(added.cid)), 30))
        print(f"libp2p mcp answered {answer['size']} bytes for {answer['cid']}")
    finally:
        if server.libp2p_peer is not None:
            server.libp2p_peer.stop_blocking()
        server.node.close()


if __name__ == "__main__":
    main()
