"""Model Context Protocol: the SDK's own client (mcp.Client) against the real server
(Streamable HTTP at /mcp) and the real CLI (`ipfs-kit mcp` on stdio, on the repo and
through a running server)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import mcp
import mcp_types as types
import pytest
from conftest import VECTORS, ServerProcess, start_server, stream_bytes
from mcp import StdioServerParameters
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client
from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from ipfs_kit_py import registry
from ipfs_kit_py.modelcontext.tools import EXCLUDED, TEXT_LIMIT
from ipfs_kit_py.tokens import TokenStore

HELLO_CID = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # Kubo: echo "hello world" | ipfs add
ABSENT_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"  # a valid CID nobody stored here
LARGE_VECTOR = "1MiB_plus_1"  # the "large add": 5 chunks, so several progress notifications
WAIT = 20  # seconds any single step may take


@asynccontextmanager
async def http_client(srv: ServerProcess, token: str | None = None) -> AsyncIterator[mcp.Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = create_mcp_http_client(headers=headers)
    async with http, mcp.Client(streamable_http_client(f"{srv.url}/mcp", http_client=http), cache=None) as c:
        yield c


def stdio_params(repo: Path, *extra: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable,
                                 args=["-m", "ipfs_kit_py.cli", "--repo", str(repo), *extra, "mcp"],
                                 env={**os.environ, **(env or {})}, cwd=str(Path(__file__).parent.parent))


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def check_content_tools(c: mcp.Client) -> None:
    """What every transport offers: the tools, Kubo's CID, cat, resources, errors."""
    listed = {t.name: t for t in (await c.list_tools()).tools}
    # pubsub_sub streams messages with no end: no one-answer tool (live updates go through resources)
    assert set(listed) == set(registry.OPERATIONS) - set(EXCLUDED) - {"pubsub_sub"}
    assert listed["cat"].annotations.read_only_hint is True
    assert listed["pin_rm"].annotations.destructive_hint is True and listed["gc"].annotations.destructive_hint
    assert listed["add"].annotations.read_only_hint is False and listed["add"].annotations.destructive_hint is False
    assert listed["pin_add"].input_schema["required"] == ["cid"]
    ident = await c.call_tool("id", {})
    assert ident.structured_content["operations"] == sorted(listed)
    assert {"text", "content", "pin", "cid_version", "chunker", "raw_leaves", "only_hash", "wrap_with_directory",
            "profile"} <= set(listed["add"].input_schema["properties"])

    added = await c.call_tool("add", {"text": "hello world\n"})
    assert not added.is_error, text_of(added)
    assert added.structured_content["cid"] == HELLO_CID and added.structured_content["size"] == 12
    assert any(isinstance(b, types.ResourceLink) and b.uri == f"ipfs://{HELLO_CID}" for b in added.content)
    v1 = await c.call_tool("add", {"text": "hello world\n", "cid_version": 1, "pin": False})
    assert v1.structured_content["cid"] == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"

    cat = await c.call_tool("cat", {"cid": HELLO_CID})
    assert text_of(cat) == "hello world\n" and cat.structured_content["text"] == "hello world\n"
    read = await c.read_resource(f"ipfs://{HELLO_CID}")
    assert isinstance(read.contents[0], types.TextResourceContents) and read.contents[0].text == "hello world\n"

    # a directory: a file wrapped in one; ls, the listing resource, and a path below it
    wrapped = await c.call_tool("add", {"text": "inside\n", "name": "note.txt", "wrap_with_directory": True})
    d = wrapped.structured_content["cid"]
    assert wrapped.structured_content["file"] is False
    ls = await c.call_tool("ls", {"cid": d})
    assert [(link["name"], link["type"]) for link in ls.structured_content["links"]] == [("note.txt", "file")]
    listing = await c.read_resource(f"ipfs://{d}")
    assert listing.contents[0].mime_type == "application/json" and '"note.txt"' in listing.contents[0].text
    inner = await c.read_resource(f"ipfs://{d}/note.txt")
    assert inner.contents[0].text == "inside\n"

    # binary content: a summary and a link, not base64 in the model's context; the resource is a blob
    blob = bytes(range(256)) * 4
    b = await c.call_tool("add", {"content": base64.b64encode(blob).decode()})
    bcid = b.structured_content["cid"]
    bcat = await c.call_tool("cat", {"cid": bcid})
    assert not bcat.is_error and bcat.structured_content["text"] is None
    assert "1024 bytes of binary content" in text_of(bcat)
    assert any(isinstance(x, types.ResourceLink) and x.uri == f"ipfs://{bcid}" for x in bcat.content)
    bread = await c.read_resource(f"ipfs://{bcid}")
    assert isinstance(bread.contents[0], types.BlobResourceContents)
    assert base64.b64decode(bread.contents[0].blob) == blob
    # a window of text is text, even where it cuts a character in two
    utf = await c.call_tool("add", {"text": "né à Zürich\n", "pin": False})
    window = await c.call_tool("cat", {"cid": utf.structured_content["cid"], "offset": 2, "length": 6})
    assert window.structured_content["text"] == " à Z"
    # large text is not inlined either
    big = await c.call_tool("add", {"text": "x" * (TEXT_LIMIT + 1), "pin": False})
    bigcat = await c.call_tool("cat", {"cid": big.structured_content["cid"]})
    assert bigcat.structured_content["text"] is None and "text too large to inline" in text_of(bigcat)

    # unknown content: a clear tool error (not a crash), and the session goes on
    missing = await c.call_tool("cat", {"cid": ABSENT_CID})
    assert missing.is_error and "not found" in text_of(missing) and ABSENT_CID in text_of(missing)
    bad = await c.call_tool("stat", {"cid": "not-a-cid"})
    assert bad.is_error and text_of(bad).startswith("invalid")
    wrong = await c.call_tool("pin_add", {"cid": HELLO_CID, "recursive": "yes"})
    assert wrong.is_error and "must be a boolean" in text_of(wrong)
    with pytest.raises(MCPError, match="not found"):
        await c.read_resource(f"ipfs://{ABSENT_CID}")
    assert (await c.call_tool("stat", {"cid": HELLO_CID})).structured_content["type"] == "file"

    # pins as resources
    pins = await c.list_resources()
    uris = {r.uri for r in pins.resources}
    assert f"ipfs://{HELLO_CID}" in uris and f"ipfs://{d}" in uris and "ipfs-kit://events" in uris
    assert f"ipfs://{big.structured_content['cid']}" not in uris  # added with pin=false


