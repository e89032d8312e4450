"""The tools: one per registry operation (same name), generated from its typed table.

- input schema: the operation's parameters (:mod:`.schema`); ``add`` takes ``text``,
  base64 ``content`` or (stdio only: the agent runs on this machine) a local ``path``
  instead of the upload, with every other add option of the registry;
- output schema and ``structuredContent``: the typed result as /ws sends it;
- annotations from the scope: ``readOnlyHint`` for read operations,
  ``destructiveHint`` for those that remove (:data:`DESTRUCTIVE`), ``openWorldHint``
  for those that reach other nodes (:data:`NETWORK`);
- results sized for a model: ``cat`` of small UTF-8 text answers the text; binary or
  large content answers a summary and a resource link (``ipfs://CID``) instead.

Every call goes through ``registry.call_typed`` with the channel's
:class:`~ipfs_kit_py.access.Caller`, so scopes are checked where they are for every
other channel. Errors of the operation come back as tool errors (``isError``) that
name the error code and say what went wrong.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mcp_types as types

from .. import registry
from ..access import Caller, Scope, authorize
from ..content.importer import walk
from ..errors import InvalidArgument, IPFSKitError
from ..operation import ByteStream, ItemStream, Upload, UploadEntry, to_json
from ..ops.content import AddedEntry, AddProgress
from .schema import dataclass_schema, input_schema

# operations that are no tools: archives of bytes are no use to a model (resources serve content)
EXCLUDED = {
    "get": "a TAR stream: read ipfs://CID/PATH resources instead",
    "dag_export": "a CAR stream: use the HTTP API's dag/export",
    "get_content": "the seed's libp2p form of cat",
}
DESTRUCTIVE = frozenset({"pin_rm", "block_rm", "gc", "transfer_cancel", "metadata_set", "files_rm", "key_rm",
                         "bootstrap_rm", "config_replace", "shutdown"})
NETWORK = frozenset({"swarm_connect", "transfer_via_libp2p", "fetch_via_libp2p", "bitswap_fetch",
                     "find_providers", "provide", "transfer_content", "find_peer", "routing_get", "routing_put",
                     "reprovide"})
TEXT_LIMIT = 64 << 10  # bytes of cat answered as text; more (or binary) gets a summary and a link
CHUNK = 256 << 10  # bytes per chunk of an add from text, base64 or a path
ADD_SOURCES = ("text", "content", "path")

Progress = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CatResult:
    """``cat`` as a tool answers it: the text when it is small UTF-8 text, else only its size."""

    cid: str
    size: int
    text: str | None  # None: binary or larger than the text limit (read the resource)
    uri: str


def uri_of(cid: str, path: str = "") -> str:
    return f"ipfs://{cid}" + (f"/{path.strip('/')}" if path.strip("/") else "")


def _streams_items(op: Any) -> bool:
    """A result streamed item by item with no one-answer form (possibly endless): no tool."""
    return op.result is ItemStream and op.json_result is None


def tool_names() -> list[str]:
    return [n for n in registry.names() if n not in EXCLUDED and not _streams_items(registry.get(n))]


def _annotations(name: str, scope: Scope) -> types.ToolAnnotations:
    read = scope is Scope.READ
    return types.ToolAnnotations(
        read_only_hint=read,
        destructive_hint=None if read else name in DESTRUCTIVE,
        idempotent_hint=True if read else None,
        open_world_hint=name in NETWORK,
    )


def _add_schema(local_paths: bool) -> dict[str, Any]:
    op = registry.get("add")
    schema = input_schema(op.param_specs, skip=frozenset({"content"}))
    props = {
        "text": {"type": "string", "description": "the file's content as text (stored as UTF-8)"},
        "content": {"type": "string", "contentEncoding": "base64", "description": "the file's bytes, base64"},
    }
    if local_paths:
        props["path"] = {"type": "string", "description": "a local file or directory to add (stdio only)"}
    schema["properties"] = {**props, **schema["properties"]}
    schema.pop("required", None)
    return schema


def tool_list(local_paths: bool = False) -> list[types.Tool]:
    """Every tool; ``local_paths``: ``add`` offers ``path`` (stdio, where the agent is local)."""
    out = []
    for name in tool_names():
        op = registry.get(name)
        if name == "add":
            output: dict[str, Any] | None
            schema, output = _add_schema(local_paths), dataclass_schema(AddedEntry)
            what = "Add a file: give `text`, base64 `content`" + (" or a local `path`" if local_paths else "") + \
                "; the result names its CID (Kubo's CID for the same bytes and options)"
        elif op.result is ByteStream:
            schema, output = input_schema(op.param_specs), dataclass_schema(CatResult)
            what = op.summary + "; small UTF-8 text comes back as text, anything else as a link to ipfs://CID"
        else:
            schema = input_schema(op.param_specs)
            output = dataclass_schema(op.result) if isinstance(op.result, type) and hasattr(
                op.result, "__dataclass_fields__") else None
            what = op.summary
        out.append(types.Tool(name=name, title=name.replace("_", " "), description=f"{what} (scope: {op.scope.value})",
                              input_schema=schema, output_schema=output, annotations=_annotations(name, op.scope)))
    return out


# -- calling --------------------------------------------------------------------------------------
def error_result(e: IPFSKitError) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=f"{e.code}: {e}")], is_error=True)


async def call_tool(target: Any, caller: Caller, name: str, arguments: dict[str, Any] | None,
                    progress: Progress | None = None, local_paths: bool = False) -> types.CallToolResult:
    """Run tool ``name`` for ``caller`` on ``target`` (a Node or IPFSModel)."""
    args = dict(arguments or {})
    try:
        if name not in tool_names():
            raise InvalidArgument(f"unknown tool {name!r}" + (f": {EXCLUDED[name]}" if name in EXCLUDED else ""))
        if name == "add":
            return await _add(target, caller, args, progress, local_paths)
        op = registry.get(name)
        result = await registry.call_typed(target, name, args, caller)
        if isinstance(result, ByteStream):
            sliced = bool(args.get("offset")) or args.get("length") is not None
            return await _bytes_result(result, sliced)
        if op.json_result is not None:
            result = await op.json_result(result)
        data = to_json(result)
        if name == "id":  # the operations this channel offers are its tools
            data["operations"] = tool_names()
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(data))], structured_content=data)
    except IPFSKitError as e:
        return error_result(e)


async def _bytes_result(stream: ByteStream, sliced: bool = False) -> types.CallToolResult:
    """Small UTF-8 text: the text. Anything else: its size and a resource link; at most
    TEXT_LIMIT + 1 bytes are read either way. ``sliced`` (an offset or length was
    given): a character cut at either end of the window does not make it binary."""
    data = bytearray()
    try:
        async for chunk in stream.chunks:
            data += chunk
            if len(data) > TEXT_LIMIT:
                break
    finally:
        aclose = getattr(stream.chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    size = stream.size if stream.size is not None else len(data)
    window = bytes(data)
    if sliced:  # drop the tail of a character the window starts inside
        window = window[next((i for i, b in enumerate(window[:3]) if b & 0xC0 != 0x80), min(3, len(window))):]
    text = decode_text(window, partial=sliced) if len(data) <= TEXT_LIMIT else None
    uri = uri_of(stream.cid)
    structured = to_json(CatResult(stream.cid, size, text, uri))
    if text is not None:
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=structured)
    kind = "binary content" if decode_text(bytes(data[:4096]), partial=True) is None else "text too large to inline"
    summary = f"{stream.cid}: {size} bytes of {kind}; read the resource {uri} (or the gateway /ipfs/{stream.cid})"
    link = types.ResourceLink(uri=uri, name=stream.cid, size=size)
    return types.CallToolResult(content=[types.TextContent(text=summary), link], structured_content=structured)


def decode_text(data: bytes, partial: bool = False) -> str | None:
    """The text, if ``data`` is UTF-8 without NUL bytes (``partial``: it may end inside a character)."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if partial and e.start >= len(data) - 3:
            return data[: e.start].decode("utf-8", "replace")
        return None


