"""MFS, Kubo's mutable file system (``ipfs files ...``): a tree of UnixFS
directories whose root CID is kept in the repo (index state ``mfs.root``; gc
keeps everything under it, as Kubo keeps its MFS root). Every change rewrites
the directories from the changed entry up to the root (path copying) and
publishes an ``mfs_changed`` event.

CIDs equal Kubo's for the same operations: directories are dag-pb nodes with
UnixFS ``Directory`` data and links sorted by name; files written with
``files/write`` are changed in place as Kubo's DagModifier changes them
(``content/dagmod.py``: overwrite, trickle append, truncate, sparse padding).
Directories large enough to be HAMT-sharded in Kubo are read here but not
modified.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..access import Scope
from ..content import dag, dagmod
from ..content.cid import CID, DAG_PB
from ..content.dagpb import (
    DIRECTORY,
    HAMT_SHARD,
    PBLink,
    UnixFSData,
    encode_node,
    encode_unixfs,
)
from ..content.importer import parse_chunker
from ..errors import InvalidArgument, LimitExceeded, NotFound, PathError
from ..events import NotificationType
from ..model import MFS_ROOT_KEY, IPFSModel
from ..operation import (
    NDJSON,
    Bytes,
    ByteStream,
    Context,
    Invoke,
    Kubo,
    KuboArgs,
    Operation,
    Upload,
    param,
)

MAX_WRITE = 1 << 30  # bytes one files/write may carry (the whole file is rebuilt in memory)
CHUNK = 262144  # Kubo's default chunker for MFS writes
COPY_BUFFER = 4096  # Kubo reads the multipart body 4 KiB at a time into its DagModifier (which syncs past 2 MiB)
T = TypeVar("T")
EMPTY_DIR = encode_node([], encode_unixfs(UnixFSData(DIRECTORY)))

_locks: weakref.WeakKeyDictionary[IPFSModel, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock(model: IPFSModel) -> asyncio.Lock:
    if model not in _locks:
        _locks[model] = asyncio.Lock()
    return _locks[model]


def split(path: str) -> list[str]:
    """An MFS path (``/a/b``) into its names; refuses relative paths and ``..``."""
    if not path.startswith("/"):
        raise PathError(f"paths must start with a leading slash: {path!r}")
    parts = [p for p in path.split("/") if p]
    for p in parts:
        if p in (".", ".."):
            raise PathError(f"invalid path component {p!r}")
    return parts


# -- the tree (sync; run in worker threads) -----------------------------------------------------------
class Tree:
    def __init__(self, model: IPFSModel) -> None:
        self.model = model
        self.store = model.store

    def root(self) -> CID:
        text = self.model.index.get_state(MFS_ROOT_KEY)
        if text:
            return CID.decode(text)
        cid = CID.hash(EMPTY_DIR, DAG_PB, 0)
        self.store.put(cid, EMPTY_DIR)
        self.model.index.set_state(MFS_ROOT_KEY, str(cid))
        return cid

    def set_root(self, cid: CID) -> None:
        self.model.index.set_state(MFS_ROOT_KEY, str(cid))

    def tsize(self, cid: CID) -> int:
        return dag.stat(self.store, cid).cumulative_size

    def lookup(self, parts: list[str], root: CID | None = None) -> CID:
        cid = root or self.root()
        for i, name in enumerate(parts):
            links = self.entries(cid, "/" + "/".join(parts[:i]))
            found = next((lk for lk in links if lk.name == name), None)
            if found is None:
                raise NotFound("file does not exist")
            cid = found.cid
        return cid

    def kind(self, cid: CID) -> int:
        if cid.codec != DAG_PB:
            return 2
        node, type_ = dag.load(self.store, cid)
        return type_

    def entries(self, cid: CID, path: str) -> list[PBLink]:
        if cid.codec != DAG_PB:
            raise PathError(f"{path} is not a directory")
        node, type_ = dag.load(self.store, cid)
        if type_ not in (DIRECTORY, HAMT_SHARD) or node is None:
            raise PathError(f"{path} is not a directory")
        return dag.dir_links(self.store, cid, node, type_)

    def write_dir(self, links: list[PBLink], version: int) -> CID:
        links = sorted(links, key=lambda lk: lk.name.encode("utf-8", "surrogateescape"))
        block = encode_node(links, encode_unixfs(UnixFSData(DIRECTORY)))
        cid = CID.hash(block, DAG_PB, version)
        self.store.put(cid, block)
        return cid

    def replace(self, parts: list[str], child: CID | None, *, parents: bool = False, version: int = 0,
                must_be_new: bool = False) -> CID:
        """The new root with the entry at ``parts`` set to ``child`` (None: removed);
        ``parents``: create missing directories (CID version ``version``)."""
        if not parts:
            raise InvalidArgument("cannot replace the root directory")
        root = self.root()

        def rec(cid: CID, i: int) -> CID:
            here = "/" + "/".join(parts[:i])
            node, type_ = dag.load(self.store, cid) if cid.codec == DAG_PB else (None, -1)
            if type_ == HAMT_SHARD:
                raise InvalidArgument(f"{here} is a HAMT-sharded directory: changing it is not supported")
            links = list(self.entries(cid, here))
            name = parts[i]
            found = next((lk for lk in links if lk.name == name), None)
            if i == len(parts) - 1:
                if must_be_new and found is not None:
                    raise InvalidArgument("directory already has entry by that name")
                if child is None and found is None:
                    raise NotFound("file does not exist")
                new = child
            else:
                if found is None:
                    if not parents:
                        raise NotFound("file does not exist")
                    sub = self.write_dir([], version)
                else:
                    sub = found.cid
                new = rec(sub, i + 1)
            links = [lk for lk in links if lk.name != name]
            if new is not None:
                links.append(PBLink(new, name, self.tsize(new)))
            return self.write_dir(links, cid.version)

        new_root = rec(root, 0)
        self.set_root(new_root)
        return new_root

    def read_all(self, cid: CID) -> bytes:
        return self.model.open(cid).read()


def _changed(ctx: Context, op: str, path: str, root: CID) -> None:
    ctx.model.emit(NotificationType.MFS_CHANGED, {"op": op, "path": path, "root": str(root)})


async def _run(ctx: Context, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    async with _lock(ctx.model):
        return await asyncio.to_thread(fn, *args, **kw)


def _version(cid_version: int | None) -> int:
    if cid_version not in (None, 0, 1):
        raise InvalidArgument("cid-version must be 0 or 1")
    return cid_version or 0


def _hash(h: str | None) -> None:
    if h not in (None, "", "sha2-256"):
        raise InvalidArgument("only the sha2-256 hash is supported")


# -- results ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MfsEntry:
    name: str
    type: str  # file, directory
    size: int
    cid: str


@dataclass(frozen=True, slots=True)
class MfsListing:
    entries: list[MfsEntry]


@dataclass(frozen=True, slots=True)
class MfsStat:
    cid: str
    type: str
    size: int
    cumulative_size: int
    blocks: int


@dataclass(frozen=True, slots=True)
class MfsRoot:
    cid: str  # the CID of the path (flush) or the new MFS root


# -- operations ---------------------------------------------------------------------------------------
@dataclass
class MkdirParams:
    path: str = param(kubo="arg", doc="the directory to create")
    parents: bool = param(False, flags=("p",), doc="create missing parents, no error if it exists")
    cid_version: int | None = param(None, doc="CID version of the new directories")
    hash: str | None = param(None, doc="sha2-256 only")


async def files_mkdir(ctx: Context, p: MkdirParams) -> MfsRoot:
    parts, version = split(p.path), _version(p.cid_version)
    _hash(p.hash)
    if not parts:
        if p.parents:
            return MfsRoot(str(await _run(ctx, Tree(ctx.model).root)))
        raise InvalidArgument("cannot create directory '/': Already exists")
    tree = Tree(ctx.model)

    def run() -> CID:
        try:
            existing = tree.lookup(parts)
        except NotFound:
            existing = None
        if existing is not None:
            if p.parents and tree.kind(existing) in (DIRECTORY, HAMT_SHARD):
                return tree.root()
            raise InvalidArgument("file already exists")
        return tree.replace(parts, tree.write_dir([], version), parents=p.parents, version=version)

    root = await _run(ctx, run)
    _changed(ctx, "mkdir", p.path, root)
    return MfsRoot(str(root))


@dataclass
class WriteParams:
    path: str = param(kubo="arg", doc="the file to write")
    data: Upload = param(kubo="file", doc="the bytes (HTTP: one multipart part)")
    offset: int = param(0, flags=("o",), minimum=0, doc="byte offset to write at")
    create: bool = param(False, flags=("e",), doc="create the file if it does not exist")
    parents: bool = param(False, flags=("p",), doc="create missing parent directories")
    truncate: bool = param(False, flags=("t",), doc="truncate the file to size zero before writing")
    count: int | None = param(None, flags=("n",), minimum=0, doc="write at most this many bytes")
    raw_leaves: bool | None = param(None, doc="raw leaves (default with cid-version 1)")
    cid_version: int | None = param(None, doc="CID version of the file's nodes")
    hash: str | None = param(None, doc="sha2-256 only")
    chunker: str | None = param(None, flags=("s",), doc="size-N (default size-262144)")


async def files_write(ctx: Context, p: WriteParams) -> MfsRoot:
    parts = split(p.path)
    _version(p.cid_version)
    _hash(p.hash)
    if not parts:
        raise InvalidArgument("cannot write to the root directory")
    chunk = parse_chunker(p.chunker) or CHUNK
    data = bytearray()
    async for entry in p.data.entries:
        async for piece in entry.data:
            data += piece
            if len(data) > MAX_WRITE:
                raise LimitExceeded(f"files/write takes at most {MAX_WRITE} bytes")
        break  # the first part only, as Kubo
    if p.count is not None:
        del data[p.count:]
    tree = Tree(ctx.model)

    def run() -> CID:
        try:
            existing = tree.lookup(parts)
        except NotFound:
            if not p.create:
                raise
            existing = None
        if existing is None:
            # a new file: Kubo's import settings give it CIDv0 unless --cid-version says otherwise
            version = _version(p.cid_version)
            node = dagmod.empty_file(version)
        else:
            if tree.kind(existing) in (DIRECTORY, HAMT_SHARD):
                raise InvalidArgument(f"{p.path} is a directory")
            node = dagmod.load(tree.store, existing)
        # Kubo's write: open a DagModifier on the file, truncate, seek, copy the body, close
        dm = dagmod.DagModifier(tree.store, tree.store.put, node, raw_leaves=p.raw_leaves, chunk=chunk)
        if p.truncate:
            dm.truncate(0)
        dm.seek(p.offset)
        view = memoryview(data)
        for i in range(0, len(view), COPY_BUFFER):  # io.Copy's writes: the buffer syncs past 2 MiB
            dm.write(bytes(view[i:i + COPY_BUFFER]))
        out = dm.node()
        cid = out.cid()
        tree.store.put(cid, out.block())
        return tree.replace(parts, cid, parents=p.parents, version=_version(p.cid_version))

    root = await _run(ctx, run)
    _changed(ctx, "write", p.path, root)
    return MfsRoot(str(root))


@dataclass
class ReadParams:
    path: str = param(kubo="arg", doc="the file to read")
    offset: int = param(0, flags=("o",), minimum=0)
    count: int | None = param(None, flags=("n",), minimum=0, doc="read at most this many bytes")


async def _mfs_or_ipfs(ctx: Context, path: str) -> CID:
    if path.startswith(("/ipfs/", "/ipns/")):
        return await asyncio.to_thread(ctx.model.resolve, path)
    return await _run(ctx, Tree(ctx.model).lookup, split(path))


async def files_read(ctx: Context, p: ReadParams) -> ByteStream:
    cid = await _mfs_or_ipfs(ctx, p.path)
    st = await ctx.model.stat(cid)
    if st.type == "directory":
        raise InvalidArgument(f"{p.path} is a directory")
    size = max(0, st.size - p.offset)
    if p.count is not None:
        size = min(size, p.count)
    return ByteStream(ctx.model.cat(cid, p.offset, p.count), "text/plain", str(cid), size)


@dataclass
class LsParams:
    path: str = param("/", kubo="arg", doc="the directory (default /)")
    long: bool = param(False, flags=("l",), doc="sizes and CIDs")
    unsorted: bool = param(False, kubo="U", doc="directory order")


def _type(t: int) -> str:
    return "directory" if t in (DIRECTORY, HAMT_SHARD) else "file"


async def files_ls(ctx: Context, p: LsParams) -> MfsListing:
    parts = split(p.path)
    tree = Tree(ctx.model)

    def run() -> MfsListing:
        cid = tree.lookup(parts)
        if tree.kind(cid) not in (DIRECTORY, HAMT_SHARD):
            st = dag.stat(tree.store, cid)
            return MfsListing([MfsEntry(parts[-1], "file", st.size, str(cid))])
        out = []
        for lk in tree.entries(cid, p.path):
            st = dag.stat(tree.store, lk.cid)
            out.append(MfsEntry(lk.name, st.type if st.type == "directory" else "file", st.size, str(lk.cid)))
        return MfsListing(out)

    async with _lock(ctx.model):
        return await asyncio.to_thread(run)


@dataclass
class StatParams:
    path: str = param(kubo="arg", doc="an MFS path or an /ipfs/ path")
    hash: bool = param(False, doc="only the CID")
    size: bool = param(False, doc="only the size")
    with_local: bool = param(False, doc="accepted: everything is local")


async def files_stat(ctx: Context, p: StatParams) -> MfsStat:
    cid = await _mfs_or_ipfs(ctx, p.path)
    st = await ctx.model.stat(cid)
    kind = "directory" if st.type == "directory" else "file"
    return MfsStat(str(cid), kind, st.size, st.cumulative_size, st.blocks)


@dataclass
class CpParams:
    source: str = param(kubo="arg", doc="an MFS path or an /ipfs/ path")
    dest: str = param(doc="the new MFS path (second argument)")
    parents: bool = param(False, flags=("p",), doc="create missing parent directories")


async def files_cp(ctx: Context, p: CpParams) -> MfsRoot:
    src = await _mfs_or_ipfs(ctx, p.source)
    await ctx.model.stat(src)  # the source must be readable here
    parts = split(p.dest)
    tree = Tree(ctx.model)

    def run() -> CID:
        target = parts
        if p.dest.endswith("/"):  # cp x /dir/ copies into the directory, as Kubo
            target = parts + [p.source.rstrip("/").rsplit("/", 1)[-1]]
        return tree.replace(target, src, parents=p.parents, must_be_new=True)

    root = await _run(ctx, run)
    _changed(ctx, "cp", p.dest, root)
    return MfsRoot(str(root))


@dataclass
class MvParams:
    source: str = param(kubo="arg", doc="the MFS path to move")
    dest: str = param(doc="where to (second argument); an existing directory receives it")


async def files_mv(ctx: Context, p: MvParams) -> MfsRoot:
    src, dst = split(p.source), split(p.dest)
    if not src:
        raise InvalidArgument("cannot move the root directory")
    if dst[:len(src)] == src:
        raise InvalidArgument("cannot move a directory into itself")
    tree = Tree(ctx.model)

    def run() -> CID:
        cid = tree.lookup(src)
        target = dst
        try:
            existing = tree.lookup(dst)
        except NotFound:
            existing = None
        if existing is not None and tree.kind(existing) in (DIRECTORY, HAMT_SHARD):
            target = dst + [src[-1]]
        elif existing is not None and tree.kind(cid) in (DIRECTORY, HAMT_SHARD):
            raise InvalidArgument("cannot replace a file with a directory")
        if target == src:
            return tree.root()
        tree.replace(target, cid)
        return tree.replace(src, None)

    root = await _run(ctx, run)
    _changed(ctx, "mv", p.dest, root)
    return MfsRoot(str(root))


@dataclass
class RmParams:
    path: str = param(kubo="arg", doc="the MFS path to remove")
    recursive: bool = param(False, flags=("r",), doc="remove directories")
    force: bool = param(False, doc="no error if it does not exist; remove directories")


async def files_rm(ctx: Context, p: RmParams) -> MfsRoot:
    parts = split(p.path)
    if not parts:
        raise InvalidArgument("cannot delete root")
    tree = Tree(ctx.model)

    def run() -> CID:
        try:
            cid = tree.lookup(parts)
        except NotFound:
            if p.force:
                return tree.root()
            raise
        if tree.kind(cid) in (DIRECTORY, HAMT_SHARD) and not (p.recursive or p.force):
            raise InvalidArgument("path is a directory, use -r to remove directories")
        return tree.replace(parts, None)

    root = await _run(ctx, run)
    _changed(ctx, "rm", p.path, root)
    return MfsRoot(str(root))


@dataclass
class FlushParams:
    path: str = param("/", kubo="arg", doc="the MFS path (default /)")


async def files_flush(ctx: Context, p: FlushParams) -> MfsRoot:
    # every change is written through to the repo at once: flush only reports the CID
    return MfsRoot(str(await _run(ctx, Tree(ctx.model).lookup, split(p.path))))


@dataclass
class ChcidParams:
    path: str = param("/", kubo="arg", doc="the MFS directory (default /)")
    cid_version: int | None = param(None, doc="the CID version to use")
    hash: str | None = param(None, doc="sha2-256 only")


async def files_chcid(ctx: Context, p: ChcidParams) -> MfsRoot:
    parts = split(p.path)
    _hash(p.hash)
    if p.cid_version is None:
        return MfsRoot(str(await _run(ctx, Tree(ctx.model).lookup, parts)))
    version = _version(p.cid_version)
    tree = Tree(ctx.model)

    def run() -> CID:
        cid = tree.lookup(parts)
        if tree.kind(cid) != DIRECTORY:
            raise InvalidArgument(f"{p.path} is not a basic directory")
        new = tree.write_dir(list(tree.entries(cid, p.path)), version)
        if not parts:
            tree.set_root(new)
            return new
        return tree.replace(parts, new)

    root = await _run(ctx, run)
    _changed(ctx, "chcid", p.path, root)
    return MfsRoot(str(root))


# -- Kubo forms ---------------------------------------------------------------------------------------
async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


def _empty(r: Any, a: KuboArgs) -> Bytes:
    """Kubo answers these with an empty body (kubo-rpc-client treats any text as an error)."""
    return Bytes(_nothing(), "text/plain", streamed=False)


def _two_args(a: KuboArgs, what: str) -> tuple[str, str]:
    args = [x.strip() for x in a.args() if x.strip()]
    if len(args) == 1 and a.str(what):  # the second argument by its name (the registry's JSON form)
        args.append(str(a.str(what)))
    if len(args) != 2:
        raise InvalidArgument(f'argument "{what}" is required: SOURCE and DEST')
    return args[0], args[1]


async def _kubo_cp(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> Bytes:
    src, dst = _two_args(a, "dest")
    return _empty(await invoke({"source": src, "dest": dst, "parents": bool(a.bool("parents", "p"))}), a)


async def _kubo_mv(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> Bytes:
    src, dst = _two_args(a, "dest")
    return _empty(await invoke({"source": src, "dest": dst}), a)


async def _kubo_rm(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> Bytes | NDJSON:
    paths = [x.strip() for x in a.args() if x.strip()]
    if not paths:
        raise InvalidArgument('argument "path" is required')
    recursive, force = bool(a.bool("recursive", "r")), bool(a.bool("force"))
    failed: list[str] = []
    for path in paths:
        try:
            await invoke({"path": path, "recursive": recursive, "force": force})
        except (NotFound, InvalidArgument, PathError) as e:  # Kubo: 200, one JSON string per failed path
            failed.append(f"{path}: {e}")
    if not failed:
        return _empty(None, a)

    async def lines() -> AsyncIterator[Any]:
        for line in failed:
            yield line

    return NDJSON(lines())


def _kubo_ls(r: MfsListing, a: KuboArgs) -> dict[str, Any]:
    long = bool(a.bool("long", "l"))
    a.bool("U")
    # without long, Kubo reads no child node: every Type is 0, Size 0, Hash ""
    return {"Entries": [{"Name": e.name, "Type": 1 if long and e.type == "directory" else 0,
                         "Size": e.size if long else 0, "Hash": e.cid if long else ""} for e in r.entries]}


def _kubo_stat(s: MfsStat, a: KuboArgs) -> dict[str, Any]:
    a.str("format")
    return {"Hash": s.cid, "Size": s.size, "CumulativeSize": s.cumulative_size, "Blocks": s.blocks,
            "Type": s.type}


def _kubo_read(s: ByteStream, a: KuboArgs) -> Bytes:
    return Bytes(s.chunks, "text/plain")


def _kubo_flush(r: MfsRoot, a: KuboArgs) -> dict[str, Any]:
    return {"Cid": r.cid}


R, W = Scope.READ, Scope.WRITE
OPS: list[Operation[Any, Any]] = [
    Operation("files_mkdir", MkdirParams, MfsRoot, W, "Make an MFS directory", files_mkdir,
              Kubo("files/mkdir", _empty, arg_doc="MFS path"), cli="files mkdir"),
    Operation("files_write", WriteParams, MfsRoot, W, "Write into a file in MFS (as Kubo's DagModifier)", files_write,
              Kubo("files/write", _empty, body="files", arg_doc="MFS path"), cli="files write"),
    Operation("files_read", ReadParams, ByteStream, R, "Read a file from MFS (or an /ipfs/ path)", files_read,
              Kubo("files/read", _kubo_read, arg_doc="MFS path"), cli="files read"),
    Operation("files_ls", LsParams, MfsListing, R, "List an MFS directory", files_ls,
              Kubo("files/ls", _kubo_ls, arg_doc="MFS path"), cli="files ls"),
    Operation("files_stat", StatParams, MfsStat, R, "Stat an MFS path or an /ipfs/ path", files_stat,
              Kubo("files/stat", _kubo_stat, options=(("format", "string", "accepted"),),
                   arg_doc="MFS path or /ipfs/ path"), cli="files stat"),
    Operation("files_cp", CpParams, MfsRoot, W, "Copy an MFS or /ipfs/ path into MFS", files_cp,
              Kubo("files/cp", run=_kubo_cp, arg_doc="SOURCE then DEST",
                   options=(("parents", "boolean", "create missing parents"),)), cli="files cp"),
    Operation("files_mv", MvParams, MfsRoot, W, "Move an MFS path", files_mv,
              Kubo("files/mv", run=_kubo_mv, arg_doc="SOURCE then DEST"), cli="files mv"),
    Operation("files_rm", RmParams, MfsRoot, W, "Remove MFS paths", files_rm,
              Kubo("files/rm", run=_kubo_rm, arg_doc="MFS paths"), cli="files rm"),
    Operation("files_flush", FlushParams, MfsRoot, R, "The CID of an MFS path (writes are never buffered)",
              files_flush, Kubo("files/flush", _kubo_flush, arg_doc="MFS path"), cli="files flush"),
    Operation("files_chcid", ChcidParams, MfsRoot, W, "Change the CID version of an MFS directory", files_chcid,
              Kubo("files/chcid", _empty, arg_doc="MFS path"), cli="files chcid"),
]
