"""IPLD DAG operations (Kubo's ``ipfs dag``): ``dag/put`` (dag-cbor, dag-json,
dag-pb, raw in and out, any of Kubo's hash functions), ``dag/get`` (paths through
links, ``output-codec``), ``dag/resolve`` and ``dag/stat``. The codecs and paths
are ``content/ipld.py``; blocks the repo lacks are fetched on the way.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..access import Scope
from ..content import dag, ipld
from ..content.cid import CID, HASHES
from ..errors import InvalidArgument, InvalidCID
from ..operation import NDJSON, Bytes, Context, Invoke, Kubo, KuboArgs, Operation, Upload, param

MAX_BLOCK = 1 << 20  # Kubo's limit for a block it will exchange (dag put --allow-big-block lifts it)
MAX_BIG_BLOCK = 4 << 20  # what this server takes even then
HASH_CHOICES = ", ".join(name for name, _ in HASHES.values())
T = TypeVar("T")


# -- dag/put --------------------------------------------------------------------------------------
@dataclass
class DagPutParams:
    data: bytes = param(kubo="file", doc="the object in the input codec (HTTP: one multipart part per object)")
    store_codec: str = param("dag-cbor", doc="codec of the stored block: dag-cbor, dag-json, dag-pb, raw")
    input_codec: str = param("dag-json", doc="codec the input is in: dag-json, dag-cbor, dag-pb, raw")
    pin: bool = param(False, doc="pin the object (recursively)")
    hash: str = param("sha2-256", doc=f"hash function: {HASH_CHOICES}")
    allow_big_block: bool = param(False, doc="allow a block over 1 MiB (up to 4 MiB here)")


@dataclass(frozen=True, slots=True)
class DagPut:
    cid: str
    size: int


def _codec(name: str, what: str) -> str:
    if name not in ipld.CODECS:
        raise InvalidArgument(f"unsupported {what} {name!r}: dag-cbor, dag-json, dag-pb or raw")
    return name


async def dag_put(ctx: Context, p: DagPutParams) -> DagPut:
    store_codec, input_codec = _codec(p.store_codec, "store-codec"), _codec(p.input_codec, "input-codec")
    limit = MAX_BIG_BLOCK if p.allow_big_block else MAX_BLOCK
    if len(p.data) > MAX_BIG_BLOCK:
        raise InvalidArgument(f"the input is over {MAX_BIG_BLOCK} bytes")
    value = ipld.decode(input_codec, p.data)
    block = ipld.encode(store_codec, value)
    if len(block) > limit:
        raise InvalidArgument(f"produced block is over {limit >> 20}MiB: big blocks can't be exchanged with "
                              "other peers. consider using UnixFS for automatic chunking of bigger files, "
                              "or pass --allow-big-block to override")
    try:
        cid = CID.hash_with(block, ipld.CODECS[store_codec], p.hash)
    except InvalidCID as e:
        raise InvalidArgument(str(e)) from None
    model = ctx.model
    async with model.gc_guard():  # from the write until the pin
        await model.in_reader(model.store.put, cid, block)
        if p.pin:
            await model.pin_add(cid, recursive=True)
    return DagPut(str(cid), len(block))


async def _kubo_dag_put(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> NDJSON:
    """One ``{"Cid": {"/": ...}}`` line per multipart part, as Kubo."""
    opts = {"store_codec": a.str("store-codec", default="dag-cbor") or "dag-cbor",
            "input_codec": a.str("input-codec", default="dag-json") or "dag-json",
            "pin": bool(a.bool("pin")), "hash": a.str("hash", default="sha2-256") or "sha2-256",
            "allow_big_block": bool(a.bool("allow-big-block"))}
    if upload is None:
        raise InvalidArgument("no object in the request body (expected a multipart part)")
    out = []
    async for entry in upload.entries:
        buf = bytearray()
        async for piece in entry.data:
            buf += piece
            if len(buf) > MAX_BIG_BLOCK:
                raise InvalidArgument(f"the input is over {MAX_BIG_BLOCK} bytes")
        r = await invoke({**opts, "data": bytes(buf)})
        out.append({"Cid": {"/": r.cid}})
    if not out:
        raise InvalidArgument("no object in the request body (expected a multipart part)")

    async def lines() -> AsyncIterator[dict[str, Any]]:
        for line in out:
            yield line

    return NDJSON(lines())


# -- dag/get, dag/resolve ------------------------------------------------------------------------------
@dataclass
class DagGetParams:
    path: str = param(kubo="arg", doc="an /ipfs/ path or a CID, with a path inside (links are followed)")
    output_codec: str = param("dag-json", doc="dag-json, dag-cbor; raw or dag-pb for blocks of that codec")


@dataclass(frozen=True, slots=True)
class DagNode:
    cid: str  # the block the path ends in
    node: Any  # the value, as dag-json (JSON)
    data: bytes  # the value in the output codec


async def _locate(ctx: Context, path: str) -> tuple[CID, list[str], Any]:
    root, segments = ipld.split(path)
    async with ctx.model.reading("dag", root) as op:
        def run() -> tuple[CID, list[str], Any]:
            cid, rest = ipld.resolve(op.fetching_store, root, segments)
            return cid, rest, ipld.value_at(op.fetching_store, cid, rest)

        return await ctx.model.in_reader(run)


async def dag_get(ctx: Context, p: DagGetParams) -> DagNode:
    codec = p.output_codec
    if codec not in ipld.CODECS:
        raise InvalidArgument(f"unsupported output-codec {codec!r}: dag-json, dag-cbor, raw, dag-pb")
    cid, rest, value = await _locate(ctx, p.path)
    if codec in ("raw", "dag-pb") and (rest or ipld.CODEC_OF.get(cid.codec) != codec):
        raise InvalidArgument(f"output-codec {codec} gives a {codec} block as it is; "
                              f"{cid} is {cid.codec_name}: use dag-json or dag-cbor")
    if codec in ("raw", "dag-pb"):
        data = await ctx.model.in_reader(ctx.model.store.get, cid)
    else:
        data = ipld.encode(codec, value)
    as_json = data if codec == "dag-json" else ipld.encode("dag-json", value)
    return DagNode(str(cid), json.loads(as_json), data)


def _kubo_dag_get(r: DagNode, a: KuboArgs) -> Bytes:
    async def one() -> AsyncIterator[bytes]:
        yield r.data

    return Bytes(one(), "text/plain")


@dataclass
class PathParams:
    path: str = param(kubo="arg", doc="an /ipfs/ path or a CID, with a path inside")


@dataclass(frozen=True, slots=True)
class DagResolved:
    cid: str
    rem_path: str


async def dag_resolve(ctx: Context, p: PathParams) -> DagResolved:
    cid, rest, _ = await _locate(ctx, p.path)
    return DagResolved(str(cid), "/" + "/".join(rest) if rest else "")


# -- dag/stat -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DagStats:
    cid: str
    size: int
    num_blocks: int


# set by dag/stat (Kubo's adapter) around one call: the walk hands over each batch of
# blocks it visited, (root, [(block, size), ...]), and waits until it is taken
StatBatch = tuple[CID, list[tuple[CID, int]]]
_stat_progress: contextvars.ContextVar[Callable[[StatBatch], Awaitable[None]] | None] = \
    contextvars.ContextVar("ipfs_kit_dag_stat_progress", default=None)
STAT_BATCH = 256  # blocks visited in the reader pool between two hand-overs
STAT_BATCH_SECONDS = 0.1  # ... or this long, whichever comes first


async def dag_stat(ctx: Context, p: PathParams) -> DagStats:
    cid, rest, _ = await _locate(ctx, p.path)
    if rest:
        raise InvalidArgument(f"{p.path} ends inside block {cid}, not at a block")
    store, report = ctx.model.store, _stat_progress.get()
    walk = dag.walk(store, cid)  # depth first, each block once: Kubo's order

    def batch() -> list[tuple[CID, int]]:
        out: list[tuple[CID, int]] = []
        deadline = time.monotonic() + STAT_BATCH_SECONDS
        for c in walk:
            out.append((c, store.size(c)))
            if len(out) >= STAT_BATCH or time.monotonic() >= deadline:
                break
        return out

    size = n = 0
    while visits := await ctx.model.in_reader(batch):
        n += len(visits)
        size += sum(s for _, s in visits)
        if report is not None:
            await report((cid, visits))
    return DagStats(str(cid), size, n)


def _float32(x: float) -> float | int:
    """``x`` as Go writes a float32 in JSON: the shortest decimal that reads back as the
    same float32 (1, 1.5, 1.3333334)."""
    f32: float = struct.unpack("f", struct.pack("f", x))[0]
    for digits in range(1, 10):
        text = f"{f32:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == f32:
            v = float(text)
            return int(v) if v.is_integer() else v
    return f32


def _omitempty(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v}


async def _kubo_dag_stat(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> NDJSON:
    """Kubo's DagStatSummary lines: with ``progress`` (the default, as Kubo's RPC), one line
    per block visited, ``{"TotalSize", "DagStats": [{"Cid","Size","NumBlocks"}...]}``, then the
    summary, which adds ``UniqueBlocks``, ``SharedSize`` (bytes met under several roots) and
    ``Ratio`` (bytes of every DAG over unique bytes). Zero values are left out, as Kubo."""
    paths = a.args()
    if not paths:
        raise InvalidArgument('argument "root" is required')
    progress = bool(a.bool("progress", "p", default=True))
    seen: set[bytes] | None = set() if len(paths) > 1 else None  # across roots (one root: the walk's own)

    async def lines() -> AsyncIterator[dict[str, Any]]:
        stats: list[dict[str, Any]] = []
        total = redundant = 0
        for path in paths:
            q: asyncio.Queue[StatBatch] = asyncio.Queue(maxsize=4)
            token = _stat_progress.set(q.put)
            try:
                task = asyncio.ensure_future(invoke({"path": path}))  # copies the context
            finally:
                _stat_progress.reset(token)
            entry: dict[str, Any] | None = None
            try:
                async for root, visits in _until_done(q, task):
                    if entry is None:
                        entry = {"Cid": str(root), "Size": 0, "NumBlocks": 0}
                        stats.append(entry)
                    for c, size in visits:
                        entry["Size"] += size
                        entry["NumBlocks"] += 1
                        redundant += size
                        if seen is None or c.multihash not in seen:
                            total += size
                            if seen is not None:
                                seen.add(c.multihash)
                        if progress:
                            yield _omitempty({"TotalSize": total, "DagStats": [_omitempty(e) for e in stats]})
                r: DagStats = await task
            finally:
                if not task.done():
                    task.cancel()
            if entry is None:  # nothing visited (cannot happen: a root is a block)
                stats.append({"Cid": r.cid})
        unique = len(seen) if seen is not None else sum(e.get("NumBlocks", 0) for e in stats)
        yield _omitempty({"UniqueBlocks": unique, "TotalSize": total, "SharedSize": redundant - total,
                          "Ratio": _float32(redundant / total) if total else 0,
                          "DagStats": [_omitempty(e) for e in stats]})

    return NDJSON(lines())


async def _until_done(q: asyncio.Queue[T], task: asyncio.Future[Any]) -> AsyncIterator[T]:
    """The items ``task`` puts in ``q`` until it ends (its outcome stays with the task)."""
    while True:
        if not q.empty():
            yield q.get_nowait()
            continue
        if task.done():
            return
        getter = asyncio.ensure_future(q.get())
        try:
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()  # a cancelled get leaves the item in the queue
        if getter.done() and not getter.cancelled():
            yield getter.result()


R, W = Scope.READ, Scope.WRITE
OPS: list[Operation[Any, Any]] = [
    Operation("dag_put", DagPutParams, DagPut, W, "Store an IPLD object (dag-cbor, dag-json, dag-pb, raw)", dag_put,
              Kubo("dag/put", run=_kubo_dag_put, body="files",
                   options=(("store-codec", "string", "dag-cbor (default), dag-json, dag-pb, raw"),
                            ("input-codec", "string", "dag-json (default), dag-cbor, dag-pb, raw"),
                            ("pin", "boolean", "pin the object"), ("hash", "string", HASH_CHOICES),
                            ("allow-big-block", "boolean", "blocks over 1 MiB"))),
              cli="dag put", cli_text=lambda line: str(line["Cid"]["/"])),
    Operation("dag_get", DagGetParams, DagNode, R, "An IPLD object or a value inside it (dag-json by default)",
              dag_get, Kubo("dag/get", _kubo_dag_get), cli="dag get"),
    Operation("dag_resolve", PathParams, DagResolved, R, "Resolve a path to its last block and the path left in it",
              dag_resolve, Kubo("dag/resolve", lambda r, a: {"Cid": {"/": r.cid}, "RemPath": r.rem_path}),
              cli="dag resolve"),
    Operation("dag_stat", PathParams, DagStats, R, "Blocks and bytes of a DAG", dag_stat,
              Kubo("dag/stat", run=_kubo_dag_stat, arg_doc="CIDs or /ipfs/ paths of DAG roots", options=(
                  ("progress", "boolean", "a line per block visited before the summary (default true)"),)),
              cli="dag stat"),
]