# -- add -------------------------------------------------------------------------------------------
async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i: i + CHUNK]


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk
    finally:
        f.close()


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _tree(root: Path, hidden: bool) -> Iterator[UploadEntry]:
    base = root.name
    yield UploadEntry("directory", base, _empty())
    for rel, path, kind in walk(root, hidden):
        name = f"{base}/{rel}"
        if kind == "dir":
            yield UploadEntry("directory", name, _empty())
        elif kind == "symlink":
            yield UploadEntry("symlink", name, _one(os.readlink(path).encode("utf-8", "surrogateescape")))
        else:
            yield UploadEntry("file", name, file_chunks(path))


def _entries(items: list[UploadEntry] | Iterator[UploadEntry]) -> Upload:
    async def gen() -> AsyncIterator[UploadEntry]:
        for item in items:
            yield item

    return Upload(gen())


def add_source(args: dict[str, Any], local_paths: bool) -> tuple[Upload, int | None, str]:
    """The upload of an add call from ``text``, ``content`` or ``path``; its total
    bytes (for progress) and default name. Removes those keys from ``args``."""
    given = [k for k in ADD_SOURCES if args.get(k) is not None]
    if len(given) != 1:
        raise InvalidArgument("give exactly one of text, content" + (" or path" if local_paths else ""))
    source = given[0]
    value = args.pop(source)
    for k in ADD_SOURCES:
        args.pop(k, None)
    if not isinstance(value, str):
        raise InvalidArgument(f"parameter {source!r} must be a string")
    if source == "path":
        if not local_paths:
            raise InvalidArgument("'path' is offered on the stdio transport only: send text or base64 content")
        p = Path(value).expanduser()
        if p.is_dir():
            if not args.get("recursive", False):
                raise InvalidArgument(f"{value} is a directory: add it with recursive=true")
            hidden = bool(args.get("hidden", False))
            total = sum(q.stat().st_size for _, q, kind in walk(p, hidden) if kind == "file")
            return _entries(_tree(p, hidden)), total, p.name
        if not p.is_file():
            raise InvalidArgument(f"no such file: {value}")
        return _entries([UploadEntry("file", p.name, file_chunks(p))]), p.stat().st_size, p.name
    if source == "text":
        data = value.encode("utf-8")
    else:
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument("parameter 'content' is not valid base64") from None
    name = args.get("name") or ""
    return _entries([UploadEntry("file", name, _chunks(data))]), len(data), name


