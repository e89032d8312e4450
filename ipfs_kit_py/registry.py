"""The operation registry: the one typed table every channel is generated from.

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

import base64
import binascii
import dataclasses
import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .access import INTERNAL, Caller, Scope, authorize
from .errors import InvalidArgument, LimitExceeded
from .model import IPFSModel

if typing.TYPE_CHECKING:
    from .node import Node

INLINE_LIMIT = 4 << 20  # bytes of content returned inside one JSON answer (base64 adds a third)

P = TypeVar("P")
R = TypeVar("R")
T = TypeVar("T")


# -- parameters ---------------------------------------------------------------------------------
_NO_DEFAULT: Any = dataclasses.MISSING


def param(default: Any = _NO_DEFAULT, *, kubo: str | None = None, flags: tuple[str, ...] = (),
          doc: str = "", minimum: int | None = None) -> Any:
    """A parameter field. ``kubo``: its Kubo option name (``"arg"`` for the positional
    argument; default: the field name with ``-``); ``flags``: Kubo's short names;
    ``minimum``: the smallest integer accepted."""
    meta = {"kubo": kubo, "flags": flags, "doc": doc, "minimum": minimum}
    if isinstance(default, list | dict):
        factory = type(default)
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class Upload:
    """Streamed input: a sequence of entries (files, directories, symlinks, or whole
    CARs), each with its bytes as an async iterator. HTTP fills it from multipart
    parts; /ws from binary frames; JSON channels from a base64 field."""

    entries: AsyncIterator[UploadEntry]

    @classmethod
    def single(cls, data: bytes, name: str = "") -> Upload:
        async def chunks() -> AsyncIterator[bytes]:
            if data:
                yield data

        async def one() -> AsyncIterator[UploadEntry]:
            yield UploadEntry("file", name, chunks())

        return cls(one())


@dataclass(frozen=True, slots=True)
class UploadEntry:
    kind: str  # file, directory, symlink
    name: str
    data: AsyncIterator[bytes]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    kind: type  # str, int, bool, dict, list, bytes, Upload
    optional: bool  # None is accepted
    default: Any
    kubo: str
    flags: tuple[str, ...]
    doc: str
    minimum: int | None

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT


def _spec_of(cls: type) -> tuple[ParamSpec, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        args = typing.get_args(hint)
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
        base = next((a for a in args if a is not type(None)), hint) if optional else hint
        kind = typing.get_origin(base) or base
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else _NO_DEFAULT)
        m = f.metadata
        out.append(ParamSpec(f.name, kind, optional, default, m.get("kubo") or f.name.replace("_", "-"),
                             tuple(m.get("flags") or ()), m.get("doc", ""), m.get("minimum")))
    return tuple(out)


_KIND_NAMES = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object", list: "a list",
               bytes: "base64 text", Upload: "base64 text"}


def params_from_json(op: Operation[Any, Any], obj: Any, supplied: Mapping[str, Any] | None = None) -> Any:
    """The typed parameters from a JSON object (/ws, libp2p mcp), checked strictly;
    ``supplied``: values the channel itself provides (an Upload from binary frames)."""
    if obj is None:
        obj = {}
    if not isinstance(obj, Mapping):
        raise InvalidArgument("params must be a JSON object")
    unknown = sorted(set(obj) - {p.name for p in op.param_specs})
    if unknown:
        raise InvalidArgument(f"unknown parameter(s): {', '.join(unknown)}")
    values: dict[str, Any] = dict(supplied or {})
    for p in op.param_specs:
        if p.name in values:
            continue
        value = obj.get(p.name, _NO_DEFAULT)
        if value is _NO_DEFAULT or (value is None and not p.required):
            if p.required:
                raise InvalidArgument(f"missing parameter {p.name!r}")
            continue
        if value is None and p.optional:
            values[p.name] = None
            continue
        values[p.name] = _check_json(p, value)
    return op.params(**values)


def _check_json(p: ParamSpec, value: Any) -> Any:
    if p.kind in (bytes, Upload):
        if not isinstance(value, str):
            raise InvalidArgument(f"parameter {p.name!r} must be base64 text")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"parameter {p.name!r} is not valid base64") from None
        return data if p.kind is bytes else Upload.single(data)
    # bool is an int in Python; JSON true is never a number here
    if (isinstance(value, bool) and p.kind is not bool) or not isinstance(value, p.kind):
        raise InvalidArgument(f"parameter {p.name!r} must be {_KIND_NAMES.get(p.kind, p.kind.__name__)}")
    if p.kind is int and p.minimum is not None and value < p.minimum:
        raise InvalidArgument(f"parameter {p.name!r} must be >= {p.minimum}"
                              if p.minimum else f"parameter {p.name!r} must not be negative")
    return value


# -- results ------------------------------------------------------------------------------------
@dataclass(slots=True)
class ByteStream:
    """A streamed binary result. ``size`` is known up front when it can be (cat),
    so a channel with a size limit refuses before sending anything."""

    chunks: AsyncIterator[bytes]
    media_type: str = "application/octet-stream"
    cid: str = ""
    size: int | None = None


@dataclass(slots=True)
class ItemStream(Generic[T]):
    """A streamed result of typed items (add's progress and added entries)."""

    items: AsyncIterator[T]


def to_json(value: Any) -> Any:
    """The typed result as /ws and libp2p mcp send it: dataclass fields as keys,
    bytes as base64, CIDs as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# -- the Kubo RPC mapping -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NDJSON:
    """A Kubo answer of newline-delimited JSON objects (streamed as they come)."""

    lines: AsyncIterator[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Bytes:
    """A Kubo answer that is a byte stream (cat, get, dag/export, block/get)."""

    chunks: AsyncIterator[bytes]
    media_type: str = "application/octet-stream"
    streamed: bool = True  # Kubo's X-Stream-Output header


class KuboArgs(typing.Protocol):
    """What a Kubo query offers (``server.rpc_wire.Args``)."""

    def args(self) -> list[str]: ...
    def bool(self, *names: str, default: bool | None = False) -> bool | None: ...
    def int(self, *names: str, default: int | None = None, minimum: int | None = 0) -> int | None: ...
    def str(self, *names: str, default: str | None = None) -> str | None: ...


# A call of the operation from inside a Kubo adapter: params dict -> typed result (authorized).
Invoke = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Kubo:
    """How an operation appears on Kubo's ``/api/v0``.

    ``path``: under /api/v0. ``shape(result, args)``: the typed result -> Kubo's JSON
    object, :class:`NDJSON` or :class:`Bytes` (``args``: the query, for Kubo's
    presentation flags such as ``quiet``). ``each_arg``: run the operation once per
    ``arg`` and give ``shape`` the list of results. ``body``: ``"files"`` (multipart
    upload -> the Upload field), ``"json"`` (a JSON object -> the field named by
    ``body_field``). ``options``: Kubo options read by ``shape`` or ``check``
    (documented in the OpenAPI schema). ``check(args)``: refuse options this
    server does not support before anything runs. ``run``: the whole adapter, for
    the few commands whose Kubo form is several calls (block/put with one block per
    part, dag/import pinning after every part, block/rm reporting per block).
    """

    path: str
    shape: Callable[[Any, KuboArgs], Any] | None = None
    each_arg: bool = False
    body: str = ""
    body_field: str = ""
    options: tuple[tuple[str, str, str], ...] = ()  # (name, type, description)
    check: Callable[[KuboArgs], None] | None = None
    run: Callable[[Invoke, KuboArgs, Upload | None], Awaitable[Any]] | None = None
    arg_doc: str = "IPFS path or CID"


# -- operations ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Context:
    """What an operation runs against: the model, and the node when there is one
    (operations of the node's services need it)."""

    model: IPFSModel
    node: Node | None
    caller: Caller

    def service(self, name: str) -> Any:
        from .errors import ChannelUnavailable

        svc = self.node.services.get(name) if self.node is not None else None
        if svc is None:
            raise ChannelUnavailable(f"{name} is not running on this node")
        return svc


@dataclass(frozen=True)
class Operation(Generic[P, R]):
    name: str
    params: type[P]
    result: Any  # the result type (a dataclass, ByteStream or ItemStream)
    scope: Scope
    summary: str
    run: Callable[[Context, P], Awaitable[R]]
    kubo: Kubo | None = None
    cli: str | None = None  # the ipfs-kit command, e.g. "cid format"
    ws: bool = True  # offered on /ws
    libp2p: bool = True  # offered on /ipfs-kit/mcp/1.0.0
    frames: bool = False  # on /ws, its Upload arrives as binary frames after the request
    json_result: Callable[[Any], Awaitable[Any]] | None = None  # a stream -> one JSON answer (non-streaming channels)
    cli_text: Callable[[dict[str, Any]], str] | None = None  # a generated CLI command's line per Kubo object

    @property
    def param_specs(self) -> tuple[ParamSpec, ...]:
        return _SPECS.setdefault(self.params, _spec_of(self.params))

    @property
    def upload_field(self) -> str | None:
        return next((p.name for p in self.param_specs if p.kind is Upload), None)

    @property
    def data_field(self) -> str | None:
        """The parameter that carries the request's bytes (an Upload, or bytes; base64 in JSON)."""
        return next((p.name for p in self.param_specs if p.kind in (Upload, bytes)), None)

    @property
    def channels(self) -> frozenset[str]:
        out = {c for c, on in (("ws", self.ws), ("libp2p", self.libp2p), ("http", self.kubo is not None),
                               ("cli", self.cli is not None)) if on}
        return frozenset(out)


_SPECS: dict[type, tuple[ParamSpec, ...]] = {}


def _target(target: IPFSModel | Node) -> tuple[IPFSModel, Node | None]:
    if isinstance(target, IPFSModel):
        return target, None
    return target.model, target


def get(name: Any) -> Operation[Any, Any]:
    op = OPERATIONS.get(name) if isinstance(name, str) else None
    if op is None:
        raise InvalidArgument(f"unknown operation {name!r}")
    return op


async def call_typed(target: IPFSModel | Node, name: str, params: Any, caller: Caller = INTERNAL) -> Any:
    """Run operation ``name`` with typed (or JSON) parameters for ``caller``; the typed result.
    Authorization happens here, once, for every channel."""
    op = get(name)
    authorize(caller, op.scope, op.name)
    if not isinstance(params, op.params):
        params = params_from_json(op, params)
    model, node = _target(target)
    return await op.run(Context(model, node, caller), params)


async def call(target: IPFSModel | Node, name: str, params: Any = None, caller: Caller = INTERNAL,
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


@dataclass(frozen=True, slots=True)
class Content:
    """Bytes returned inline (base64 in JSON): ``cat``/``get_content`` over libp2p mcp."""

    cid: str
    size: int
    content: bytes


async def gather(stream: ByteStream, limit: int) -> Content:
    if stream.size is not None and stream.size > limit:
        await _close(stream.chunks)
        raise LimitExceeded(f"{stream.size} bytes exceed this channel's limit of {limit}: use the HTTP gateway")
    data = bytearray()
    async for chunk in stream.chunks:
        data += chunk
        if len(data) > limit:
            await _close(stream.chunks)
            raise LimitExceeded(f"more than {limit} bytes: use the HTTP gateway or a streaming channel")
    return Content(stream.cid, len(data), bytes(data))


async def _close(it: AsyncIterator[bytes]) -> None:
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


async def kubo_call(op: Operation[Any, Any], target: IPFSModel | Node, caller: Caller, a: KuboArgs,
                    upload: Upload | None = None, json_body: Any = None) -> Any:
    """Run ``op`` as its Kubo command: parameters from Kubo's query ``a`` (by Kubo's
    rules), the multipart ``upload`` or ``json_body`` for its body; returns what
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
        params[kubo.body_field] = json_body if json_body is not None else {}
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
        kubo = f"`{op.kubo.path}`" if op.kubo else ""
        cli = f"`{op.cli}`" if op.cli else ""
        lines.append(f"| `{name}` | {op.scope.value} | {', '.join(params) or 'none'} | {_result_text(op)} "
                     f"| {kubo} | {cli} |")
    return "\n".join(lines) + "\n"


def json_default(value: Any) -> str:
    import json

    return json.dumps(value)


def names(channel: str | None = None) -> list[str]:
    return sorted(n for n, op in OPERATIONS.items() if channel is None or channel in op.channels)


from .ops import OPS  # noqa: E402 - the operations use the types above

OPERATIONS: dict[str, Operation[Any, Any]] = {op.name: op for op in OPS}
READ_ONLY = frozenset(n for n, op in OPERATIONS.items() if op.scope is Scope.READ)
MUTATING = frozenset(n for n, op in OPERATIONS.items() if op.scope is not Scope.READ)
