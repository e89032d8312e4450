"""Resources: content as ``ipfs://{cid}`` and ``ipfs://{cid}/{+path}`` (a resource
template), and the pins as a paginated resource list.

A file reads as text when its type is a text type (or, with no known type, when it
is UTF-8 without NUL bytes), as a base64 blob otherwise; past ``mcp.max_resource``
bytes the read is refused with an error that says so and where to get it instead.
A directory reads as its JSON listing. Reads go through the registry (``stat``,
``cat``, ``ls``, ``pin_ls``) with the channel's caller, like every tool.
"""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from .. import registry
from ..access import Caller
from ..errors import IPFSKitError, NotFound
from ..operation import to_json
from .tools import decode_text, uri_of

PAGE = 100  # pins per resources/list page
RESOURCE_NOT_FOUND = -32002  # the MCP spec's code for an unknown resource
TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/x-sh",
              "application/toml", "application/yaml", "image/svg+xml")

TEMPLATES = [
    types.ResourceTemplate(uri_template="ipfs://{cid}", name="ipfs content",
                           description="A file (text or blob) or a directory (its JSON listing) by CID"),
    types.ResourceTemplate(uri_template="ipfs://{cid}/{+path}", name="ipfs path",
                           description="A file or directory under a directory CID"),
]


def _model(target: Any) -> Any:
    return getattr(target, "model", target)


def parse_uri(uri: str) -> str:
    """``ipfs://CID/a/b`` -> ``CID/a/b`` (the registry's path form)."""
    if not uri.startswith("ipfs://") or not uri[len("ipfs://"):].strip("/"):
        raise MCPError(types.INVALID_PARAMS, f"not an ipfs:// resource: {uri!r} (expected ipfs://CID or ipfs://CID/PATH)")
    return uri[len("ipfs://"):].strip("/")


def _error(e: IPFSKitError, uri: str) -> MCPError:
    if isinstance(e, NotFound):
        return MCPError(RESOURCE_NOT_FOUND, f"{uri}: {e}", {"uri": uri, "code": e.code})
    return MCPError(types.INVALID_PARAMS, f"{uri}: {e.code}: {e}", {"uri": uri, "code": e.code})


def mime_of(name: str, content_type: str | None) -> str | None:
    if content_type:
        return content_type.split(";")[0].strip().lower()
    return mimetypes.guess_type(name)[0] if name else None


def is_text_type(mime: str) -> bool:
    return mime.startswith("text/") or mime in TEXT_TYPES or mime.endswith(("+json", "+xml"))


async def read(target: Any, caller: Caller, uri: str, limit: int) -> types.ReadResourceResult:
    path = parse_uri(uri)
    try:
        st = await registry.call_typed(target, "stat", {"cid": path}, caller)
        if st.type == "directory":
            listing = await registry.call_typed(target, "ls", {"cid": path}, caller)
            return types.ReadResourceResult(contents=[types.TextResourceContents(
                uri=uri, mime_type="application/json", text=json.dumps(to_json(listing), indent=1))])
        if st.size > limit:
            raise MCPError(types.INVALID_PARAMS, f"{uri} is {st.size} bytes, more than a resource read may return "
                           f"({limit} bytes, mcp.max_resource): read it with the cat tool (offset, length) or "
                           f"over the gateway /ipfs/{path}", {"uri": uri, "size": st.size, "limit": limit})
        md = await asyncio.to_thread(_model(target).index.get_metadata, st.cid)
        name = path.rsplit("/", 1)[-1] if "/" in path else (md.name if md and md.name else "")
        mime = mime_of(name, md.content_type if md else None)
        stream = await registry.call_typed(target, "cat", {"cid": path}, caller)
        data = bytearray()
        async for chunk in stream.chunks:
            data += chunk
    except IPFSKitError as e:
        raise _error(e, uri) from None
    text = decode_text(bytes(data)) if mime is None or is_text_type(mime) else None
    if text is not None:
        return types.ReadResourceResult(contents=[
            types.TextResourceContents(uri=uri, mime_type=mime or "text/plain", text=text)])
    return types.ReadResourceResult(contents=[types.BlobResourceContents(
        uri=uri, mime_type=mime or "application/octet-stream", blob=base64.b64encode(bytes(data)).decode())])


async def list_pins(target: Any, caller: Caller, cursor: str | None) -> types.ListResourcesResult:
    """The pinned roots (recursive and direct pins), PAGE at a time; the cursor is an offset."""
    try:
        start = int(cursor or 0)
        if start < 0:
            raise ValueError
    except ValueError:
        raise MCPError(types.INVALID_PARAMS, f"invalid cursor {cursor!r}") from None
    try:
        pins = await registry.call_typed(target, "pin_ls", {"type": "all"}, caller)
    except IPFSKitError as e:
        raise MCPError(types.INVALID_PARAMS, f"{e.code}: {e}") from None
    roots = sorted(p.cid for p in pins.pins if p.type != "indirect")
    index = _model(target).index
    page = roots[start: start + PAGE]
    metadata = await asyncio.to_thread(lambda: [index.get_metadata(c) for c in page])
    out = []
    for cid, md in zip(page, metadata, strict=True):
        name = md.name if md and md.name else cid
        out.append(types.Resource(uri=uri_of(cid), name=name, size=md.size if md else None,
                                  mime_type=mime_of(md.name or "", md.content_type) if md else None,
                                  description=f"pinned {cid}"))
    more = start + PAGE < len(roots)
    return types.ListResourcesResult(resources=out, next_cursor=str(start + PAGE) if more else None)
