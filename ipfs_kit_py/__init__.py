"""ipfs_kit_py: IPFS content stored as Kubo stores it, served over HTTP, WebSockets, WebRTC and libp2p."""

__version__ = "0.1.0"
