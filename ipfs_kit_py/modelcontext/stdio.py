"""``ipfs-kit mcp``: the MCP server on stdio, for agent apps that launch it.

Like every ``ipfs-kit`` command it talks to the server running on the repo when
there is one and opens the repo directly otherwise:

- no server: the repo is opened in-process (and locked, as a server would lock it)
  and served with the local user's rights;
- a server runs (``<repo>/api``, or ``--api``): a proxy. Tools, resources and listen
  streams are forwarded to the server's ``/mcp`` with the token (``--token``,
  ``$IPFS_KIT_TOKEN``, else the repo's run secret), so the server's scopes apply and
  its events reach the agent; progress notifications are passed along.

Both offer ``add`` with a local ``path`` (the agent runs on this machine): in
process it is read directly; through a server it is streamed to ``/api/v0/add``
as the CLI's add does (never base64 through the model's channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp import Client

# mcp exports it from here (its docs' import path) but lists no __all__: fine at run time
from mcp.client.streamable_http import (  # type: ignore[attr-defined]
    create_mcp_http_client,
    streamable_http_client,
)
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    SUBSCRIPTION_ID_META_KEY,
    ResourceUpdated,
    event_to_notification,
)

from ..access import ALL, Caller
from ..client.auth import auth_headers
from ..client.http import HTTPClient, normalize_url
from ..config import default_repo_path
from ..errors import InvalidArgument, IPFSKitError, RepoLocked
from ..model import AddOptions
from ..node import Node
from ..repo import api_url_for
from ..tokens import read_run_secret
from . import tools
from .server import build_server

log = logging.getLogger(__name__)

LOCAL_CALLER = Caller("mcp", ALL)  # the local user on their own repo, as every in-process CLI command
SERVER_START_WAIT = 5.0  # seconds to wait for a server that holds the lock but has no api file yet


async def serve(repo: str | os.PathLike[str] | None = None, api: str | None = None,
                token: str | None = None) -> None:
    """Serve MCP on stdin/stdout until the client closes them."""
    url = api or api_url_for(repo)
    node: Node | None = None
    if not url:
        node = Node(Path(repo) if repo is not None else None)
        try:
            node.repo.lock()
        except RepoLocked:
            node.repo.close()
            node = None
            url = await _wait_for_server(repo)
    if node is not None:
        try:
            await serve_local(node)
        finally:
            node.close()
        return
    assert url is not None
    await serve_proxy(normalize_url(url), token or (None if api else read_run_secret(repo or default_repo_path())))


async def _wait_for_server(repo: str | os.PathLike[str] | None) -> str:
    """A server is starting (it takes the lock before it writes its address)."""
    deadline = time.monotonic() + SERVER_START_WAIT
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        url = api_url_for(repo)
        if url:
            return url
    raise RepoLocked("the repo is locked by a server that does not answer (no api file)")


async def serve_local(node: Node) -> None:
    server, bridge = build_server(node, node.bus, lambda ctx: LOCAL_CALLER, local_paths=True,
                                  max_resource=node.settings.mcp.max_resource)
    bridge.start()
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        bridge.stop()


# -- proxy to a running server -----------------------------------------------------------------------
async def serve_proxy(url: str, token: str | None) -> None:
    http = create_mcp_http_client(headers=auth_headers(token))
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http), cache=None) as upstream:
        tasks: dict[tuple[int, str], asyncio.Task[None]] = {}
        server = proxy_server(upstream, url, token, tasks)
        try:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())
        finally:
            for task in tasks.values():
                task.cancel()


def proxy_server(up: Client, url: str, token: str | None,
                 tasks: dict[tuple[int, str], asyncio.Task[None]]) -> Server[Any]:
    """``tasks``: the upstream listen streams of handshake-era subscriptions, by (connection, URI)."""
    local_tools = {t.name: t for t in tools.tool_list(local_paths=True)}

    async def list_tools(ctx: ServerRequestContext[Any, Any],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        remote = await up.list_tools(cursor=params.cursor if params else None)
        # the server's tools, with add's local `path` (served here)
        out = [local_tools.get(t.name, t) if t.name == "add" else t for t in remote.tools]
        return types.ListToolsResult(tools=out, next_cursor=remote.next_cursor)

    async def call_tool(ctx: ServerRequestContext[Any, Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        args = dict(params.arguments or {})
        if params.name == "add" and args.get("path") is not None:
            return await _add_path(up, url, token, args, ctx.session.report_progress)
        result = await up.call_tool(params.name, args, progress_callback=_forward(ctx))
        assert isinstance(result, types.CallToolResult)
        return result

    async def list_resources(ctx: ServerRequestContext[Any, Any],
                             params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return await up.list_resources(cursor=params.cursor if params else None)

    async def list_templates(ctx: ServerRequestContext[Any, Any],
                             params: types.PaginatedRequestParams | None) -> types.ListResourceTemplatesResult:
        return await up.list_resource_templates(cursor=params.cursor if params else None)

    async def read_resource(ctx: ServerRequestContext[Any, Any],
                            params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        result = await up.read_resource(str(params.uri))
        assert isinstance(result, types.ReadResourceResult)
        return result

    async def listen(ctx: ServerRequestContext[Any, Any],
                     params: types.SubscriptionsListenRequestParams) -> types.SubscriptionsListenResult:
        """One upstream listen stream per local one, with the same filter."""
        wanted = params.notifications
        sub_id = ctx.request_id
        if sub_id is None:
            raise MCPError(types.INVALID_REQUEST, "subscriptions/listen requires a request id")
        meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: sub_id}
        async with up.listen(tools_list_changed=bool(wanted.tools_list_changed),
                             prompts_list_changed=bool(wanted.prompts_list_changed),
                             resources_list_changed=bool(wanted.resources_list_changed),
                             resource_subscriptions=list(wanted.resource_subscriptions or ())) as sub:
            honored = sub.honored or types.SubscriptionFilter()
            await ctx.session.send_notification(types.SubscriptionsAcknowledgedNotification(
                params=types.SubscriptionsAcknowledgedNotificationParams(notifications=honored, _meta=meta)),
                related_request_id=sub_id)
            async for event in sub:
                await ctx.session.send_notification(event_to_notification(event, meta), related_request_id=sub_id)
        return types.SubscriptionsListenResult(_meta=meta)

    from .. import __version__
    async def subscribe(ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams) -> types.EmptyResult:
        """A handshake-era client's subscription: an upstream listen stream for the URI,
        its updates sent on the client's connection."""
        uri, session = str(params.uri), ctx.session
        key = (id(getattr(session, "_connection", session)), uri)
        if key in tasks:
            return types.EmptyResult()

        async def forward() -> None:
            try:
                async with up.listen(resource_subscriptions=[uri]) as sub:
                    async for event in sub:
                        if isinstance(event, ResourceUpdated):
                            await session.send_resource_updated(event.uri)
            except Exception as e:  # the upstream or the client went away
                log.info("subscription to %s ended: %s", uri, e)
            finally:
                tasks.pop(key, None)

        tasks[key] = asyncio.get_running_loop().create_task(forward())
        return types.EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Any, Any],
                          params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        session = ctx.session
        task = tasks.pop((id(getattr(session, "_connection", session)), str(params.uri)), None)
        if task is not None:
            task.cancel()
        return types.EmptyResult()

    from .server import INSTRUCTIONS

    return Server("ipfs-kit", version=__version__, title="ipfs_kit_py (via the running server)",
                  instructions=INSTRUCTIONS, on_list_tools=list_tools, on_call_tool=call_tool,
                  on_list_resources=list_resources, on_list_resource_templates=list_templates,
                  on_read_resource=read_resource, on_subscriptions_listen=listen,
                  on_subscribe_resource=subscribe, on_unsubscribe_resource=unsubscribe)


