"""The operation registry: the one typed table every channel is generated from, and
its call path (the types an operation is made of are in :mod:`ipfs_kit_py.operation`).

Each :class:`Operation` declares

- ``params``: a dataclass; its fields are the parameters (names as /ws and libp2p
  mcp spell them), their types and defaults; field metadata made by :func:`param`
  adds Kubo's option name and short flags, and the one-line doc;
- ``result``: the typed result (a dataclass from :mod:`ipfs_kit_py.types` or
  below), or a stream: :class:`ByteStream` (cat, get, dag export) or
  :class:`ItemStream` (add with progress);
- ``scope``: read / write / admin (:mod:`ipfs_kit_py.access`), checked once by
  :func:`call` against the :class:`~ipfs_kit_py.access.Caller` the channel fills in;
- ``summary``: one line;
- ``kubo``: its Kubo RPC mapping, if it has one (:class:`Kubo`: the
  ``/api/v0`` path, how the typed result becomes Kubo's JSON, NDJSON or bytes);
- ``cli``: the ``ipfs-kit`` command that runs it, where there is one.

The channels are adapters over this table: ``server/http_api.py`` generates the
``/api/v0`` routes from ``kubo``, ``server/ws_hub.py`` and
``p2p/mcp_protocol.py`` take requests by operation name and answer with
:func:`to_json` of the typed result, and ``cli.py`` declares its commands here.
Parameters from JSON channels are checked strictly (a missing, mistyped or
unknown field raises :class:`~ipfs_kit_py.errors.InvalidArgument`); from Kubo
query strings by Kubo's rules (``?pin=maybe`` is a 400, like every bad flag).
The operations themselves live in ``ipfs_kit_py/ops/``; adding one is one
function plus one table entry there (``docs/architecture.md``).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .access import LOCAL, Caller, Scope, authorize
from .errors import InvalidArgument
from .model import IPFSModel
from .operation import (  # noqa: F401 - the registry's vocabulary, re-exported for every channel
    _NO_DEFAULT,
    INLINE_LIMIT,
    NDJSON,
    Bytes,
    ByteStream,
    Content,
    Context,
    Invoke,
    ItemStream,
    Kubo,
    KuboArgs,
    Operation,
    ParamSpec,
    Upload,
    UploadEntry,
    gather,
    param,
    params_from_json,
    to_json,
)
from .ops import OPS

if typing.TYPE_CHECKING:
    from .node import Node

OPERATIONS: dict[str, Operation[Any, Any]] = {op.name: op for op in OPS}
READ_ONLY = frozenset(n for n, op in OPERATIONS.items() if op.scope is Scope.READ)
MUTATING = frozenset(n for n, op in OPERATIONS.items() if op.scope is not Scope.READ)


def _target(target: IPFSModel | Node) -> tuple[IPFSModel, Node | None]:
    if isinstance(target, IPFSModel):
        return target, None
    return target.model, target


def get(name: Any) -> Operation[Any, Any]:
    op = OPERATIONS.get(name) if isinstance(name, str) else None
    if op is None:
        raise InvalidArgument(f"unknown operation {name!r}")
    return op


async def call_typed(target: IPFSModel | Node, name: str, params: Any, caller: Caller = LOCAL,
                     supplied: Mapping[str, Any] | None = None) -> Any:
    """Run operation ``name`` with typed (or JSON) parameters for ``caller``; the typed result.
    Authorization happens here, once, for every channel, before anything is parsed or run.
    ``supplied``: parameters the channel provides itself (an Upload of binary frames)."""
    op = get(name)
    authorize(caller, op.scope, op.name)
    if not isinstance(params, op.params):
        params = params_from_json(op, params, supplied)
    model, node = _target(target)
    return await op.run(Context(model, node, caller), params)


async def call(target: IPFSModel | Node, name: str, params: Any = None, caller: Caller = LOCAL,
               limit: int = INLINE_LIMIT) -> Any:
    """Run ``name`` and return its JSON answer (what /ws and libp2p mcp send);
    streamed results are gathered up to ``limit`` bytes."""
    op = get(name)
    return await json_answer(op, await call_typed(target, name, params, caller), limit)


async def json_answer(op: Operation[Any, Any], result: Any, limit: int = INLINE_LIMIT) -> Any:
    if op.json_result is not None:
        return to_json(await op.json_result(result))
    if isinstance(result, ByteStream):
        return to_json(await gather(result, limit))
    return to_json(result)


async def kubo_call(op: Operation[Any, Any], target: IPFSModel | Node, caller: Caller, a: KuboArgs,
                    upload: Upload | None = None, json_body: Callable[[], Awaitable[Any]] | None = None) -> Any:
    """Run ``op`` as its Kubo command: parameters from Kubo's query ``a`` (by Kubo's
    rules), the multipart ``upload`` or ``json_body()`` (read only once the caller is
    authorized) for its body; returns what
    ``Kubo.shape`` / ``Kubo.run`` make of the typed result (a JSON object, NDJSON
    or Bytes). The HTTP API and the CLI's generated commands both use it."""
    kubo = op.kubo
    if kubo is None:
        raise InvalidArgument(f"{op.name} has no Kubo command")
    authorize(caller, op.scope, op.name)  # before any body is read (call_typed checks again)
    if kubo.check is not None:
        kubo.check(a)

    async def invoke(params: dict[str, Any]) -> Any:
        return await call_typed(target, op.name, op.params(**params), caller)

    if kubo.run is not None:
        return await kubo.run(invoke, a, upload)
    params = kubo_params(op, a)
    if kubo.body == "files":
        params[op.upload_field or ""] = upload
    elif kubo.body == "json":
        params[kubo.body_field] = await json_body() if json_body is not None else {}
    assert kubo.shape is not None
    if kubo.each_arg:
        spec = next(p for p in op.param_specs if p.kubo == "arg")
        values: list[str | None] = [v.strip() for v in a.args() if v.strip()]
        if not values:
            if spec.required:
                raise InvalidArgument(f'argument "{spec.name}" is required')
            values = [None]
        results = [await invoke({**params, spec.name: v} if v is not None else params) for v in values]
        return kubo.shape(results, a)
    return kubo.shape(await invoke(params), a)


