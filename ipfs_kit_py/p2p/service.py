"""The server's libp2p channel: starts the node's peer and serves the three
ipfs-kit protocols over the model; HTTP routes for transfers and peers.

``register(app, node)`` adds the service as ``node.services["libp2p"]`` when
``settings.libp2p.enabled`` (``IPFS_KIT_LIBP2P_ENABLED=false`` turns it off).
``/api/v0/id`` reads ``get_id()``, ``get_addrs()`` and ``get_public_key()``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..errors import ChannelUnavailable, InvalidArgument, IPFSKitError
from ..events import NotificationType
from ..node import Node
from . import mcp_protocol
from .peer import IPFSLibp2pPeer
from .stream import P2PStream

log = logging.getLogger(__name__)

SERVING_ROLES = ("master", "worker")


class Libp2pService:
    def __init__(self, node: Node) -> None:
        self.node = node
        s = node.settings.libp2p
        self.settings = s
        self.peer = IPFSLibp2pPeer(
            role=s.role, bootstrap_peers=s.bootstrap_peers, listen_addrs=s.listen_addrs,
            identity_dir=node.repo.path, enable_mdns=s.mdns,
            max_streams_per_peer=s.max_streams_per_peer, on_event=self._on_peer_event,
        )
        if s.role in SERVING_ROLES:
            self.peer.register_protocol_handler(mcp_protocol.PROTOCOL_ID, self._handle_mcp)

    # -- what /api/v0/id reads ------------------------------------------------------------
    def get_id(self) -> str:
        return self.peer.get_id()

    def get_addrs(self) -> list[str]:
        return self.peer.get_addrs()

    def get_public_key(self) -> bytes:
        return self.peer.key_pair.public_key.serialize()

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await self.peer.start()
        self.peer.start_discovery()
        log.info("libp2p peer %s listening on %s", self.get_id(), ", ".join(self.get_addrs()))

    async def stop(self) -> None:
        await self.peer.stop()

    def _on_peer_event(self, type_: str, data: dict[str, Any]) -> None:
        self.node.bus.publish(NotificationType(type_), data)

    # -- protocol handlers ------------------------------------------------------------------
    async def _handle_mcp(self, stream: P2PStream) -> None:
        await mcp_protocol.handle(stream, self.node.model, set(self.settings.mcp_allowlist))

    # -- connections ------------------------------------------------------------------------
    async def connect(self, addr: str) -> str:
        from .peer import split_peer_addr

        pid, _ = split_peer_addr(None, addr)
        await self.peer.connect_to_peer(pid, addr)
        return pid


def _error(e: Exception) -> Response:
    status = e.status if isinstance(e, IPFSKitError) else 500
    return JSONResponse({"Message": str(e), "Code": 0, "Type": "error"}, status_code=status)


def _svc(node: Node) -> Libp2pService:
    svc = node.services.get("libp2p")
    if svc is None:
        raise ChannelUnavailable("libp2p is disabled on this node (libp2p.enabled=false)")
    return svc


def register(app: FastAPI, node: Node) -> None:
    if node.settings.libp2p.enabled:
        node.add_service("libp2p", Libp2pService(node))

    @app.post("/api/v0/swarm/connect", tags=["libp2p"], summary="Connect to a peer: arg=<multiaddr>/p2p/<peer-id>")
    async def swarm_connect(request: Request) -> Response:
        try:
            addrs = request.query_params.getlist("arg")
            if not addrs:
                raise InvalidArgument("argument 'address' is required")
            svc = _svc(node)
            done = []
            for a in addrs:
                try:
                    pid = await svc.connect(a)
                except ValueError as e:
                    raise InvalidArgument(str(e)) from None
                except ConnectionError as e:
                    raise ChannelUnavailable(str(e)) from None
                done.append(f"connect {pid} success")
            return JSONResponse({"Strings": done})
        except Exception as e:  # noqa: BLE001
            return _error(e)

    @app.post("/api/v0/swarm/peers", tags=["libp2p"], summary="Connected peers")
    async def swarm_peers() -> Response:
        try:
            svc = _svc(node)
            return JSONResponse({"Peers": [{"Peer": p} for p in svc.peer.get_connected_peers()]})
        except Exception as e:  # noqa: BLE001
            return _error(e)