def _forward(ctx: ServerRequestContext[Any, Any]) -> Any:
    async def progress(value: float, total: float | None, message: str | None) -> None:
        await ctx.session.report_progress(value, total, message)

    return progress


async def _add_path(up: Client, url: str, token: str | None, args: dict[str, Any],
                    report: tools.Progress) -> types.CallToolResult:
    """``add`` of a local path through the server: streamed to /api/v0/add (the server
    checks the token's scope), then described by the server's ``stat``."""
    try:
        path = Path(str(args.pop("path"))).expanduser()
        if any(args.get(k) is not None for k in ("text", "content")):
            raise InvalidArgument("give exactly one of text, content or path")
        unknown = set(args) - {p.name for p in _add_specs()} - {"text", "content"}
        if unknown:
            raise InvalidArgument(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        if not path.exists():
            raise InvalidArgument(f"no such file: {path}")
        if path.is_dir() and not args.get("recursive"):
            raise InvalidArgument(f"{path} is a directory: add it with recursive=true")
        options = AddOptions(profile=args.get("profile"), cid_version=args.get("cid_version"),
                             raw_leaves=args.get("raw_leaves"), chunker=args.get("chunker"),
                             pin=bool(args.get("pin", True)), only_hash=bool(args.get("only_hash", False)),
                             wrap_with_directory=bool(args.get("wrap_with_directory", False)),
                             recursive=bool(args.get("recursive", False)), hidden=bool(args.get("hidden", False)))
        total = path.stat().st_size if path.is_file() else None
        async with _progress_pump(report, total, path.name) as on_bytes:
            client = HTTPClient(url, token=token)
            try:
                if path.is_file():  # in the tools' chunks, for progress a model can follow
                    added = [await client.add_stream(tools.file_chunks(path), path.name, options, on_bytes)]
                else:
                    added = await client.add_path(path, options, on_bytes)
            finally:
                await client.close()
    except IPFSKitError as e:
        return tools.error_result(e)
    root = added[-1]
    st = await up.call_tool("stat", {"cid": root.cid})
    sc = st.structured_content if isinstance(st, types.CallToolResult) and not st.is_error else None
    if not isinstance(sc, dict):  # only_hash: nothing stored to stat
        sc = {"size": total or 0, "cumulative_size": root.size, "type": "file" if path.is_file() else "directory"}
    data = {"name": root.name, "cid": root.cid, "size": sc["size"], "cumulative_size": sc["cumulative_size"],
            "file": sc["type"] != "directory"}
    text = f"added {root.cid} {root.name or root.cid}" + (f" ({len(added)} entries)" if len(added) > 1 else "")
    link = types.ResourceLink(uri=tools.uri_of(root.cid), name=root.name or root.cid,
                              size=data["size"] if data["file"] else None)
    return types.CallToolResult(content=[types.TextContent(text=text), link], structured_content=data)


def _add_specs() -> Any:
    from .. import registry

    return registry.get("add").param_specs


@contextlib.asynccontextmanager
async def _progress_pump(report: tools.Progress, total: int | None, name: str) -> AsyncIterator[Any]:
    """A synchronous byte-count callback (the HTTP client's) feeding async progress reports."""
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def pump() -> None:
        while True:
            n = await queue.get()
            await report(float(n), float(total) if total is not None else None, name)
            queue.task_done()

    def on_bytes(n: int) -> None:
        queue.put_nowait(n)

    task = asyncio.create_task(pump())
    try:
        yield on_bytes
    finally:
        if not task.done():
            await asyncio.wait_for(queue.join(), 5)  # every report sent before the result
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def main(repo: str | os.PathLike[str] | None, api: str | None, token: str | None) -> int:
    logging.basicConfig(level=logging.WARNING)  # stderr: stdout carries the protocol
    asyncio.run(serve(repo, api, token))
    return 0
