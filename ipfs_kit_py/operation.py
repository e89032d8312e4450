"""The types an operation is made of: its parameters (:func:`param`, :class:`Upload`),
its streamed results (:class:`ByteStream`, :class:`ItemStream`), its Kubo mapping
(:class:`Kubo`) and :class:`Operation` itself, with the strict JSON parameter
check and the JSON form of a typed result. The table of operations and the call
path are in :mod:`ipfs_kit_py.registry`; the operations in ``ipfs_kit_py/ops/``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .access import Caller, Scope
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
    if p.kind is int and p.minimum is not None and isinstance(value, int) and value < p.minimum:
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
    ``aliases``: other paths that serve the same command.
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
    aliases: tuple[str, ...] = ()  # further paths of the same command (Kubo's legacy dht/*, stats/provide)

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path, *self.aliases)


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
    # a generated CLI command's text per Kubo object; called with (obj, verbose=...) when the
    # operation has a ``verbose`` parameter; bytes are written as they are (routing get)
    cli_text: Callable[..., str | bytes] | None = None

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
        # admin operations are not offered over libp2p (peers hold read, or write on the allowlist)
        libp2p = self.libp2p and self.scope is not Scope.ADMIN
        out = {c for c, on in (("ws", self.ws), ("libp2p", libp2p), ("http", self.kubo is not None),
                               ("cli", self.cli is not None)) if on}
        return frozenset(out)


_SPECS: dict[type, tuple[ParamSpec, ...]] = {}



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


async def decoupled(items: AsyncIterator[T]) -> AsyncIterator[T]:
    """``items``, produced by a task of their own: the producer never waits for the
    consumer (the items queue up), only the other way round."""
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in items:
                queue.put_nowait(("item", item))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            queue.put_nowait(("error", e))
            if isinstance(e, asyncio.CancelledError):
                raise
        else:
            queue.put_nowait(("end", None))

    task = asyncio.create_task(pump())
    try:
        while True:
            kind, value = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