def kubo_params(op: Operation[Any, Any], a: KuboArgs) -> dict[str, Any]:
    """The operation's parameters from Kubo's query, by Kubo's rules."""
    kubo = op.kubo
    assert kubo is not None
    out: dict[str, Any] = {}
    for p in op.param_specs:
        if p.kind in (Upload, bytes, dict) or (p.kubo == "arg" and kubo.each_arg):
            continue
        if p.kubo == "arg":
            values = a.args()
            value: Any = values[0].strip() if values and values[0].strip() else None
        elif p.kind is bool:
            value = a.bool(p.kubo, *p.flags, default=None)
        elif p.kind is int:
            value = a.int(p.kubo, *p.flags, minimum=p.minimum)
        else:
            value = a.str(p.kubo, *p.flags)
        if value is None:
            if p.required:
                raise InvalidArgument(f'argument "{p.name if p.kubo == "arg" else p.kubo}" is required')
            continue
        out[p.name] = value
    return out


def _type_text(kind: Any) -> str:
    if kind is Upload:
        return "upload"
    if kind is bytes:
        return "base64"
    return {str: "string", int: "integer", bool: "boolean", dict: "object", list: "list"}.get(kind, str(kind))


def _result_text(op: Operation[Any, Any]) -> str:
    result = op.result
    if op.json_result is not None:
        result = typing.get_type_hints(op.json_result).get("return", result)
    if result is ByteStream:
        return "bytes, streamed (/ws: binary frames; libp2p: `{cid, size, content}` base64)"
    if dataclasses.is_dataclass(result):
        return "`{" + ", ".join(f.name for f in dataclasses.fields(result)) + "}`"
    return getattr(result, "__name__", str(result))


def render_operations_doc() -> str:
    """The operation table of docs/protocols.md (tests/test_docs.py keeps it current)."""
    lines = ["| operation | scope | parameters | result (/ws, libp2p mcp) | Kubo RPC | CLI |",
             "|---|---|---|---|---|---|"]
    for name in names():
        op = OPERATIONS[name]
        params = []
        for p in op.param_specs:
            text = f"`{p.name}` {_type_text(p.kind)}"
            if not p.required:
                text += f" = {json_default(p.default)}"
            params.append(text)
        kubo = ", ".join(f"`{path}`" for path in op.kubo.paths) if op.kubo else ""
        cli = f"`{op.cli}`" if op.cli else ""
        lines.append(f"| `{name}` | {op.scope.value} | {', '.join(params) or 'none'} | {_result_text(op)} "
                     f"| {kubo} | {cli} |")
    return "\n".join(lines) + "\n"


def json_default(value: Any) -> str:
    import json

    return json.dumps(value)


def names(channel: str | None = None) -> list[str]:
    return sorted(n for n, op in OPERATIONS.items() if channel is None or channel in op.channels)




def write_operations_doc(path: str = "docs/protocols.md") -> None:
    """Regenerate the operation table between the markers of ``path``
    (``python -m ipfs_kit_py.registry``)."""
    from pathlib import Path

    doc = Path(path).read_text()
    begin, end = "<!-- operations:begin -->\n", "<!-- operations:end -->"
    start, stop = doc.index(begin) + len(begin), doc.index(end)
    Path(path).write_text(doc[:start] + render_operations_doc() + doc[stop:])


if __name__ == "__main__":
    write_operations_doc()
