"""The seed's import path for the libp2p peer (see ``ipfs_kit_py.p2p.peer``)."""

from .p2p.peer import IPFSLibp2pPeer, PeerError
from .p2p.stream import IncompleteReadError, P2PStream, StreamResetError

__all__ = ["IPFSLibp2pPeer", "IncompleteReadError", "P2PStream", "PeerError", "StreamResetError"]
