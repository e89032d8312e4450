"""The MCP server over a node: tools, resources and live updates (the SDK's low-level
``Server``), for the Streamable HTTP channel (:mod:`.http`) and stdio (:mod:`.stdio`).

Who is asking comes from the transport: on HTTP the access guard's
:class:`~ipfs_kit_py.access.Caller` of each request (its token's scopes), on stdio
the local user. Every tool and resource read goes through the registry's call path
with that caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import ListenHandler

from .. import __version__
from ..access import Caller, Scope, authorize
from ..events import EventBus
from . import resources, tools
from .live import EVENTS_URI, EventBridge, LegacySubscriptions, transfer_progress

INSTRUCTIONS = (
    "An IPFS node. Tools are its operations (add, cat, ls, stat, pins, metadata, blocks, transfers); "
    "content is readable as resources ipfs://CID and ipfs://CID/PATH; pins are listed as resources; "
    "subscribe to ipfs://CID, the resource list or ipfs-kit://events to hear of changes. "
    "CIDs are Kubo's for the same bytes and options."
)
EVENTS_SHOWN = 100  # recent events in the ipfs-kit://events resource

CallerOf = Callable[[ServerRequestContext[Any, Any]], Caller]

EVENTS_RESOURCE = types.Resource(uri=EVENTS_URI, name="events", mime_type="application/json",
                                 description=f"The node's last {EVENTS_SHOWN} events (content, pins, transfers)")


def build_server(target: Any, bus: EventBus, caller_of: CallerOf, *, local_paths: bool = False,
                 max_resource: int = 4 << 20) -> tuple[Server[Any], EventBridge]:
    """The server over ``target`` (a Node or IPFSModel) and its event ``bus``; the
    bridge must be started on the loop the server runs on (``bridge.start()``)."""
    bridge = EventBridge(bus)
    legacy = LegacySubscriptions(bridge)
    tool_list = tools.tool_list(local_paths)
    schemas = {t.name: t.input_schema for t in tool_list}

    async def list_tools(ctx: ServerRequestContext[Any, Any],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list)

    async def call_tool(ctx: ServerRequestContext[Any, Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        caller = caller_of(ctx)
        args = params.arguments or {}
        progress = ctx.session.report_progress  # a no-op unless the call asked for progress
        if params.name in tools.NETWORK:
            async with transfer_progress(bus, args.get("cid") if isinstance(args.get("cid"), str) else None,
                                         progress):
                return await tools.call_tool(target, caller, params.name, args, progress, local_paths)
        return await tools.call_tool(target, caller, params.name, args, progress, local_paths)

    async def list_resources(ctx: ServerRequestContext[Any, Any],
                             params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        cursor = params.cursor if params is not None else None
        page = await resources.list_pins(target, caller_of(ctx), cursor)
        if cursor is None:
            page.resources.insert(0, EVENTS_RESOURCE)
        return page

    async def list_templates(ctx: ServerRequestContext[Any, Any],
                             params: types.PaginatedRequestParams | None) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=resources.TEMPLATES)

    async def read_resource(ctx: ServerRequestContext[Any, Any],
                            params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        caller = caller_of(ctx)
        uri = str(params.uri)
        if uri == EVENTS_URI:
            _authorize(caller)
            events = [e.to_dict() for e in bus.history(limit=EVENTS_SHOWN)]
            return types.ReadResourceResult(contents=[types.TextResourceContents(
                uri=uri, mime_type="application/json", text=json.dumps(events, default=str))])
        return await resources.read(target, caller, uri, max_resource)

    server: Server[Any] = Server(
        "ipfs-kit", version=__version__, title="ipfs_kit_py", instructions=INSTRUCTIONS,
        get_tool_input_schema=schemas.get,  # Mcp-Param header checks without listing the tools each time
        on_list_tools=list_tools, on_call_tool=call_tool, on_list_resources=list_resources,
        on_list_resource_templates=list_templates, on_read_resource=read_resource,
        on_subscriptions_listen=ListenHandler(bridge),
        on_subscribe_resource=legacy.subscribe, on_unsubscribe_resource=legacy.unsubscribe,
    )
    return server, bridge


def _authorize(caller: Caller) -> None:
    from mcp.shared.exceptions import MCPError

    from ..errors import Forbidden

    try:
        authorize(caller, Scope.READ, "events")
    except Forbidden as e:
        raise MCPError(types.INVALID_PARAMS, f"{e.code}: {e}") from None
