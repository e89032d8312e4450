"""The composition root: the one place that wires the node's channels into the app.

::

    clients:   Kubo RPC clients  browsers  ipfs-kit CLI  IPFSSimpleAPI   libp2p peers (Kubo too)
                   | HTTP            | WS/WebRTC  |           |              | libp2p
    channels:  server/http_api  server/gateway  server/ws_hub  webrtc/signaling  p2p/mcp_protocol ...
                   \\________ generated from registry.py (typed operations + Caller scopes) ________/
    model:     model.py (IPFSModel)        services: p2p/service.py (libp2p), transfer.py
    storage:   content/ (UnixFS, blockstore, index, CAR)            events: events.py -> every channel

Each channel module is imported here by name; ``register(app, node)`` adds its
routes (or, for services, registers it on the node), and the services start and
stop with the app's lifespan. See ``docs/architecture.md``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from . import __version__
from .ipns import gateway as ipns_gateway
from .ipns import service as ipns_service
from .modelcontext import http as mcp_http
from .node import Node
from .p2p import pubsub as pubsub_service
from .p2p import service as libp2p_service
from .routing import http_server as routing_v1
from .server import console, gateway, http_api, ws_hub
from .server.guard import AccessGuard, AccessPolicy
from .server.read_context import ReadContext
from .server.server import access_policy


def _webrtc() -> object | None:
    """WebRTC signaling (``/ws/webrtc``); absent when aiortc/PyAV are not installed."""
    try:
        from .webrtc import signaling
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("aiortc", "av", "aioice"):
            return None
        raise
    return signaling


def create_app(node: Node, policy: AccessPolicy | None = None) -> FastAPI:
    """The app: the access guard (server/guard.py) in front of every channel."""
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    app = FastAPI(
        title="ipfs_kit_py",
        version=__version__,
        description="IPFS content over HTTP (Kubo-compatible RPC and gateway), WebSockets, WebRTC and libp2p.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: server/console.py serves them with the package's assets
        redoc_url=None,
    )
    app.state.node = node
    app.state.access_policy = policy = policy or access_policy(node)
    app.add_middleware(ReadContext)  # offline=, timeout=, and reads stop when the client goes away
    app.add_middleware(AccessGuard, policy=policy)  # outermost: refuses before anything runs
    http_api.register(app, node)  # every /api/v0 route, generated from the registry
    gateway.register(app, node)
    ipns_gateway.register(app, node)  # /ipns/: resolve, then as /ipfs/
    ws_hub.register(app, node)
    signaling = _webrtc()
    if signaling is not None:
        signaling.register(app, node)  # type: ignore[attr-defined]
    console.register(app, node)  # the web console at /, offline /docs and /redoc, 404 pages
    libp2p_service.register(node)  # a service: no routes; its operations are in the registry
    ipns_service.register(node)  # keys and IPNS names (after libp2p: it uses the DHT)
    pubsub_service.register(node)  # gossipsub on the libp2p peer
    routing_v1.register(app, node)  # /routing/v1 delegated routing (public; IPNS records by GET/PUT)
    mcp_http.register(app, node)  # Model Context Protocol at /mcp, generated from the registry
    return app