async def check_large_add_progress(c: mcp.Client, args: dict[str, Any], expected_cid: str) -> None:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    r = await c.call_tool("add", args, progress_callback=on_progress)
    assert not r.is_error, text_of(r)
    assert r.structured_content["cid"] == expected_cid
    assert len(seen) >= 3, seen  # notifications while it ran, not one at the end
    assert [p for p, _ in seen] == sorted(p for p, _ in seen) and seen[-1] == (LARGE, LARGE)


async def check_update_from_another_client(listener: mcp.Client, writer: mcp.Client, text: str) -> None:
    """``listener`` hears of content that ``writer`` adds (subscriptions/listen)."""
    cid = (await writer.call_tool("add", {"text": text, "only_hash": True})).structured_content["cid"]
    uri = f"ipfs://{cid}"
    async with listener.listen(resource_subscriptions=[uri], resources_list_changed=True) as sub:
        assert sub.honored.resource_subscriptions == [uri]
        added = await writer.call_tool("add", {"text": text})
        assert added.structured_content["cid"] == cid
        got: set[Any] = set()
        async with asyncio.timeout(WAIT):
            async for event in sub:
                got.add(event)
                if {ResourceUpdated(uri), ResourcesListChanged()} <= got:
                    break
    assert (await listener.read_resource(uri)).contents[0].text == text


_vector = next(v for v in json.loads(VECTORS.read_text())["files"] if v["name"] == LARGE_VECTOR)
LARGE = _vector["size"]


async def check_legacy_update(server: Any, writer: mcp.Client, text: str) -> None:
    """A handshake-era client (most agent apps today) subscribes with resources/subscribe
    and hears of content ``writer`` adds."""
    updated: asyncio.Queue[str] = asyncio.Queue()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.put_nowait(message.params.uri)

    cid = (await writer.call_tool("add", {"text": text, "only_hash": True})).structured_content["cid"]
    async with mcp.Client(server, mode="legacy", message_handler=on_message, cache=None) as old:
        assert old.protocol_version < "2026" and old.server_capabilities.resources.subscribe
        with warnings.catch_warnings():  # the SDK marks it deprecated: it is what these clients speak
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await old.subscribe_resource(f"ipfs://{cid}")
        await writer.call_tool("add", {"text": text})
        async with asyncio.timeout(WAIT):
            assert await updated.get() == f"ipfs://{cid}"
        assert (await old.read_resource(f"ipfs://{cid}")).contents[0].text == text


def large_file(tmp_path: Path) -> tuple[Path, str]:
    """The vectors' file and its CID (Kubo's, confirmed by independent implementations)."""
    f = tmp_path / "large.bin"
    f.write_bytes(stream_bytes(LARGE))
    return f, _vector["cid"]["v0"]


