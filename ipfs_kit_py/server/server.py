"""Running the server: ``python -m ipfs_kit_py.mcp.server`` (the seed's command) or
``ipfs-kit serve``; :func:`serve` binds uvicorn to the app that
:mod:`ipfs_kit_py.app` composes. One middleware, the access guard
(``guard.py``), stands in front of every route: Origin, Host, tokens and the
gateway's headers are decided there, so a new route inherits them.

The server listens on ``server.host:server.port`` and, when ``gateway.listen``
is set, on a second address that serves only the gateway. Beyond loopback it
refuses to start without an API token unless ``server.insecure`` is set.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from .. import __version__, logdedup, tokens
from ..config import Settings, default_repo_path, load_settings
from ..errors import ChannelUnavailable, InvalidArgument, IPFSKitError
from ..node import Node
from .connlimit import connection_caps
from .guard import AccessPolicy

log = logging.getLogger("ipfs_kit_py.server")


def access_policy(node: Node) -> AccessPolicy:
    """The guard's policy from the node's settings (ports and the run secret are
    filled in by :func:`serve` once the sockets are bound)."""
    s = node.settings.server
    return AccessPolicy(
        allowed_hosts=list(s.allowed_hosts), allowed_origins=list(s.allowed_origins), bind_host=s.host,
        tokens=tokens.TokenStore(node.repo.path), require_token=not is_loopback(s.host) and not s.insecure,
        api_port=s.port or None,
    )


def create_app(node: Node, policy: AccessPolicy | None = None) -> FastAPI:
    """The app with every channel (the composition root, :mod:`ipfs_kit_py.app`)."""
    from ..app import create_app as compose

    return compose(node, policy)


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
    p.add_argument("--profile", default=None, metavar="NAME",
                   help="network profile: local (default) or public (joins the public IPFS network)")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="allow binding beyond loopback without API tokens (server.insecure=true)")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.NAME=VALUE",
        help="any setting, e.g. --set libp2p.enabled=false (see docs/configuration.md)",
    )
    return p.parse_args(argv)


def settings_from_args(args: argparse.Namespace, repo: str | os.PathLike[str]) -> Settings:
    overrides: dict[str, dict[str, Any]] = {"server": {"host": args.host, "port": args.port, "debug": args.debug,
                                                       "insecure": args.insecure},
                                            "network": {"profile": getattr(args, "profile", None)}}
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--set expects SECTION.NAME=VALUE, got {item!r}")
        overrides.setdefault(section, {})[name] = value
    return load_settings(Path(repo), overrides)


def check_exposure(node: Node) -> None:
    """Refuse to serve beyond loopback with no token, unless told it is meant (``server.insecure``)."""
    s = node.settings.server
    if is_loopback(s.host):
        return
    if tokens.TokenStore(node.repo.path).any():
        log.info("binding to %s: every API request needs a token", s.host)
        return
    if not s.insecure:
        raise IPFSKitError(
            f"refusing to bind to {s.host}: beyond loopback the API needs tokens. Create one with "
            f"'ipfs-kit --repo {node.repo.path} token create NAME --scope admin', or pass --insecure "
            "(server.insecure=true) to let anyone who reaches the port control this node")
    log.warning("binding to %s with no API token (server.insecure): anyone who can reach it controls this node",
                s.host)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (uvicorn serves several when given them)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit it: without it, uvloop leaves Nagle on for sockets it was
        # handed, and a response written in two parts waits for a delayed ACK (~40 ms per request)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise ChannelUnavailable(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) of ``gateway.listen``."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise InvalidArgument(f"gateway.listen must be HOST:PORT (e.g. 127.0.0.1:8080), got {value!r}")
    return host.strip("[]"), int(port)


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(node: Node, *, ready: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (uvicorn handles both and shuts down cleanly)."""
    s = node.settings.server
    check_exposure(node)
    gateway_listen = parse_listen(node.settings.gateway.listen) if node.settings.gateway.listen else None
    policy = access_policy(node)
    app = create_app(node, policy)
    config = uvicorn.Config(
        app, host=s.host, port=s.port, log_level="debug" if s.debug else "info",
        ws_max_size=node.settings.websocket.max_message,
        ws_ping_interval=node.settings.websocket.ping_interval,
        ws_ping_timeout=node.settings.websocket.ping_timeout,
        ws_per_message_deflate=node.settings.websocket.compression,
        timeout_graceful_shutdown=5,
        # connections capped below the open-file limit: a flood gets 503s, not EMFILE (connlimit.py)
        **connection_caps(s.max_connections, s.first_request_timeout),
    )
    logdedup.install()  # on uvicorn's handlers too (configured by Config): identical errors once, with a count
    server = uvicorn.Server(config)
    node.repo.lock()
    gateway_file = node.repo.path / "gateway"
    sockets: list[socket.socket] = []
    try:
        sockets.append(bind(s.host, s.port))
        policy.api_port = sockets[0].getsockname()[1]
        if gateway_listen is not None:
            sockets.append(bind(*gateway_listen))
            policy.gateway_ports.add(sockets[1].getsockname()[1])
        policy.run_secret = tokens.write_run_secret(node.repo.path)
        task = asyncio.create_task(server.serve(sockets=sockets))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            node.api_url = _url(sockets[0])
            node.repo.write_api(node.api_url)
            if len(sockets) > 1:
                gateway_file.write_text(_url(sockets[1]) + "\n")
                log.info("gateway listener (only /ipfs/, /ipns/) at %s", _url(sockets[1]))
            log.info("ipfs_kit_py %s serving repo %s at %s", __version__, node.repo.path, node.api_url)
            if ready is not None:
                ready.set()
        await task
    finally:
        for sock in sockets:
            sock.close()
        gateway_file.unlink(missing_ok=True)
        tokens.remove_run_secret(node.repo.path)
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
