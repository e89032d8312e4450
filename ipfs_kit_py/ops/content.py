"""Content operations: add, cat, get, ls, stat, pins, metadata, blocks, CAR, repo.

Each is a params dataclass, an async ``run(ctx, params)`` over the model, and
an :class:`~ipfs_kit_py.registry.Operation` entry with its scope and Kubo mapping.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ..access import Scope
from ..content import tar as tar_stream
from ..content.car import CarParser, merge_roots
from ..content.cid import CID
from ..content.index import DIRECT, RECURSIVE
from ..content.pinset import IncompletePin, indirect_pins, pinned_via
from ..errors import InvalidArgument, IPFSKitError, NotFound
from ..model import AddOptions, AddResult
from ..operation import (
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
    Upload,
    decoupled,
    gather,
    param,
)
from ..retrieval import OpStream
from ..types import BlockStat, Metadata, Pin, RepoStat, Stat

PROGRESS_EVERY = 256 << 10  # bytes between progress items of add
MAX_SYMLINK_TARGET = 4096  # bytes (PATH_MAX)
MAX_BLOCK = 2 << 20  # Kubo's block size limit (bitswap's)
CHUNK = 256 << 10  # bytes per chunk of streamed content


def _ob(name: str, doc: str = "") -> tuple[str, str, str]:
    return (name, "boolean", doc)


# -- typed results of this module -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Link:
    name: str
    cid: str
    size: int
    type: str  # file, directory, symlink, raw
    target: str = ""


@dataclass(frozen=True, slots=True)
class Listing:
    path: str
    cid: str
    links: list[Link]


@dataclass(frozen=True, slots=True)
class Pins:
    pins: list[str]


@dataclass(frozen=True, slots=True)
class PinList:
    pins: list[Pin]


@dataclass(frozen=True, slots=True)
class BlockData:
    cid: str
    size: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Removed:
    removed: list[str]


@dataclass(frozen=True, slots=True)
class AddedEntry:
    """One added file or directory; ``size``: file bytes, ``cumulative_size``: Kubo's Size."""

    name: str
    cid: str
    size: int
    cumulative_size: int
    file: bool = True


@dataclass(frozen=True, slots=True)
class AddProgress:
    name: str
    bytes: int


@dataclass(frozen=True, slots=True)
class AddDone:
    """The last item of an add: its root (Kubo's ``-Q`` line)."""

    root: AddedEntry


def _stat(st: Any) -> Stat:
    return Stat(str(st.cid), st.type, st.size, st.cumulative_size, st.blocks)


def _entry(r: AddResult, file: bool) -> AddedEntry:
    return AddedEntry(r.name, str(r.cid), r.size, r.tsize, file)


# -- add ------------------------------------------------------------------------------------------
@dataclass
class AddParams:
    content: Upload = param(kubo="file", doc="the files (HTTP: multipart parts; /ws, libp2p: base64)")
    name: str = param("", kubo="name", doc="file name (JSON channels)")
    pin: bool = param(True, doc="pin what is added")
    profile: str | None = param(None, doc="v0 (default), v1raw, v1-2025")
    cid_version: int | None = param(None, doc="0 or 1; 1 implies raw leaves")
    raw_leaves: bool | None = param(None)
    chunker: str | None = param(None, flags=("s",), doc="size-N")
    only_hash: bool = param(False, flags=("n",), doc="compute CIDs, store nothing")
    wrap_with_directory: bool = param(False, flags=("w",))
    recursive: bool = param(False, flags=("r",), doc="accepted; the client sends the tree")
    hidden: bool = param(False, flags=("H",), doc="accepted; the client decides which files it sends")