# -- Streamable HTTP at /mcp -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mcp_server(tmp_path_factory: pytest.TempPathFactory):
    srv = start_server(tmp_path_factory.mktemp("mcp") / "repo")
    try:
        yield srv
    finally:
        srv.stop()


async def test_http_tools_resources_errors(mcp_server: ServerProcess) -> None:
    async with http_client(mcp_server) as c:
        assert c.server_info.name == "ipfs-kit"
        await check_content_tools(c)


async def test_http_pins_are_paginated_resources(mcp_server: ServerProcess) -> None:
    files = [("file", (f"b{i}", f"pinned block {i}".encode())) for i in range(105)]
    put = httpx.post(f"{mcp_server.url}/api/v0/block/put", params={"pin": "true"}, files=files, timeout=60)
    assert put.status_code == 200
    pins = httpx.post(f"{mcp_server.url}/api/v0/pin/ls", timeout=30).json()["Keys"]
    roots = {f"ipfs://{c}" for c, v in pins.items() if v["Type"] != "indirect"}
    assert len(roots) >= 105
    async with http_client(mcp_server) as c:
        pages, cursor = [], None
        while True:
            page = await c.list_resources(cursor=cursor)
            pages.append([r.uri for r in page.resources if r.uri.startswith("ipfs://")])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert len(pages) >= 2 and all(len(p) == 100 for p in pages[:-1])
        assert sorted(u for p in pages for u in p) == sorted(roots)  # each once
        with pytest.raises(MCPError, match="invalid cursor"):
            await c.list_resources(cursor="not-a-cursor")


async def test_http_large_add_reports_progress(mcp_server: ServerProcess, tmp_path: Path) -> None:
    f, cid = large_file(tmp_path)
    async with http_client(mcp_server) as c:
        await check_large_add_progress(c, {"content": base64.b64encode(f.read_bytes()).decode()}, cid)
        # a local path is a stdio-only parameter: over HTTP the server never opens its own files
        r = await c.call_tool("add", {"path": str(f)})
        assert r.is_error and "stdio" in text_of(r)


async def test_http_resource_update_after_another_client_adds(mcp_server: ServerProcess) -> None:
    async with http_client(mcp_server) as a, http_client(mcp_server) as b:
        await check_update_from_another_client(a, b, "news from another client\n")
        await check_legacy_update(f"{mcp_server.url}/mcp", b, "news for an older client\n")


