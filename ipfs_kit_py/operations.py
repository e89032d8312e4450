"""The request/response operations every message channel shares.

One table, ``OPERATIONS``: operation name -> :class:`Operation` (an async
function ``(model, params) -> JSON-able result`` plus the scope it needs:
read, write or admin). The WebSocket general channel ``/ws`` and the libp2p
protocols dispatch through :func:`call`, which authorizes the caller
(:func:`ipfs_kit_py.access.authorize`) before it runs anything, so an
operation is written once, and every one of them calls
:class:`~ipfs_kit_py.model.IPFSModel`.

Parameters are a flat JSON object, checked strictly: a missing or mistyped
field, or one the operation does not know, raises
:class:`~ipfs_kit_py.errors.InvalidArgument`; model errors (``NotFound``,
``InvalidCID``, ...) pass through unchanged. Binary data travels as base64
(standard alphabet, padded) in the ``content``/``data`` fields.

``content``-returning operations (``cat``, ``get_content``) are bounded by
``INLINE_LIMIT`` bytes; larger content belongs to a streaming channel (the
HTTP gateway, or ``cat`` on ``/ws``, which sends binary frames through
:func:`open_content`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import __version__
from .access import Caller, Scope, authorize
from .errors import InvalidArgument, LimitExceeded
from .model import AddOptions, IPFSModel

INLINE_LIMIT = 4 << 20  # bytes of content returned inside one JSON answer (base64 adds a third)

Params = Mapping[str, Any]
Handler = Callable[[IPFSModel, Params], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    handler: Handler
    scope: Scope  # what a caller needs to run it (access.authorize)
    summary: str

    @property
    def mutating(self) -> bool:
        """Changes pins, metadata or stored blocks (needs more than read)."""
        return self.scope > Scope.READ


# -- parameter checking ---------------------------------------------------------------------
_MISSING = object()


def _check(params: Any, allowed: set[str]) -> Params:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidArgument("params must be a JSON object")
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidArgument(f"unknown parameter(s): {', '.join(unknown)}")
    return params


def _get(params: Params, name: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
    value = params.get(name, _MISSING)
    if value is _MISSING or (value is None and default is not _MISSING):
        if default is _MISSING:
            raise InvalidArgument(f"missing parameter {name!r}")
        return default
    # bool is an int in Python; JSON true is never a number here
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise InvalidArgument(f"parameter {name!r} must be {_kind_name(kind)}")
    if not isinstance(value, kind):
        raise InvalidArgument(f"parameter {name!r} must be {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _nonneg(params: Params, name: str, default: Any = _MISSING) -> Any:
    value = _get(params, name, int, default)
    if value is not None and value < 0:
        raise InvalidArgument(f"parameter {name!r} must not be negative")
    return value


def _b64(params: Params, name: str) -> bytes:
    text = _get(params, name, str)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"parameter {name!r} is not valid base64") from None


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- content streaming (shared by cat, get_content and /ws binary frames) ---------------------------
async def open_content(
    model: IPFSModel, params: Any, limit: int
) -> tuple[str, int, AsyncIterator[bytes]]:
    """Check ``{"cid", "offset"?, "length"?}`` and return (cid, bytes to come, chunks).
    Raises LimitExceeded when more than ``limit`` bytes would be sent."""
    p = _check(params, {"cid", "offset", "length"})
    path = _get(p, "cid", str)
    offset = _nonneg(p, "offset", 0)
    length = _nonneg(p, "length", None)
    st = await model.stat(path)
    if st.type == "directory":
        raise InvalidArgument(f"{path} is a directory: use ls")
    size = max(0, st.size - offset)
    if length is not None:
        size = min(size, length)
    if size > limit:
        raise LimitExceeded(f"{size} bytes exceed this channel's limit of {limit}: use the HTTP gateway")
    return str(st.cid), size, model.cat(st.cid, offset, length, chunk_size=256 << 10)


async def _read_inline(model: IPFSModel, params: Params) -> dict[str, Any]:
    cid, size, chunks = await open_content(model, params, INLINE_LIMIT)
    data = bytearray()
    async for chunk in chunks:
        data += chunk
    return {"cid": cid, "size": len(data), "content": _encode(bytes(data))}


# -- the operations ---------------------------------------------------------------------------
async def op_ls(model: IPFSModel, params: Params) -> dict[str, Any]:
    p = _check(params, {"cid"})
    path = _get(p, "cid", str)
    cid = await asyncio.to_thread(model.resolve, path)
    entries = await model.ls(cid)
    return {"cid": str(cid), "links": [e.to_dict() for e in entries]}


async def op_stat(model: IPFSModel, params: Params) -> dict[str, Any]:
    p = _check(params, {"cid"})
    return (await model.stat(_get(p, "cid", str))).to_dict()


async def op_pin_add(model: IPFSModel, params: Params) -> dict[str, Any]:
    p = _check(params, {"cid", "recursive"})
    cid = await model.pin_add(_get(p, "cid", str), recursive=_get(p, "recursive", bool, True))
    return {"pins": [str(cid)]}


async def op_pin_rm(model: IPFSModel, params: Params) -> dict[str, Any]:
    p = _check(params, {"cid"})
    cid = await model.pin_rm(_get(p, "cid", str))
    return {"pins": [str(cid)]}


async def op_pin_ls(model: IPFSModel, params: Params) -> dict[str, Any]:
    p = _check(params, {"cid", "type"})
    pins = await model.pin_ls(_get(p, "type", str, "all"), _get(p, "cid", str, None))
    return {"Keys": {cid: {"Type": type_} for cid, type_ in pins}}


async def op_metadata_get(model: IPFSModel, params: Params) -> dict[str, Any]:
    p = _check(params, {"cid"})
    return (await model.metadata_get(_get(p, "cid", str))).to_dict()


async def op_metadata_set(model: IPFSModel, params: Params) -> dict[str, Any]:
    p = _check(params, {"cid", "values", "replace"})
    md = await model.metadata_set(_get(p, "cid", str), _get(p, "values", dict), _get(p, "replace", bool, False))
    return md.to_dict()


async def op_cat(model: IPFSModel, params: Params) -> dict[str, Any]:
    return await _read_inline(model, params)


async def op_get_content(model: IPFSModel, params: Params) -> dict[str, Any]:
    # the seed's libp2p form: {"action": "get_content", "cid": ...} -> {"cid", "size", "content"}
    return await _read_inline(model, _check(params, {"cid"}))


async def op_add(model: IPFSModel, params: Params) -> dict[str, Any]:
    p = _check(params, {"content", "name", "pin", "profile", "cid_version", "raw_leaves", "only_hash"})
    data = _b64(p, "content")
    cid_version = _get(p, "cid_version", int, None)
    if cid_version not in (None, 0, 1):
        raise InvalidArgument("parameter 'cid_version' must be 0 or 1")
    options = AddOptions(
        profile=_get(p, "profile", str, None), cid_version=cid_version,
        raw_leaves=_get(p, "raw_leaves", bool, None), pin=_get(p, "pin", bool, True),
        only_hash=_get(p, "only_hash", bool, False),
    )
    result = await model.add_bytes(data, _get(p, "name", str, ""), options)
    return {"cid": str(result.cid), "name": result.name, "size": result.size, "cumulative_size": result.tsize}


async def op_id(model: IPFSModel, params: Params) -> dict[str, Any]:
    _check(params, set())
    return {"AgentVersion": f"ipfs-kit-py/{__version__}", "Operations": sorted(OPERATIONS)}


async def op_version(model: IPFSModel, params: Params) -> dict[str, Any]:
    _check(params, set())
    return {"Version": __version__, "System": "python"}


async def op_gc(model: IPFSModel, params: Params) -> dict[str, Any]:
    _check(params, set())
    result = await model.gc()
    return {"removed": [str(c) for c in result.removed], "incomplete": [p.to_dict() for p in result.incomplete]}


async def op_block_get(model: IPFSModel, params: Params) -> dict[str, Any]:
    p = _check(params, {"cid"})
    cid = _get(p, "cid", str)
    data = await model.block_get(cid)
    return {"cid": cid, "size": len(data), "data": _encode(data)}


async def op_block_put(model: IPFSModel, params: Params) -> dict[str, Any]:
    p = _check(params, {"data", "codec", "cid_version", "pin"})
    data = _b64(p, "data")
    cid = await model.block_put(
        data, codec=_get(p, "codec", str, "raw"), cid_version=_get(p, "cid_version", int, 1),
        pin=_get(p, "pin", bool, False),
    )
    return {"cid": str(cid), "size": len(data)}


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in [
        Operation("ls", op_ls, Scope.READ, "links of a directory: {cid}"),
        Operation("stat", op_stat, Scope.READ, "type and sizes: {cid}"),
        Operation("pin_add", op_pin_add, Scope.WRITE, "pin: {cid, recursive=true}"),
        Operation("pin_rm", op_pin_rm, Scope.WRITE, "unpin: {cid}"),
        Operation("pin_ls", op_pin_ls, Scope.READ, "pins: {type=all, cid?}"),
        Operation("metadata_get", op_metadata_get, Scope.READ, "metadata of content: {cid}"),
        Operation("metadata_set", op_metadata_set, Scope.WRITE, "merge user metadata: {cid, values, replace=false}"),
        Operation("cat", op_cat, Scope.READ, "file bytes, base64: {cid, offset=0, length?}"),
        Operation("get_content", op_get_content, Scope.READ, "file bytes, base64: {cid}"),
        Operation("add", op_add, Scope.WRITE, "add base64 content: {content, name?, pin=true, profile?, cid_version?, raw_leaves?, only_hash?}"),
        Operation("id", op_id, Scope.READ, "agent version and operations"),
        Operation("version", op_version, Scope.READ, "server version"),
        Operation("gc", op_gc, Scope.ADMIN, "remove unpinned blocks"),
        Operation("block_get", op_block_get, Scope.READ, "raw block, base64: {cid}"),
        Operation("block_put", op_block_put, Scope.WRITE, "store a raw block: {data, codec=raw, cid_version=1, pin=false}"),
    ]
}

READ_ONLY = frozenset(name for name, op in OPERATIONS.items() if not op.mutating)
MUTATING = frozenset(name for name, op in OPERATIONS.items() if op.mutating)


async def call(model: IPFSModel, name: str, params: Any, caller: Caller) -> Any:
    """Run operation ``name`` for ``caller``: unknown names raise InvalidArgument, a
    caller without the operation's scope raises Forbidden (before anything runs)."""
    op = OPERATIONS.get(name) if isinstance(name, str) else None
    if op is None:
        raise InvalidArgument(f"unknown operation {name!r}")
    authorize(caller, op.scope, name)
    if params is not None and not isinstance(params, Mapping):
        raise InvalidArgument("params must be a JSON object")
    return await op.handler(model, params or {})