async def add(ctx: Context, p: AddParams) -> ItemStream[AddedEntry | AddProgress | AddDone]:
    if p.cid_version not in (None, 0, 1):
        raise InvalidArgument("parameter 'cid_version' must be 0 or 1")
    options = AddOptions(profile=p.profile, cid_version=p.cid_version, raw_leaves=p.raw_leaves, chunker=p.chunker,
                         pin=p.pin, only_hash=p.only_hash, wrap_with_directory=p.wrap_with_directory,
                         recursive=p.recursive, hidden=p.hidden)
    session = ctx.model.begin_add(options)  # validates the options (400 before reading)
    single_name = p.name

    async def items() -> AsyncIterator[AddedEntry | AddProgress | AddDone]:
        files = dirs = 0
        try:
            async for entry in p.content.entries:
                name = entry.name or single_name
                if entry.kind == "directory":
                    session.add_dir(name)
                    dirs += 1
                    async for _ in entry.data:
                        raise InvalidArgument(f"directory part {name!r} has a body")
                    continue
                if entry.kind == "symlink":  # the body is the link's target
                    target = b""
                    async for data in entry.data:
                        target += data
                        if len(target) > MAX_SYMLINK_TARGET:
                            raise InvalidArgument(f"symlink target of {name!r} is too long")
                    result = await session.add_symlink(name, target.decode("utf-8", "surrogateescape"))
                    files += 1
                    yield _entry(result, True)
                    continue
                session.start_file(name)
                reported = 0
                async for data in entry.data:
                    written = await session.write(data)
                    if written - reported >= PROGRESS_EVERY:
                        reported = written
                        yield AddProgress(name, written)
                result = await session.finish_file()
                files += 1
                yield AddProgress(name, result.size)
                yield _entry(result, True)
            if files == 0 and dirs == 0:
                raise InvalidArgument("no file in the request body (expected multipart file parts)")
            results = await session.commit()
        finally:
            session.close()
        for r in results[files:]:  # directories (files were sent as they finished)
            yield _entry(r, False)
        yield AddDone(_entry(results[-1], len(results) == files))

    return ItemStream(items())


async def add_json(result: ItemStream[Any]) -> AddedEntry:
    """add on a non-streaming channel: the root."""
    root = None
    async for item in result.items:
        if isinstance(item, AddDone):
            root = item.root
    assert root is not None
    return root


def _kubo_add_check(a: KuboArgs) -> None:
    if a.bool("trickle", "t"):
        raise InvalidArgument("the trickle layout is not supported: use the balanced layout")
    if a.str("hash") not in (None, "sha2-256"):
        raise InvalidArgument("only the sha2-256 hash is supported")
    if a.bool("nocopy") or a.bool("inline"):
        raise InvalidArgument("nocopy and inline are not supported")
    for flag in ("quiet", "quieter", "silent", "progress"):
        a.bool(flag)  # a bad boolean is a 400 before the upload is read


def _kubo_add_line(e: AddedEntry) -> dict[str, Any]:
    # an unnamed file is named by its CID, as Kubo does (a wrapping root stays "")
    return {"Name": e.name or (e.cid if e.file else ""), "Hash": e.cid, "Size": str(e.cumulative_size)}


def _kubo_add(result: ItemStream[Any], a: KuboArgs) -> NDJSON:
    progress = bool(a.bool("progress", "p"))
    quieter, silent = bool(a.bool("quieter", "Q")), bool(a.bool("silent"))

    async def lines() -> AsyncIterator[dict[str, Any]]:
        async for item in result.items:
            if isinstance(item, AddProgress):
                if progress:
                    yield {"Name": item.name, "Bytes": item.bytes}
            elif isinstance(item, AddDone):
                if quieter and not silent:
                    yield _kubo_add_line(item.root)
            elif not quieter and not silent:
                yield _kubo_add_line(item)

    # the upload is read (and the GC guard held) apart from sending the lines, so a
    # client that stops reading its response cannot hold the guard for ever
    return NDJSON(decoupled(lines()))


# -- reading ------------------------------------------------------------------------------------
@dataclass
class CatParams:
    cid: str = param(kubo="arg")
    offset: int = param(0, flags=("o",), minimum=0)
    length: int | None = param(None, flags=("l",), minimum=0)


async def cat(ctx: Context, p: CatParams) -> ByteStream:
    # one read (one bitswap session) for the stat that sizes the answer and for its body:
    # the peers that had the root are asked for the rest directly
    model = ctx.model
    op = model.begin_read("cat", p.cid)
    try:
        st = await model.stat(p.cid, op)
        if st.type == "directory":
            raise InvalidArgument(f"{p.cid} is a directory: use ls")
    except BaseException as e:
        op.close(e)
        raise
    size = max(0, st.size - p.offset)
    if p.length is not None:
        size = min(size, p.length)
    chunks = OpStream(model.cat(st.cid, p.offset, p.length, chunk_size=CHUNK, op=op), op)
    return ByteStream(chunks, "text/plain", str(st.cid), size)


@dataclass
class CidParams:
    cid: str = param(kubo="arg")