def test_http_foreign_origin_and_host_refused(mcp_server: ServerProcess) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    r = httpx.post(f"{mcp_server.url}/mcp", json=body, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["Message"]
    r = httpx.post(f"{mcp_server.url}/mcp", json=body, headers={"Host": "evil.example"})
    assert r.status_code == 403 and "Host" in r.json()["Message"]
    own = httpx.post(f"{mcp_server.url}/mcp", json={**body, "method": "ping"},
                     headers={"Origin": mcp_server.url, "Accept": "application/json, text/event-stream"})
    assert own.status_code != 403


async def test_http_transfer_reports_progress(mcp_server: ServerProcess, tmp_path: Path) -> None:
    """A long network tool (transfer_content to another node) sends progress from the
    transfer's events, the last one before the result."""
    data = stream_bytes(700_000)
    source_id = httpx.post(f"{mcp_server.url}/api/v0/id", timeout=10).json()["ID"]
    target = start_server(tmp_path / "target", env={"IPFS_KIT_LIBP2P_ACCEPT_PUSH_FROM": source_id})
    try:
        async with http_client(mcp_server) as c:
            cid = (await c.call_tool("add", {"content": base64.b64encode(data).decode()})).structured_content["cid"]
            seen: list[tuple[float, str | None]] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                seen.append((progress, message))

            r = await c.call_tool("transfer_content", {"cid": cid, "target": target.url},
                                  progress_callback=on_progress)
            assert not r.is_error, text_of(r)
            assert r.structured_content["channel"] == "libp2p" and r.structured_content["cid"] == cid
            messages = [m for _, m in seen]
            assert messages[0] == "transfer_started via libp2p" and messages[-1] == "transfer_completed via libp2p"
            assert seen[-1][0] >= len(data)
        pinned = httpx.post(f"{target.url}/api/v0/cat", params={"arg": cid}, timeout=30)
        assert pinned.content == data
    finally:
        target.stop()


async def test_http_scopes_decide_which_tools_run(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "repo")
    try:
        store = TokenStore(srv.repo)  # the running server sees new tokens at once
        reader, writer = store.create("agent-r", "read"), store.create("agent-w", "write")
        async with http_client(srv, writer) as w:
            assert (await w.call_tool("add", {"text": "hello world\n"})).structured_content["cid"] == HELLO_CID
            gc = await w.call_tool("gc", {})
            assert gc.is_error and "admin scope" in text_of(gc)
        async with http_client(srv, reader) as r:
            assert len((await r.list_tools()).tools) > 20
            assert text_of(await r.call_tool("cat", {"cid": HELLO_CID})) == "hello world\n"
            assert (await r.read_resource(f"ipfs://{HELLO_CID}")).contents[0].text == "hello world\n"
            refused = await r.call_tool("add", {"text": "not allowed\n"})
            assert refused.is_error and "forbidden" in text_of(refused) and "write scope" in text_of(refused)
            unpin = await r.call_tool("pin_rm", {"cid": HELLO_CID})
            assert unpin.is_error and "write scope" in text_of(unpin)
        # the pin survived the refused unpin
        listed = httpx.post(f"{srv.url}/api/v0/pin/ls", params={"arg": HELLO_CID},
                            headers={"Authorization": f"Bearer {reader}"})
        assert HELLO_CID in listed.json()["Keys"]
        # no token at all: the connection is refused before any tool runs
        with pytest.raises(Exception):  # noqa: B017 - the SDK's transport error
            async with asyncio.timeout(WAIT), http_client(srv) as anon:
                await anon.list_tools()
    finally:
        srv.stop()


# -- stdio: ipfs-kit mcp ------------------------------------------------------------------------------
async def test_stdio_on_the_repo(tmp_path: Path) -> None:
    f, cid = large_file(tmp_path)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha\n")
    (tree / "sub" / "b.txt").write_text("beta\n")
    async with asyncio.timeout(120), mcp.Client(stdio_params(tmp_path / "repo")) as c:
        await check_content_tools(c)
        await check_large_add_progress(c, {"path": str(f)}, cid)
        r = await c.call_tool("add", {"path": str(tree), "recursive": True})
        assert not r.is_error and r.structured_content["name"] == "tree" and r.structured_content["file"] is False
        ls = await c.call_tool("ls", {"cid": r.structured_content["cid"]})
        assert [link["name"] for link in ls.structured_content["links"]] == ["a.txt", "sub"]
        assert (await c.read_resource(f"ipfs://{r.structured_content['cid']}/sub/b.txt")).contents[0].text == "beta\n"
        no_dir = await c.call_tool("add", {"path": str(tree)})
        assert no_dir.is_error and "recursive" in text_of(no_dir)
        # the same process serves one client; its own adds reach its listen stream
        async with c.listen(resource_subscriptions=["ipfs-kit://events"]) as sub:
            await c.call_tool("add", {"text": "an event\n"})
            async with asyncio.timeout(WAIT):
                assert await anext(aiter(sub)) == ResourceUpdated("ipfs-kit://events")


async def test_stdio_through_the_running_server(tmp_path: Path) -> None:
    f, cid = large_file(tmp_path)
    repo = tmp_path / "repo"
    srv = start_server(repo)
    try:
        async with asyncio.timeout(120), mcp.Client(stdio_params(repo)) as c:
            assert c.server_info.title == "ipfs_kit_py (via the running server)"
            await check_content_tools(c)
            await check_large_add_progress(c, {"path": str(f)}, cid)
            # an agent on stdio hears what an HTTP client adds, and the reverse
            async with http_client(srv) as h:
                await check_update_from_another_client(c, h, "from http to stdio\n")
                await check_update_from_another_client(h, c, "from stdio to http\n")
                await check_legacy_update(stdio_params(repo), h, "from http to an older stdio client\n")
        # the proxy holds the scopes of its token
        reader = TokenStore(repo).create("agent-r", "read")
        async with asyncio.timeout(60), mcp.Client(stdio_params(repo, "--token", reader)) as r:
            assert text_of(await r.call_tool("cat", {"cid": HELLO_CID})) == "hello world\n"
            refused = await r.call_tool("add", {"text": "not allowed\n"})
            assert refused.is_error and "write scope" in text_of(refused)
            refused_path = await r.call_tool("add", {"path": str(f)})
            assert refused_path.is_error and "write" in text_of(refused_path)
    finally:
        srv.stop()


def test_tools_doc_is_current() -> None:
    from ipfs_kit_py.modelcontext.tools import render_tools_doc

    doc = (Path(__file__).parent.parent / "docs" / "mcp.md").read_text()
    assert render_tools_doc() in doc, "regenerate: python -m ipfs_kit_py.modelcontext.tools"