async def _add(target: Any, caller: Caller, args: dict[str, Any], progress: Progress | None,
               local_paths: bool) -> types.CallToolResult:
    op = registry.get("add")
    authorize(caller, op.scope, op.name)  # before a file is opened
    upload, total, _ = await asyncio.to_thread(add_source, args, local_paths)  # a path's tree is walked
    params = registry.params_from_json(op, args, {"content": upload})
    stream = await registry.call_typed(target, "add", params, caller)
    written: dict[str, int] = {}
    entries = 0
    root: AddedEntry | None = None
    async for item in stream.items:
        if isinstance(item, AddProgress):
            written[item.name] = item.bytes
            if progress is not None:
                await progress(float(sum(written.values())), float(total) if total is not None else None, item.name)
        elif isinstance(item, AddedEntry):
            entries += 1
        else:
            root = item.root
    assert root is not None
    data = to_json(root)
    label = root.name or root.cid
    text = f"added {root.cid} {label}" + (f" ({entries} entries)" if entries > 1 else "")
    link = types.ResourceLink(uri=uri_of(root.cid), name=label, size=root.size if root.file else None)
    return types.CallToolResult(content=[types.TextContent(text=text), link], structured_content=data)


def render_tools_doc() -> str:
    """The tool table of docs/mcp.md (tests/test_mcp.py keeps it current)."""
    lines = ["| tool | scope | hints | parameters | what it does |", "|---|---|---|---|---|"]
    for t in tool_list(local_paths=True):
        a = t.annotations
        hints = ", ".join(h for h, on in (("read-only", a and a.read_only_hint), ("destructive", a and a.destructive_hint),
                                          ("network", a and a.open_world_hint)) if on)
        props = t.input_schema.get("properties", {})
        required = set(t.input_schema.get("required", []))
        params = ", ".join(f"`{n}`" + ("" if n in required else "?") for n in props) or "none"
        what, _, scope = (t.description or "").rpartition(" (scope: ")
        lines.append(f"| `{t.name}` | {scope.rstrip(')')} | {hints} | {params} | {what.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def write_tools_doc(path: str = "docs/mcp.md") -> None:
    """Regenerate the tool table between the markers of ``path`` (``python -m ipfs_kit_py.modelcontext.tools``)."""
    doc = Path(path).read_text()
    begin, end = "<!-- tools:begin -->\n", "<!-- tools:end -->"
    start, stop = doc.index(begin) + len(begin), doc.index(end)
    Path(path).write_text(doc[:start] + render_tools_doc() + doc[stop:])


if __name__ == "__main__":
    write_tools_doc()
