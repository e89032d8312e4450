"""Streamable HTTP at ``/mcp``: the MCP server of the node, behind the access guard.

The guard (``server/guard.py``) checks ``Host`` and ``Origin`` and the token of
every request to ``/mcp`` before it gets here, and leaves its
:class:`~ipfs_kit_py.access.Caller` in the request; each tool call and resource
read is authorized against that caller (a token with the read scope lists and reads,
and is refused every write). The SDK's own Host/Origin check is off: the guard's
is the one the whole server uses. The caller is taken per HTTP request, never
remembered per MCP session, so a session cannot be used with another token's rights.

The SDK (some 600 pydantic models, about a second of CPU to import) is loaded on the
first request to ``/mcp``, in a worker thread, not at start: a node that is never asked
for MCP never pays for it, and the server starts sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..access import NONE, Caller, caller_of
from ..node import Node

PATH = "/mcp"


def request_caller(ctx: Any) -> Caller:
    """The caller of an MCP request (``ctx``: the SDK's ``ServerRequestContext``)."""
    request = ctx.request
    scope = getattr(request, "scope", None)
    return caller_of(scope) if scope is not None else Caller("mcp", NONE)


def _load_sdk() -> tuple[Any, Any, Any, Any]:
    from mcp.server.streamable_http_manager import (
        StreamableHTTPASGIApp,
        StreamableHTTPSessionManager,
    )
    from mcp.server.transport_security import TransportSecuritySettings

    from .server import build_server
    return build_server, StreamableHTTPASGIApp, StreamableHTTPSessionManager, TransportSecuritySettings


class McpService:
    """The SDK's session manager (and the event bridge), started on the first request and
    stopped with the node. One task owns the manager from entry to exit (anyio's task
    groups must be left by the task that entered them)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._asgi: Any = None
        self._ready: asyncio.Future[Any] | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Nothing to start until the first request (see :meth:`app`)."""

    async def _run(self, ready: asyncio.Future[Any]) -> None:
        try:
            build_server, asgi_app, manager_cls, security = await asyncio.to_thread(_load_sdk)
            settings = self.node.settings.mcp
            server, bridge = build_server(self.node, self.node.bus, request_caller, local_paths=False,
                                          max_resource=settings.max_resource)
            manager = manager_cls(server, security_settings=security(enable_dns_rebinding_protection=False),
                                  max_request_body_size=settings.max_request_body)
            bridge.start()
            try:
                async with manager.run():
                    ready.set_result(asgi_app(manager))
                    await self._stopping.wait()
            finally:
                bridge.stop()
        except BaseException as e:
            if not ready.done():
                ready.set_exception(e)
            raise

    async def app(self) -> Any:
        """The SDK's ASGI app, loading and starting it on first use."""
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(self._ready), name="mcp-session-manager")
        return await asyncio.shield(self._ready)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            task, self._task = self._task, None
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)


class _Endpoint:
    """``/mcp`` as an ASGI endpoint that forwards to the SDK once it is loaded."""

    def __init__(self, service: McpService) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (await self.service.app())(scope, receive, send)


def register(app: FastAPI, node: Node) -> None:
    """Mount ``/mcp`` (when ``mcp.enabled``); the service stops with the node."""
    if not node.settings.mcp.enabled:
        return
    service = McpService(node)
    node.add_service("mcp", service)
    app.router.routes.append(Route(PATH, endpoint=_Endpoint(service)))
