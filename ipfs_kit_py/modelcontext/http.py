"""Streamable HTTP at ``/mcp``: the MCP server of the node, behind the access guard.

The guard (``server/guard.py``) checks ``Host`` and ``Origin`` and the token of
every request to ``/mcp`` before it gets here, and leaves its
:class:`~ipfs_kit_py.access.Caller` in the request; each tool call and resource
read is authorized against that caller (a token with the read scope lists and reads,
and is refused every write). The SDK's own Host/Origin check is off: the guard's
is the one the whole server uses. The caller is taken per HTTP request, never
remembered per MCP session, so a session cannot be used with another token's rights.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import FastAPI
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route

from ..access import NONE, Caller, caller_of
from ..node import Node
from .server import build_server

PATH = "/mcp"


def request_caller(ctx: ServerRequestContext[Any, Any]) -> Caller:
    request = ctx.request
    scope = getattr(request, "scope", None)
    return caller_of(scope) if scope is not None else Caller("mcp", NONE)


class McpService:
    """Runs the session manager (and the event bridge) with the node."""

    def __init__(self, node: Node) -> None:
        settings = node.settings.mcp
        self.server, self.bridge = build_server(node, node.bus, request_caller, local_paths=False,
                                                max_resource=settings.max_resource)
        self.manager = StreamableHTTPSessionManager(
            self.server, security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=settings.max_request_body)
        self._stack: contextlib.AsyncExitStack | None = None

    async def start(self) -> None:
        self.bridge.start()
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(self.manager.run())
        self._stack = stack

    async def stop(self) -> None:
        self.bridge.stop()
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()


def register(app: FastAPI, node: Node) -> None:
    """Mount ``/mcp`` (when ``mcp.enabled``); the service starts and stops with the node."""
    if not node.settings.mcp.enabled:
        return
    service = McpService(node)
    node.add_service("mcp", service)
    app.router.routes.append(Route(PATH, endpoint=StreamableHTTPASGIApp(service.manager)))
