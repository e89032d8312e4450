"""The server: app factory and ``python -m ipfs_kit_py.mcp.server``.

Every channel registers its routes on one FastAPI app through a
``register(app, node)`` function in its own module; the channel services
start and stop with the app's lifespan.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from .. import __version__
from ..config import Settings, default_repo_path, load_settings
from ..errors import IPFSKitError
from ..node import Node
from .read_context import ReadContext

log = logging.getLogger("ipfs_kit_py.server")

# Channel modules, each with ``register(app, node)``. A missing optional
# channel (not yet built, or its dependency absent) is skipped with a log line.
CHANNELS = [
    "ipfs_kit_py.mcp.http_api",
    "ipfs_kit_py.mcp.gateway",
    "ipfs_kit_py.mcp.ws_hub",
    "ipfs_kit_py.webrtc.signaling",
    "ipfs_kit_py.p2p.service",
    "ipfs_kit_py.transfer",
]


class SameOriginAPI:
    """Refuse cross-origin browser requests to every ``/api/v0/`` route, whichever
    module registered it (CSRF: a page elsewhere must not drive this node)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/v0/"):
            from fastapi import Request

            from .http_api import _cross_origin_refused, same_origin

            request = Request(scope)
            if not same_origin(request):
                await _cross_origin_refused(request)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(node: Node) -> FastAPI:
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
    )
    app.state.node = node
    app.add_middleware(SameOriginAPI)
    app.add_middleware(ReadContext)  # offline=, timeout=, and reads stop when the client goes away
    import importlib

    for name in CHANNELS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and (e.name == name or name.startswith(e.name)):
                log.debug("channel %s not available", name)
                continue
            raise
        module.register(app, node)
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ipfs_kit_py.mcp.server", description="Run the ipfs_kit_py server.")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port to bind (default 8000; 0 picks a free one)")
    p.add_argument("--repo", default=None, help="repo directory (default $IPFS_KIT_PATH or ~/.ipfs_kit)")
    p.add_argument("--debug", action="store_true", default=None, help="verbose logging")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.NAME=VALUE",
        help="any setting, e.g. --set libp2p.enabled=false (see docs/configuration.md)",
    )
    return p.parse_args(argv)


def settings_from_args(args: argparse.Namespace, repo: str | os.PathLike[str]) -> Settings:
    overrides: dict[str, dict[str, Any]] = {"server": {"host": args.host, "port": args.port, "debug": args.debug}}
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--set expects SECTION.NAME=VALUE, got {item!r}")
        overrides.setdefault(section, {})[name] = value
    return load_settings(repo, overrides)


async def serve(node: Node, *, ready: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (uvicorn handles both and shuts down cleanly)."""
    s = node.settings.server
    if not is_loopback(s.host):
        log.warning("binding to %s: the API has no authentication yet, anyone who can reach it controls this node", s.host)
    app = create_app(node)
    config = uvicorn.Config(
        app, host=s.host, port=s.port, log_level="debug" if s.debug else "info",
        ws_max_size=node.settings.websocket.max_message,
        ws_ping_interval=node.settings.websocket.ping_interval,
        ws_ping_timeout=node.settings.websocket.ping_timeout,
        ws_per_message_deflate=node.settings.websocket.compression,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    node.repo.lock()
    try:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            sock = server.servers[0].sockets[0]
            host, port = sock.getsockname()[:2]
            host = f"[{host}]" if ":" in host else host
            node.api_url = f"http://{host}:{port}"
            node.repo.write_api(node.api_url)
            log.info("ipfs_kit_py %s serving repo %s at %s", __version__, node.repo.path, node.api_url)
            if ready is not None:
                ready.set()
        await task
    finally:
        node.close()


def _sigterm(signum: int, frame: object) -> None:
    # uvicorn re-raises the SIGTERM it handled after its clean shutdown; with the default
    # disposition that kills the process before serve()'s finally (repo unlock, api file
    # removal, event sequence saved) runs. Make it a KeyboardInterrupt, handled like SIGINT.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    repo = args.repo or default_repo_path()
    try:
        settings = settings_from_args(args, repo)
    except IPFSKitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if settings.server.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        node = Node(repo, settings)
    except IPFSKitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(node))
    except IPFSKitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