async def get_content(ctx: Context, p: CidParams) -> Content:
    # the seed's libp2p form: {"action": "get_content", "cid": ...} -> {"cid", "size", "content"}
    return await gather(await cat(ctx, CatParams(p.cid)), INLINE_LIMIT)


@dataclass
class GetParams:
    cid: str = param(kubo="arg")
    archive: bool = param(False, flags=("a",), doc="accepted: the answer is always a TAR")
    compress: bool = param(False, flags=("C",), doc="false only")


def _safe(name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise InvalidArgument(f"refusing unsafe name {name!r} in the DAG")


async def get(ctx: Context, p: GetParams) -> ByteStream:
    if p.compress:
        raise InvalidArgument("compressed output is not supported: use compress=false")
    model = ctx.model
    cid = await asyncio.to_thread(model.resolve, p.cid)
    st = await model.stat(cid)
    path = p.cid
    top = path.rstrip("/").split("/")[-1] if "/" in path.strip("/") else str(cid)

    def read_all(c: CID) -> bytes:
        return model.open(c).read()

    async def tar() -> AsyncIterator[bytes]:
        """TAR of the tree: entries named ``top/...`` as Kubo names them."""
        first_type = {"directory": 1, "symlink": 4}.get(st.type, 2)
        stack: list[tuple[CID, str, int]] = [(cid, top, first_type)]
        while stack:
            c, name, type_ = stack.pop()
            if type_ in (1, 5):  # directory (5: HAMT shard)
                entries = await model.ls(c)
                for e in entries:  # every name is checked before the directory is written
                    _safe(e.name)
                yield tar_stream.dir_header(name)
                for e in reversed(entries):
                    stack.append((e.cid, f"{name}/{e.name}", e.type))
            elif type_ == 4:  # symlink
                target = (await asyncio.to_thread(read_all, c)).decode("utf-8", "replace")
                yield tar_stream.symlink_header(name, target)
            else:
                reader = await asyncio.to_thread(model.open, c)
                yield tar_stream.file_header(name, reader.size)
                async for chunk in model.cat(c):
                    yield chunk
                yield tar_stream.padding(reader.size)
        yield tar_stream.END

    return ByteStream(tar(), "application/x-tar", str(cid))


async def ls(ctx: Context, p: CidParams) -> Listing:
    await ctx.model.stat(p.cid)  # 404 for an absent root (model.ls does not read raw leaves)
    cid = await asyncio.to_thread(ctx.model.resolve, p.cid)
    entries = await ctx.model.ls(cid)
    return Listing(p.cid, str(cid), [Link(e.name, str(e.cid), e.size, _type_name(e.type), e.target or "")
                                     for e in entries])


def _type_name(t: Any) -> str:
    from ..types import UNIXFS_TYPES

    return UNIXFS_TYPES.get(t, "file") if isinstance(t, int) else str(t)


_KUBO_TYPES = {"raw": 0, "directory": 1, "file": 2, "metadata": 3, "symlink": 4}


def _kubo_ls(results: list[Listing], a: KuboArgs) -> dict[str, Any]:
    return {"Objects": [{"Hash": r.path, "Links": [
        {"Name": link.name, "Hash": link.cid, "Size": link.size, "Type": _KUBO_TYPES.get(link.type, 2),
         "Target": link.target} for link in r.links]} for r in results]}


async def stat(ctx: Context, p: CidParams) -> Stat:
    return _stat(await ctx.model.stat(p.cid))


MAX_PIN_NAME = 255  # bytes of a pin name (Kubo's cmdutils.MaxPinNameBytes)


# -- pins -------------------------------------------------------------------------------------------
@dataclass
class PinAddParams:
    cid: str = param(kubo="arg")
    recursive: bool = param(True, flags=("r",))
    name: str = param("", flags=("n",), doc=f"a name for the pin (at most {MAX_PIN_NAME} bytes; pinning again "
                                           "without one clears it, as Kubo)")


# set by pin/add?progress=true around one call: the model reports blocks present so far
_pin_progress: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar(
    "ipfs_kit_pin_progress", default=None)
PIN_PROGRESS_EVERY = 0.1  # seconds between {"Progress": N} lines of pin add --progress


def _check_pin_name(name: str) -> None:
    if len(name.encode("utf-8", "surrogatepass")) > MAX_PIN_NAME:
        raise InvalidArgument(f"pin name is {len(name.encode('utf-8', 'surrogatepass'))} bytes "
                              f"(max {MAX_PIN_NAME} bytes)")


async def pin_add(ctx: Context, p: PinAddParams) -> Pins:
    """Pin content, fetching from the network what the repo lacks."""
    _check_pin_name(p.name)
    cid = str(await ctx.model.pin_add(p.cid, recursive=p.recursive, progress=_pin_progress.get()))
    await asyncio.to_thread(ctx.model.index.set_pin_name, cid, p.name)
    return Pins([cid])


async def _kubo_pin_add(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> Any:
    """``{"Pins": [...]}``; with ``progress=true`` Kubo's AddPinOutput lines: ``{"Progress": N}``
    while fetching (N: blocks of the DAG present so far), then ``{"Pins": [...]}``."""
    paths = a.args()
    if not paths:
        raise InvalidArgument('argument "ipfs-path" is required')
    recursive = a.bool("recursive", "r", default=True)
    name = a.str("name", "n", default="") or ""
    _check_pin_name(name)
    if not a.bool("progress"):
        return {"Pins": [c for p in paths for c in (await invoke({"cid": p, "recursive": recursive,
                                                                 "name": name})).pins]}

    async def lines() -> AsyncIterator[dict[str, Any]]:
        pins: list[str] = []
        for p in paths:
            counted: asyncio.Queue[int | None] = asyncio.Queue()
            token = _pin_progress.set(counted.put_nowait)
            try:
                task = asyncio.ensure_future(invoke({"cid": p, "recursive": recursive,  # copies the context
                                                     "name": name}))
            finally:
                _pin_progress.reset(token)
            def done(_t: asyncio.Future[Pins], q: asyncio.Queue[int | None] = counted) -> None:
                q.put_nowait(None)

            task.add_done_callback(done)
            try:
                last, sent = 0, 0.0
                while (n := await counted.get()) is not None:
                    last = n
                    now = asyncio.get_running_loop().time()
                    if now - sent >= PIN_PROGRESS_EVERY:
                        sent = now
                        yield {"Progress": n}
                if last:
                    yield {"Progress": last}
                pins += (await task).pins
            finally:
                if not task.done():
                    task.cancel()
        yield {"Pins": pins}

    return NDJSON(lines())


async def pin_rm(ctx: Context, p: CidParams) -> Pins:
    return Pins([str(await ctx.model.pin_rm(p.cid))])


def _kubo_pins(results: list[Pins], a: KuboArgs) -> dict[str, Any]:
    a.bool("recursive", "r")  # accepted (pin/rm), but checked
    return {"Pins": [c for r in results for c in r.pins]}


@dataclass
class PinLsParams:
    cid: str | None = param(None, kubo="arg")
    type: str = param("all", flags=("t",), doc="all, recursive, direct, indirect")
    names: bool = param(False, doc="give each pin's name")
    name: str = param("", flags=("n",), doc="only pins whose name contains this (implies names)")


async def _pins_as_kubo_lists_them(ctx: Context, type_: str, path: str | None) -> list[tuple[str, str]]:
    """Pins as Kubo lists them: recursive, then direct, then indirect ones (the blocks
    below recursive pins, walked from the store); a path pinned only through another
    pin is ``indirect through <root>``. (``model.pin_ls`` lists the pins themselves.)"""
    model = ctx.model
    if type_ not in ("all", "indirect"):
        return await model.pin_ls(type_, path)
    if path is not None:
        if type_ == "all":
            try:
                return await model.pin_ls(type_, path)
            except NotFound:
                pass
        cid = await asyncio.to_thread(model.resolve, path)

        def via() -> str | None:
            recursive = [c for c, _ in model.index.pins(RECURSIVE)]
            if str(cid) in recursive:  # as Kubo: a recursive pin is not also indirect (a direct one may be)
                return None
            return pinned_via(model.store, recursive, cid)

        root = await model.in_reader(via)
        if root is None:
            raise NotFound(f"{cid} is not pinned")
        return [(str(cid), f"indirect through {root}")]

    def listing() -> list[tuple[str, str]]:
        pinned = model.index.pins("all")
        recursive = [c for c, t in pinned if t == RECURSIVE]
        out = [(c, t) for c, t in pinned if t == RECURSIVE] + [(c, t) for c, t in pinned if t == DIRECT] \
            if type_ == "all" else []
        mine = {c for c, _ in pinned}
        return out + [(str(c), "indirect") for c in indirect_pins(model.store, recursive, mine)]

    return await model.in_reader(listing)


async def pin_ls(ctx: Context, p: PinLsParams) -> PinList:
    _check_pin_name(p.name)
    pins = await _pins_as_kubo_lists_them(ctx, p.type, p.cid)
    if not (p.names or p.name):
        return PinList([Pin(c, t) for c, t in pins])
    names = await asyncio.to_thread(ctx.model.index.pin_names)
    out = [Pin(c, t, names.get(c, "")) for c, t in pins]
    if p.name and p.cid is None:  # as Kubo: the filter applies to listings, not to pins asked by path
        out = [pin for pin in out if p.name in pin.name]
    return PinList(out)


def _kubo_pin_ls(results: list[PinList], a: KuboArgs) -> Any:
    pins = [pin for r in results for pin in r.pins]
    a.bool("quiet", "q")
    if a.bool("stream", "s"):
        async def lines() -> AsyncIterator[dict[str, Any]]:
            for pin in pins:  # Kubo leaves an empty Name out of the streamed lines
                yield {"Cid": pin.cid, **({"Name": pin.name} if pin.name else {}), "Type": pin.type}

        return NDJSON(lines())
    if not pins:  # Kubo's Keys is omitempty
        return {}
    return {"Keys": {pin.cid: {"Type": pin.type, "Name": pin.name} for pin in pins}}


# -- metadata -------------------------------------------------------------------------------------
async def metadata_get(ctx: Context, p: CidParams) -> Metadata:
    return await ctx.model.metadata_get(p.cid)


@dataclass
class MetadataSetParams:
    cid: str = param(kubo="arg")
    values: dict[str, Any] = param(doc="user key/values (HTTP: the JSON body)")
    replace: bool = param(False)


async def metadata_set(ctx: Context, p: MetadataSetParams) -> Metadata:
    return await ctx.model.metadata_set(p.cid, p.values, p.replace)


def _kubo_json(result: Any, a: KuboArgs) -> Any:
    from ..operation import to_json

    return to_json(result)


# -- blocks ---------------------------------------------------------------------------------------
async def block_get(ctx: Context, p: CidParams) -> BlockData:
    data = await ctx.model.block_get(p.cid)
    return BlockData(str(CID.decode(p.cid)), len(data), data)


def _kubo_block_get(b: BlockData, a: KuboArgs) -> Bytes:
    async def one() -> AsyncIterator[bytes]:
        yield b.data

    return Bytes(one(), streamed=False)


@dataclass
class BlockPutParams:
    data: bytes = param(kubo="file", doc="the block (HTTP: one multipart part per block)")
    codec: str = param("raw", kubo="cid-codec", doc="raw or dag-pb")
    cid_version: int = param(1, doc="0 only with dag-pb")
    mhtype: str = param("sha2-256", doc="sha2-256 only")
    pin: bool = param(False)


async def block_put(ctx: Context, p: BlockPutParams) -> BlockStat:
    if len(p.data) > MAX_BLOCK:
        raise InvalidArgument(f"block too large: the limit is {MAX_BLOCK} bytes")
    cid = await ctx.model.block_put(p.data, codec=p.codec, mhtype=p.mhtype, cid_version=p.cid_version, pin=p.pin)
    return BlockStat(str(cid), len(p.data))


def _block_codec(a: KuboArgs) -> tuple[str, int]:
    """(codec, CID version) from Kubo's ``cid-codec`` and legacy ``format`` options."""
    fmt = a.str("format", "f")
    codec = a.str("cid-codec")
    if fmt and codec:
        raise InvalidArgument("use either format or cid-codec, not both")
    if fmt:
        if fmt in ("v0", "protobuf"):
            return "dag-pb", 0
        if fmt in ("raw", "dag-pb"):
            return fmt, 1
        raise InvalidArgument(f"unsupported block format {fmt!r}: raw, dag-pb, v0")
    codec = codec or "raw"
    if codec not in ("raw", "dag-pb"):
        raise InvalidArgument(f"unsupported cid-codec {codec!r}: raw or dag-pb")
    return codec, 1


async def _kubo_block_put(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> Any:
    """One block per multipart part -> one {"Key","Size"} line each (sent once all are stored)."""
    codec, version = _block_codec(a)
    mhtype = a.str("mhtype", default="sha2-256") or "sha2-256"
    if a.int("mhlen", default=-1, minimum=-1) not in (-1, 32):
        raise InvalidArgument("only 32-byte sha2-256 digests are supported (mhlen=32)")
    pin = bool(a.bool("pin"))
    out = []
    assert upload is not None
    async for entry in upload.entries:
        buf = bytearray()
        async for data in entry.data:
            buf += data
            if len(buf) > MAX_BLOCK:
                raise InvalidArgument(f"block too large: the limit is {MAX_BLOCK} bytes")
        r = await invoke({"data": bytes(buf), "codec": codec, "cid_version": version, "mhtype": mhtype, "pin": pin})
        out.append({"Key": r.cid, "Size": r.size})
    if not out:
        raise InvalidArgument("no block in the request body (expected a multipart part)")

    async def lines() -> AsyncIterator[dict[str, Any]]:
        for o in out:
            yield o

    return NDJSON(lines())


async def block_stat(ctx: Context, p: CidParams) -> BlockStat:
    cid, size = await ctx.model.block_stat(p.cid)
    return BlockStat(str(cid), size)


def _kubo_block_stat(b: BlockStat, a: KuboArgs) -> dict[str, Any]:
    return {"Key": b.cid, "Size": b.size}


async def block_rm(ctx: Context, p: CidParams) -> Removed:
    return Removed([str(await ctx.model.block_rm(p.cid))])


async def _kubo_block_rm(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> NDJSON:
    force, quiet = bool(a.bool("force", "f")), bool(a.bool("quiet", "q"))
    cids = a.args()
    if not cids or not cids[0].strip():
        raise InvalidArgument('argument "cid" is required')

    async def lines() -> AsyncIterator[dict[str, Any]]:
        for c in cids:
            try:
                removed = await invoke({"cid": c})
            except IPFSKitError as e:  # Kubo reports each block's error in its line
                if not (force and e.status == 404):
                    yield {"Hash": c, "Error": str(e)}
                continue
            if not quiet:
                yield {"Hash": removed.removed[0], "Error": ""}

    return NDJSON(lines())


# -- CAR ------------------------------------------------------------------------------------------
async def dag_export(ctx: Context, p: CidParams) -> ByteStream:
    cid = await asyncio.to_thread(ctx.model.resolve, p.cid)
    return ByteStream(ctx.model.car_export(cid), "application/vnd.ipld.car", str(cid))


@dataclass
class DagImportParams:
    car: Upload = param(kubo="file", doc="CAR v1 files (HTTP: one per part; /ws: binary frames; libp2p: base64)")
    pin_roots: bool = param(True)
    stats: bool = param(False, doc="count the block bytes")


class _BlockBytes:
    """Passes a CAR's chunks through; with ``count``, sums its block bytes (Kubo's
    ``BlockBytesCount``) with an unverified parse (the model verifies the blocks)."""

    def __init__(self, it: AsyncIterator[bytes], count: bool) -> None:
        self.it = it
        self.bytes = 0
        self._parser = CarParser(verify=False) if count else None

    def __aiter__(self) -> _BlockBytes:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.it.__anext__()
        if self._parser is not None:
            try:
                self.bytes += sum(len(b) for _, b in self._parser.feed(chunk))
            except IPFSKitError:
                self._parser = None  # the model reports the error
        return chunk


@dataclass(frozen=True, slots=True)
class DagImported:
    roots: list[str]
    blocks: int
    block_bytes: int = 0
    pin_errors: dict[str, str] = field(default_factory=dict)  # root -> why it is not pinned


async def dag_import(ctx: Context, p: DagImportParams) -> DagImported:
    """Every CAR of the upload is imported (each block verified; a bad CAR keeps
    nothing new); then, like Kubo, each root is pinned, its failure reported."""
    roots: list[CID] = []
    blocks = block_bytes = 0
    errors: dict[str, str] = {}
    lease = None  # the GC guard, from the first CAR until every root is pinned
    try:
        async for entry in p.car.entries:
            if lease is None:
                lease = await ctx.model.gc_lease()
            counter = _BlockBytes(entry.data, count=p.stats)
            part_roots, n = await ctx.model.car_import(counter, pin_roots=False)
            roots = merge_roots(roots, part_roots, ctx.model.repo.settings.repo.max_car_roots)
            blocks += n
            block_bytes += counter.bytes
        if p.pin_roots:
            incomplete = await asyncio.to_thread(ctx.model.incomplete_roots, roots)
            for root in roots:
                if root in incomplete:
                    errors[str(root)] = incomplete[root]
                    continue
                try:
                    await ctx.model.pin_root(root, checked=True)
                except IPFSKitError as e:
                    errors[str(root)] = str(e)
    finally:
        if lease is not None:
            lease.release()
    return DagImported([str(r) for r in roots], blocks, block_bytes, errors)


def _kubo_dag_import(r: DagImported, a: KuboArgs) -> NDJSON:
    stats, silent = bool(a.bool("stats")), bool(a.bool("silent"))
    pinned = bool(a.bool("pin-roots", default=True))

    async def lines() -> AsyncIterator[dict[str, Any]]:
        if not silent and pinned:
            for root in r.roots:
                yield {"Root": {"Cid": {"/": root}, "PinErrorMsg": r.pin_errors.get(root, "")}}
        if stats:
            yield {"Stats": {"BlockCount": r.blocks, "BlockBytesCount": r.block_bytes}}

    return NDJSON(lines())


# -- repo -----------------------------------------------------------------------------------------
@dataclass
class NoParams:
    pass


@dataclass(frozen=True, slots=True)
class Collected:
    """What a GC did: blocks removed, and pins found incomplete (kept; the GC went on)."""

    removed: list[str]
    incomplete: list[IncompletePin]


async def gc(ctx: Context, p: NoParams) -> Collected:
    result = await ctx.model.gc()
    return Collected([str(c) for c in result.removed], list(result.incomplete))


def _kubo_gc(r: Collected, a: KuboArgs) -> NDJSON:
    a.bool("quiet", "q")
    a.bool("stream-errors")

    async def lines() -> AsyncIterator[dict[str, Any]]:
        for c in r.removed:
            yield {"Key": {"/": c}}
        for pin in r.incomplete:  # Kubo's GcResult error lines; the GC itself went on
            yield {"Error": f"{pin.message}: kept; add or fetch it again to repair it"}

    return NDJSON(lines())


async def repo_stat(ctx: Context, p: NoParams) -> RepoStat:
    st = await ctx.model.repo_stat()
    from .kubo_extra import storage_max_bytes

    return RepoStat(st["NumObjects"], st["RepoSize"], st["RepoPath"], st["Version"], storage_max_bytes(ctx))


def _kubo_repo_stat(s: RepoStat, a: KuboArgs) -> dict[str, Any]:
    a.bool("human")
    body: dict[str, Any] = {"RepoSize": s.repo_size, "StorageMax": s.storage_max}
    if a.bool("size-only"):  # Kubo keeps every key, zeroed
        body.update({"NumObjects": 0, "RepoPath": "", "Version": ""})
    else:
        body.update({"NumObjects": s.num_objects, "RepoPath": s.repo_path, "Version": s.version})
    return body


@dataclass(frozen=True, slots=True)
class Verified:
    checked: int  # blocks hashed
    corrupt: list[str]  # blocks whose bytes do not match their hash
    incomplete: list[IncompletePin]  # pins with a block missing under them


async def repo_verify(ctx: Context, p: NoParams) -> Verified:
    r = await ctx.model.repo_verify()
    return Verified(r.checked, list(r.corrupt), list(r.incomplete))


def _kubo_repo_verify(r: Verified, a: KuboArgs) -> NDJSON:
    async def lines() -> AsyncIterator[dict[str, Any]]:
        for key in r.corrupt:
            yield {"Msg": f"block {key} was corrupt", "Progress": 0}
        for pin in r.incomplete:
            yield {"Msg": pin.message, "Progress": 0}
        yield {"Msg": "", "Progress": r.checked}
        if not r.corrupt and not r.incomplete:
            yield {"Msg": "verify complete, all blocks validated.", "Progress": 0}
        else:
            yield {"Msg": f"verify complete, {len(r.corrupt)} blocks were corrupt, "
                          f"{len(r.incomplete)} pins are incomplete", "Progress": 0}

    return NDJSON(lines())


def _kubo_bytes(s: ByteStream, a: KuboArgs) -> Bytes:
    return Bytes(s.chunks, s.media_type)


R, W, A = Scope.READ, Scope.WRITE, Scope.ADMIN
OPS: list[Operation[Any, Any]] = [
    Operation("add", AddParams, ItemStream, W, "Add files and directories (streamed: progress, then each entry)", add,
              Kubo("add", _kubo_add, body="files", check=_kubo_add_check, options=(
                  _ob("quiet"), _ob("quieter", "only the root line"), _ob("silent", "no output lines"),
                  _ob("progress", '{"Name","Bytes"} lines'), ("hash", "string", "sha2-256 only"),
                  _ob("trickle", "false only"))),
              cli="add", json_result=add_json),
    Operation("cat", CatParams, ByteStream, R, "The bytes of a file (streamed)", cat,
              Kubo("cat", _kubo_bytes), cli="cat"),
    Operation("get_content", CidParams, Content, R, "The bytes of a file in one answer (the seed's libp2p form)",
              get_content),
    Operation("get", GetParams, ByteStream, R, "A file or directory as a TAR stream", get,
              Kubo("get", _kubo_bytes), cli="get"),
    Operation("ls", CidParams, Listing, R, "The links of a directory", ls,
              Kubo("ls", _kubo_ls, each_arg=True), cli="ls"),
    Operation("stat", CidParams, Stat, R, "Type and sizes of content", stat,
              cli="stat"),  # Kubo's files/stat is ops/mfs.py's files_stat (MFS and /ipfs/ paths)
    Operation("pin_add", PinAddParams, Pins, W, "Pin content (fetching what the repo lacks)", pin_add,
              Kubo("pin/add", run=_kubo_pin_add, options=(
                  ("progress", "boolean", 'stream {"Progress": blocks} lines while fetching, then {"Pins": [...]}'),
                  ("name", "string", "a name for the pin"))),
              cli="pin add"),
    Operation("pin_rm", CidParams, Pins, W, "Unpin content", pin_rm,
              Kubo("pin/rm", _kubo_pins, each_arg=True, options=(_ob("recursive", "accepted"),)), cli="pin rm"),
    Operation("pin_ls", PinLsParams, PinList, R, "List pins", pin_ls,
              Kubo("pin/ls", _kubo_pin_ls, each_arg=True, options=(
                  _ob("quiet"), _ob("stream", "one NDJSON line per pin"))), cli="pin ls"),
    Operation("metadata_get", CidParams, Metadata, R, "Metadata of a CID (name, size, type, user values)",
              metadata_get, Kubo("ipfs-kit/metadata/get", _kubo_json), cli="metadata get"),
    Operation("metadata_set", MetadataSetParams, Metadata, W,
              "Merge (or with replace, replace) user key/values of a CID", metadata_set,
              Kubo("ipfs-kit/metadata/set", _kubo_json, body="json", body_field="values"), cli="metadata set"),
    Operation("block_get", CidParams, BlockData, R, "The raw bytes of a block", block_get,
              Kubo("block/get", _kubo_block_get), cli="block get"),
    Operation("block_put", BlockPutParams, BlockStat, W, "Store a raw block", block_put,
              Kubo("block/put", run=_kubo_block_put, body="files", options=(
                  ("format", "string", "legacy: raw, v0/protobuf (dag-pb CIDv0), dag-pb"),
                  ("mhlen", "integer", "32"))), cli="block put"),
    Operation("block_stat", CidParams, BlockStat, R, "Size of a block", block_stat,
              Kubo("block/stat", _kubo_block_stat), cli="block stat"),
    Operation("block_rm", CidParams, Removed, W, "Remove a block (not pinned)", block_rm,
              Kubo("block/rm", run=_kubo_block_rm, options=(_ob("force"), _ob("quiet"))), cli="block rm",
              cli_text=lambda line: f"removed {line['Hash']}"),
    Operation("dag_export", CidParams, ByteStream, R, "The DAG under a CID as a CAR v1 stream", dag_export,
              Kubo("dag/export", _kubo_bytes), cli="dag export"),
    Operation("dag_import", DagImportParams, DagImported, W, "Import CAR v1 files (verifying every block)",
              dag_import, Kubo("dag/import", _kubo_dag_import, body="files", options=(_ob("silent"),)),
              cli="dag import", frames=True),
    Operation("gc", NoParams, Collected, A, "Remove unpinned blocks", gc,
              Kubo("repo/gc", _kubo_gc, options=(_ob("quiet"), _ob("stream-errors"))), cli="repo gc"),
    Operation("repo_stat", NoParams, RepoStat, R, "Size of the repo", repo_stat,
              Kubo("repo/stat", _kubo_repo_stat, options=(_ob("size-only"), _ob("human"))), cli="repo stat"),
    Operation("repo_verify", NoParams, Verified, A, "Check every block against its hash", repo_verify,
              Kubo("repo/verify", _kubo_repo_verify), cli="repo verify"),
]
