"""IPFSModel: the one operation set behind every channel.

HTTP routes, the WebSocket general channel, the libp2p ``/ipfs-kit/mcp/1.0.0``
protocol and the CLI are thin adapters over these async methods. Disk work
runs in worker threads so the event loop keeps serving. Every change is
published on the event bus (content added/removed, pin status changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .content import dag, dagpb
from .content.car import CarParser, write_car
from .content.cid import CID, DAG_PB, RAW, SHA2_256
from .content.importer import (
    DirectoryBuilder,
    Entry,
    FileImporter,
    import_path,
    import_symlink,
)
from .content.index import DIRECT, RECURSIVE, Metadata
from .content.pinset import IncompletePin, walk_pins
from .content.reader import UnixFSReader
from .content.sniff import sniff
from .errors import BlockNotFound, CorruptBlock, InvalidArgument, NotFound
from .events import EventBus, NotificationType, get_event_bus
from .gc_guard import GCGuard, Lease
from .repo import Repo
from .retrieval import BlockSource, ReadOp, read_options, reader_pool, writer_pool
from .types import AddOptions as AddOptions  # the options of add live with the shared types

if TYPE_CHECKING:
    from .http_sources import HttpSources

log = logging.getLogger("ipfs_kit_py.model")

SNIFF_BYTES = 512
T = TypeVar("T")
WRITE_BATCH = 256 << 10  # add: bytes gathered before one hop to a worker thread (disk work stays off the loop)
PIN_RETRY = 1.0  # seconds between a pin's attempts to find content nobody had (retrieval.pin_wait)
MFS_ROOT_KEY = "mfs.root"  # index state: the MFS root (ops/mfs.py); gc keeps its DAG, as Kubo does


@dataclass(frozen=True, slots=True)
class AddResult:
    name: str
    cid: CID
    size: int  # file bytes (0 for directories)
    tsize: int  # cumulative DAG size, as Kubo's "Size" field of add

    def to_dict(self) -> dict[str, Any]:
        return {"Name": self.name, "Hash": str(self.cid), "Size": str(self.tsize)}


@dataclass(frozen=True, slots=True)
class GCResult:
    """What one garbage collection did: blocks removed, and pins found incomplete
    (reported, kept; GC goes on with the rest, see content/pinset.py)."""

    removed: list[CID]
    incomplete: list[IncompletePin]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    checked: int  # blocks hashed
    corrupt: list[str]  # blocks whose bytes do not match their hash
    incomplete: list[IncompletePin]  # pins with a block missing under them

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.incomplete


class AddSession:
    """A streaming add of one or more files (and directories) as they arrive, as
    the HTTP multipart upload drives it. Disk work (chunking, hashing, writing)
    runs in worker threads; small pieces are gathered first so the hops stay few.
    The session holds the model's GC guard from its first block until ``close()``."""

    def __init__(self, model: IPFSModel, options: AddOptions) -> None:
        self.model = model
        self.options = options
        self.profile = options.resolve(model.repo.settings.add.profile)
        self._store = None if options.only_hash else model.repo.blocks
        self._dirs = DirectoryBuilder(self._store, self.profile)
        self._file: FileImporter | None = None
        self._name = ""
        self._head = b""
        self._buf = bytearray()  # small writes not yet handed to the importer
        self.results: list[AddResult] = []
        self._roots: dict[str, Entry] = {}
        self._lease: Lease | None = None
        self._closed = False

    async def _guard(self) -> None:
        if self._closed:
            raise InvalidArgument("the add session is closed")
        if self._lease is None and self._store is not None:
            self._lease = await self.model._gc.acquire()

    def start_file(self, name: str) -> None:
        if self._file is not None:
            raise InvalidArgument("previous file not finished")
        self._file = FileImporter(self._store, self.profile)
        self._name = name
        self._head = b""

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Feed bytes of the current file; return the bytes taken so far."""
        file = self._file
        if file is None:
            raise InvalidArgument("no file started")
        await self._guard()
        if len(self._head) < SNIFF_BYTES:
            self._head += bytes(data[: SNIFF_BYTES - len(self._head)])
        if len(data) >= WRITE_BATCH:  # big pieces go as they are (no copy)
            buf, self._buf = self._buf, bytearray()

            def both() -> None:
                if buf:
                    file.write(buf)
                file.write(data)

            await asyncio.to_thread(both)
        else:
            self._buf += data
            if len(self._buf) >= WRITE_BATCH:
                buf, self._buf = self._buf, bytearray()
                await asyncio.to_thread(file.write, buf)
        return file.bytes_written + len(self._buf)

    async def finish_file(self) -> AddResult:
        file = self._file
        if file is None:
            raise InvalidArgument("no file started")
        await self._guard()
        buf, self._buf = self._buf, bytearray()
        name, head = self._name, self._head
        parts = DirectoryBuilder.split(name) if name else []
        record = not self.options.only_hash

        def run() -> Entry:
            if buf:
                file.write(buf)
            entry = file.finish()
            if record:
                self.model.index.record(str(entry.cid), name=parts[-1] if parts else None, size=entry.size,
                                        content_type=sniff(head, name or None))
            return entry

        entry = await asyncio.to_thread(run)
        self._file = None
        result = AddResult(name, entry.cid, entry.size, entry.tsize)
        self.results.append(result)
        if len(parts) > 1 or (parts and self.options.wrap_with_directory):
            self._dirs.add(name, entry)
        self._roots[name] = entry
        return result

    def add_dir(self, name: str) -> None:
        self._dirs.add_dir(name)

    async def add_symlink(self, name: str, target: str) -> AddResult:
        """A UnixFS symlink node (Kubo's client sends these as ``application/symlink`` parts)."""
        if self._file is not None:
            raise InvalidArgument("previous file not finished")
        await self._guard()
        entry = await asyncio.to_thread(import_symlink, target, self._store, self.profile)
        result = AddResult(name, entry.cid, 0, entry.tsize)
        self.results.append(result)
        parts = DirectoryBuilder.split(name) if name else []
        if len(parts) > 1 or (parts and self.options.wrap_with_directory):
            self._dirs.add(name, entry)
        self._roots[name] = entry
        return result

    async def commit(self) -> list[AddResult]:
        """Write directory nodes, pin the roots, publish events; return every entry
        in Kubo's order (files, then directories, the root last)."""
        try:
            await self._guard()
            results = list(self.results)
            if self._dirs.root:
                await asyncio.to_thread(self._dirs.finish)
                written = self._dirs.written
                top = [(p, e) for p, e in written if p and "/" not in p]
                for path, entry in written:
                    if path:
                        results.append(AddResult(path, entry.cid, 0, entry.tsize))
                if self.options.wrap_with_directory:
                    root = written[-1][1]
                    results.append(AddResult("", root.cid, 0, root.tsize))
                    roots = [root]
                else:
                    roots = [e for _, e in top]
                    # files at the top level (no directory) are roots too
                    roots += [self._roots[r.name] for r in self.results if "/" not in r.name]
            else:
                roots = [self._roots[r.name] for r in self.results]
            if not self.options.only_hash:
                for entry in roots:
                    await self.model._after_add(entry, pin=self.options.pin)
            return results
        finally:
            self.close()

    def close(self) -> None:
        """End the session (idempotent): the GC guard is given back. Blocks of an
        unfinished add stay unpinned, for the next GC."""
        if not self._closed:
            self._closed = True
            if self._lease is not None:
                self._lease.release()
                self._lease = None


class IPFSModel:
    """The operations on a repo, as async methods, each publishing its events."""

    def __init__(self, repo: Repo, bus: EventBus | None = None) -> None:
        self.repo = repo
        self.store = repo.blocks
        self.index = repo.index
        self.bus = bus or get_event_bus()
        self._gc = GCGuard()
        self._gc_next: asyncio.Future[GCResult] | None = None  # the GC run new callers join
        self.car_spill_bytes = 64 << 20  # a CAR import writes its blocks out once this many are staged
        # reads that reach the network (retrieval.py): set by the libp2p service when it starts
        self.network: BlockSource | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        r = repo.settings.retrieval
        self._readers = reader_pool(r.read_threads)  # reads that may wait on the network run here
        self._fetch_io = writer_pool()  # fetched blocks are written here (never waits on the network)
        # a node without libp2p still reads through the trustless gateways, if any are set
        # (imported only then: httpx costs every in-process CLI command its start)
        self._http_only: HttpSources | None = None
        if r.gateways or r.routers:
            from .http_sources import sources_from_settings

            self._http_only = sources_from_settings(r)

    # -- where blocks come from ----------------------------------------------------------
    def attach_network(self, source: BlockSource | None) -> None:
        """Reads fetch what the repo lacks through ``source`` (call on the event loop)."""
        self.network = source
        self._loop = asyncio.get_running_loop() if source is not None else None

    def read_op(self, name: str = "read", root: str = "", *, events: bool = True) -> ReadOp:
        """A read operation: local store, then (unless offline) the network."""
        opts = read_options.get()
        offline = self.repo.settings.retrieval.offline if opts.offline is None else opts.offline
        emit = (lambda t, d: self.emit(NotificationType(t), d)) if events else None
        return ReadOp(self.store, self.network, self._loop, self._fetch_io, offline=offline, name=name,
                      root=root, emit=emit, read_ahead=self.repo.settings.retrieval.read_ahead)

    def begin_read(self, name: str, root: str | CID = "") -> ReadOp:
        """A read operation its caller ends (``settle()`` then ``close()``): several reads
        of one request (a gateway's resolve, stat, type sniffing and body) share its
        bitswap session, so the peers found by the first are asked directly by the next."""
        if self.network is None and self._http_only is not None and self._http_only.gateways:
            self.attach_network(self._http_only)
        return self.read_op(name, str(root))

    @contextlib.asynccontextmanager
    async def reading(self, name: str, root: str | CID = "", op: ReadOp | None = None) -> AsyncIterator[ReadOp]:
        """A read operation for the block (``op``: the caller's own, which it ends)."""
        if op is not None:
            yield op
            return
        op = self.begin_read(name, root)
        try:
            yield op
            await op.settle()  # what it fetched is in the store when the read is done
        except BaseException as e:
            op.close(e)
            raise
        op.close()

    async def in_reader(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking read work in the reader pool (it may wait for blocks from the network)."""
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._readers, lambda: ctx.run(fn, *args))

    def gc_guard(self) -> contextlib.AbstractAsyncContextManager[Lease]:
        """Hold from the first block written until the content is pinned (receiving a
        transfer, say): GC waits until it is released. Waiting never blocks the event
        loop nor a thread; model methods called while holding it join the hold."""
        return self._gc.shared()

    async def gc_lease(self) -> Lease:
        """The GC guard as an object (for holds that do not fit one ``async with``);
        ``release()`` it when the content is pinned or abandoned."""
        return await self._gc.acquire()

    def emit(self, type_: NotificationType, data: dict[str, Any]) -> None:
        self.bus.publish(type_, data)

    # -- add ---------------------------------------------------------------------------
    def begin_add(self, options: AddOptions | None = None) -> AddSession:
        return AddSession(self, options or AddOptions())

    async def add_bytes(self, data: bytes, name: str = "", options: AddOptions | None = None) -> AddResult:
        session = self.begin_add(options)
        session.start_file(name)
        await session.write(data)
        await session.finish_file()
        results = await session.commit()
        return results[-1]

    async def add_path(
        self,
        path: str | Path,
        options: AddOptions | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> list[AddResult]:
        """``ipfs add [-r] PATH``: every file and directory added, the root last."""
        opts = options or AddOptions()
        profile = opts.resolve(self.repo.settings.add.profile)
        store = None if opts.only_hash else self.store
        results: list[AddResult] = []

        def on_entry(name: str, entry: Entry) -> None:
            results.append(AddResult(name, entry.cid, entry.size, entry.tsize))

        def run() -> Entry:
            root = import_path(
                path, store, profile, recursive=opts.recursive, hidden=opts.hidden,
                wrap=opts.wrap_with_directory, progress=progress, on_entry=on_entry,
            )
            if not opts.only_hash:
                parent = Path(path).parent
                for r in results:
                    disk = parent / r.name
                    if disk.is_file() and not disk.is_symlink():
                        with open(disk, "rb") as f:
                            ctype = sniff(f.read(SNIFF_BYTES), r.name)
                    else:
                        ctype = None
                    self.index.record(str(r.cid), name=disk.name or None, size=r.size, content_type=ctype)
            return root

        async with contextlib.AsyncExitStack() as stack:
            if not opts.only_hash:  # hold the guard from the first block written until the root is pinned
                await stack.enter_async_context(self.gc_guard())
            root = await asyncio.to_thread(run)
            if opts.wrap_with_directory:
                results.append(AddResult("", root.cid, 0, root.tsize))
            if not opts.only_hash:
                await self._after_add(root, pin=opts.pin)
        return results

    async def _after_add(self, entry: Entry, *, pin: bool) -> None:
        """Pin (the caller holds the GC guard) and announce new content."""
        cid = str(entry.cid)

        def index() -> tuple[str | None, Metadata | None]:
            return (self.index.pin(cid, RECURSIVE) if pin else RECURSIVE), self.index.get_metadata(cid)

        old, md = await asyncio.to_thread(index)
        if old != RECURSIVE:
            self.emit(NotificationType.PIN_STATUS_CHANGED,
                      {"cid": cid, "pinned": True, "type": RECURSIVE, "previous": old})
        self.emit(NotificationType.CONTENT_ADDED, {
            "cid": cid, "size": entry.size, "cumulative_size": entry.tsize, "pinned": pin,
            "name": md.name if md else None, "content_type": md.content_type if md else None,
        })

    # -- read --------------------------------------------------------------------------
    def resolve(self, path: str | CID, op: ReadOp | None = None) -> CID:
        """Follow ``path`` to its CID, fetching the directory blocks the repo lacks (sync)."""
        op = op or self.read_op("resolve", events=False)
        return dag.resolve(op.fetching_store, path)

    def resolve_chain(self, root: CID, names: list[str], op: ReadOp | None = None) -> list[CID]:
        """(sync) the CIDs from ``root`` along ``names``; the last one's block is present."""
        op = op or self.read_op("resolve", str(root), events=False)
        store = op.fetching_store
        store.size(root)
        chain, cid = [root], root
        for i in range(len(names)):
            cid = dag.resolve(store, "/ipfs/" + "/".join([str(root), *names[: i + 1]]))
            chain.append(cid)
        store.size(cid)
        return chain

    def open(self, path: str | CID, op: ReadOp | None = None) -> UnixFSReader:
        """A seekable file object over the content (sync; for gateways, media decoding).
        Blocks the repo lacks are fetched as the reader reaches them, a few ahead."""
        op = op or self.read_op("open", str(path), events=False)
        reader = UnixFSReader(op.fetching_store, self.resolve(path, op))
        reader.read_ahead = op.read_ahead
        return reader

    async def cat(self, path: str | CID, offset: int = 0, length: int | None = None,
                  chunk_size: int = 1 << 20, op: ReadOp | None = None) -> AsyncIterator[bytes]:
        """The bytes of a file, streamed; reading happens in worker threads. Blocks fetched
        from the network are sent on as they arrive (only those covering the range)."""
        if offset < 0 or (length is not None and length < 0):
            raise InvalidArgument("offset and length must be non-negative")
        async with self.reading("cat", path, op) as op:
            reader = await self.in_reader(self.open, path, op)
            pieces = reader.iter_range(offset, length)
            async for data in stream_in_thread(pieces, chunk_size, executor=self._readers, flush=op):
                yield data

    async def fetch_dag(self, path: str | CID, progress: Callable[[int], None] | None = None,
                        op: ReadOp | None = None) -> CID:
        """Make the whole DAG under ``path`` local (fetching in parallel what is missing)."""
        if op is None:
            async with self.reading("fetch", path) as op:
                return await self.fetch_dag(path, progress, op)
        cid = await self.in_reader(self.resolve, path, op)
        await op.fetch_dag(cid, progress, window=max(8, self.repo.settings.retrieval.peer_window * 2))
        return cid

    async def get(self, path: str | CID, dest: str | Path, progress: Callable[[int], None] | None = None) -> int:
        cid = await self.fetch_dag(path)
        return await asyncio.to_thread(dag.export, self.store, cid, dest, progress)

    async def ls(self, path: str | CID, op: ReadOp | None = None) -> list[dag.LsEntry]:
        async with self.reading("ls", path, op) as op:
            store = op.fetching_store

            def children() -> list[CID]:
                node, type_ = dag.load(store, self.resolve(path, op))
                return [] if node is None else [lk.cid for lk in dag.dir_links(store, self.resolve(path, op), node, type_)]

            kids = await self.in_reader(children)
            missing = [c for c in kids if not self.store.has(c)]
            if missing and op.source is not None:  # the entries' own blocks tell their types and sizes
                sem = asyncio.Semaphore(32)

                async def one(c: CID) -> None:
                    async with sem:
                        await op.get_block(c)

                await asyncio.gather(*(one(c) for c in missing))
            return await self.in_reader(lambda: dag.ls(store, self.resolve(path, op)))

    async def stat(self, path: str | CID, op: ReadOp | None = None) -> dag.Stat:
        async with self.reading("stat", path, op) as op:
            return await self.in_reader(lambda: dag.stat(op.fetching_store, self.resolve(path, op)))

    # -- pins ----------------------------------------------------------------------------
    async def pin_add(self, path: str | CID, recursive: bool = True,
                      progress: Callable[[int], None] | None = None) -> CID:
        """Pin ``path``; blocks the repo lacks are fetched first (``progress(n)``: blocks
        present so far). The GC guard is held from the first fetched block until the pin is
        recorded, so a GC cannot collect it in between."""
        async with self.reading("pin", path) as op, self.gc_guard():
            async def fetch() -> CID:
                if recursive:
                    return await self.fetch_dag(path, progress, op)
                c = await self.in_reader(self.resolve, path, op)
                await op.get_block(c)
                return c

            cid = await self._patiently(op, fetch)

            def run() -> tuple[str | None, str | None]:
                if recursive:
                    self._require_dag(cid)  # Kubo checks the whole DAG is present
                old = self.index.pin(str(cid), RECURSIVE if recursive else DIRECT)
                return old, self.index.pin_type(str(cid))

            old, now = await asyncio.to_thread(run)
        if old != now:
            self.emit(NotificationType.PIN_STATUS_CHANGED,
                      {"cid": str(cid), "pinned": True, "type": now, "previous": old})
        return cid

    async def _patiently(self, op: ReadOp, fetch: Callable[[], Awaitable[CID]]) -> CID:
        """Kubo's pin add waits for content until it is cancelled, and IPFS Cluster relies
        on it: it pins on every peer at once, often before their daemons are connected to
        the holder. So a pin that found nobody with a block asks again (every connected
        peer and the DHT, anew) until ``retrieval.pin_wait`` seconds pass without a new
        block; 0 (the default) fails at once. Offline reads never wait."""
        wait = self.repo.settings.retrieval.pin_wait
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            before = op.blocks
            try:
                return await fetch()
            except BlockNotFound:
                now = loop.time()
                if op.blocks > before:
                    deadline = now + wait
                if op.source is None or op.closed or now >= deadline:
                    raise
                log.info("pin of %s: content not found yet, asking again", op.root)
                await asyncio.sleep(min(PIN_RETRY, deadline - now))

    async def pin_rm(self, path: str | CID) -> CID:
        def run() -> tuple[CID, str | None]:
            cid = self.resolve(path)
            return cid, self.index.unpin(str(cid))

        cid, old = await asyncio.to_thread(run)
        if old is None:
            raise NotFound(f"{cid} is not pinned")
        self.emit(NotificationType.PIN_STATUS_CHANGED, {"cid": str(cid), "pinned": False, "type": None, "previous": old})
        self.emit(NotificationType.CONTENT_REMOVED, {"cid": str(cid), "reason": "unpinned"})
        return cid

    async def pin_ls(self, type_: str = "all", path: str | CID | None = None) -> list[tuple[str, str]]:
        if type_ not in ("all", RECURSIVE, DIRECT, "indirect"):
            raise InvalidArgument(f"invalid pin type {type_!r}")

        def run() -> list[tuple[str, str]]:
            if path is not None:
                cid = str(self.resolve(path))
                t = self.index.pin_type(cid)
                if t is None or (type_ not in ("all", t)):
                    raise NotFound(f"{cid} is not pinned")
                return [(cid, t)]
            if type_ == "indirect":
                return []
            return self.index.pins(type_)

        return await asyncio.to_thread(run)

    # -- metadata ------------------------------------------------------------------------
    async def metadata_get(self, cid: str | CID) -> Metadata:
        c = str(CID.decode(cid))
        md = self.index.get_metadata(c)
        if md is None:
            if not self.store.has(CID.decode(c)):
                raise NotFound(f"no content or metadata for {c}")
            md = Metadata(c)
        return md

    async def metadata_set(self, cid: str | CID, values: dict[str, Any], replace: bool = False) -> Metadata:
        if not isinstance(values, dict):
            raise InvalidArgument("metadata values must be an object of key/value pairs")
        c = str(CID.decode(cid))
        return self.index.update_user(c, values, replace=replace)

    # -- blocks --------------------------------------------------------------------------
    async def block_get(self, cid: str | CID, op: ReadOp | None = None) -> bytes:
        c = CID.decode(cid)
        async with self.reading("block", c, op) as op:
            return await op.get_block(c)

    async def block_put(self, data: bytes, codec: str = "raw", mhtype: str = "sha2-256",
                        cid_version: int = 1, pin: bool = False) -> CID:
        codecs = {"raw": RAW, "dag-pb": DAG_PB, "protobuf": DAG_PB}
        if codec not in codecs:
            raise InvalidArgument(f"unsupported codec {codec!r}: raw or dag-pb")
        if mhtype not in ("sha2-256",):
            raise InvalidArgument(f"unsupported multihash {mhtype!r}: only sha2-256")
        if len(data) > 2 << 20:
            raise InvalidArgument("block too large: the limit is 2 MiB")
        version = 0 if (cid_version == 0 and codecs[codec] == DAG_PB) else 1

        def put() -> CID:
            if codecs[codec] == DAG_PB:
                dagpb.decode_node(data)  # refuse bytes that are not dag-pb
            cid = CID.hash(data, codecs[codec], version)
            self.store.put(cid, data)
            return cid

        if not pin:
            return await asyncio.to_thread(put)
        async with self.gc_guard():  # from the write until the pin
            cid = await asyncio.to_thread(put)
            await self.pin_add(cid, recursive=False)
        return cid

    async def block_stat(self, cid: str | CID) -> tuple[CID, int]:
        c = CID.decode(cid)
        async with self.reading("block", c) as op:
            return c, len(await op.get_block(c))

    async def block_rm(self, cid: str | CID) -> CID:
        c = CID.decode(cid)
        if self.index.pin_type(str(c)):
            raise InvalidArgument(f"{c} is pinned: unpin it first")
        if not await asyncio.to_thread(self.store.delete, c):
            raise BlockNotFound(f"block {c} not found")
        self.emit(NotificationType.CONTENT_REMOVED, {"cid": str(c), "reason": "block_rm"})
        return c

    # -- garbage collection ----------------------------------------------------------------
    async def gc(self) -> GCResult:
        """Remove every block not reachable from a pin.

        Concurrent requests collapse: a caller joins the GC run that is waiting for the
        guard, if there is one, and gets its result; a caller arriving while a run is
        already marking gets the next run (which it may share with later callers), so
        blocks it just unpinned are collected. The run waits for content writers to pin
        (on the event loop, in no thread), marks and sweeps in a worker thread. A pin
        whose DAG is incomplete is reported in the result and the log, not fatal."""
        if self._gc.held_by_this_task():
            raise RuntimeError("gc() awaited by a task that holds the GC guard: it would wait for itself")
        run = self._gc_next
        loop = asyncio.get_running_loop()
        if run is None or run.done() or run.get_loop() is not loop:
            # the run must not join a hold of the task that asks for it
            run = self._gc_next = loop.create_task(self._gc_run(), context=GCGuard.detached())
            run.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even if no caller waits
        return await asyncio.shield(run)

    async def _gc_run(self) -> GCResult:
        me = self._gc_next
        async with self._gc.exclusive():
            if self._gc_next is me:
                self._gc_next = None  # marking starts: later callers need a run of their own
            sweep = asyncio.ensure_future(asyncio.to_thread(self._collect))
            try:
                result = await asyncio.shield(sweep)
            except asyncio.CancelledError:  # (shutdown) writers may not start before the sweep ends
                await asyncio.wait([sweep])
                raise
        for pin in result.incomplete:
            log.warning("gc: %s; kept, with every block of it that is present", pin.message)
        gone = {c.multihash for c in result.removed}
        if gone:
            def forget() -> list[str]:
                cids = [c for c in self.index.metadata_cids() if _multihash(c) in gone]
                for c in cids:
                    self.index.delete_metadata(c)
                return cids

            for cid in await asyncio.to_thread(forget):
                self.emit(NotificationType.CONTENT_REMOVED, {"cid": cid, "reason": "gc"})
        return result

    def _collect(self) -> GCResult:
        """Mark and sweep (the exclusive guard is held: no content writer is active)."""
        present = list(self.store.multihashes())
        pins = list(self.index.pins())
        mfs_root = self.index.get_state(MFS_ROOT_KEY)
        if mfs_root:  # the MFS tree is kept as a recursive pin would be (Kubo does the same)
            pins.append((mfs_root, RECURSIVE))
        walk = walk_pins(self.store, pins, set(present))
        removed = []
        for mh in present:
            if mh not in walk.keep:
                cid = CID(1, RAW, mh)
                self.store.delete(cid)
                removed.append(cid)
        return GCResult(removed, walk.incomplete)

    # -- CAR -------------------------------------------------------------------------------
    def car_blocks(self, root: CID, store: Any = None) -> Iterator[tuple[CID, bytes]]:
        """The blocks of a CAR export of ``root``: depth first, root first, each once."""
        return dag.blocks(store or self.store, root)

    async def car_export(self, path: str | CID) -> AsyncIterator[bytes]:
        """The DAG under ``path`` as a CAR v1 stream (blocks depth-first, root first);
        what the repo lacks is fetched first."""
        async with self.reading("export", path) as op:
            root = await self.fetch_dag(path, op=op)
            async for data in stream_in_thread(write_car([root], self.car_blocks(root))):
                yield data

    async def car_import(self, chunks: AsyncIterator[bytes] | Iterable[bytes], pin_roots: bool = True) -> tuple[list[CID], int]:
        """Import a CAR stream, verifying every block. A truncated or corrupt CAR
        stores nothing new: blocks already written for it are removed again (unless
        another writer stored or relied on them meanwhile). The GC guard is held from
        the first chunk until the roots are pinned."""
        parser = CarParser(verify=True, max_roots=self.repo.settings.repo.max_car_roots)
        staged: list[tuple[CID, bytes]] = []
        staged_bytes = 0
        written: list[CID] = []
        claim = self.store.claim()
        lease: Lease | None = None
        try:
            try:
                async for chunk in _aiter(chunks):
                    if lease is None:
                        lease = await self.gc_lease()
                    # big chunks are parsed (and their blocks hashed) off the event loop
                    blocks = parser.feed(chunk) if len(chunk) < 1 << 18 else await asyncio.to_thread(parser.feed, chunk)
                    for cid, block in blocks:
                        staged.append((cid, block))
                        staged_bytes += len(block)
                    if staged_bytes > self.car_spill_bytes:  # bound memory: big CARs go to disk as they come
                        written += await asyncio.to_thread(self._spill, staged, claim)
                        staged, staged_bytes = [], 0
                parser.close()
                if lease is None:
                    lease = await self.gc_lease()
                written += await asyncio.to_thread(self._spill, staged, claim)
            except BaseException:
                await asyncio.to_thread(self.store.undo, claim, written)
                raise
            roots = parser.roots or []
            count = parser.blocks
            if pin_roots:
                # as Kubo: the blocks stay imported, but a root whose DAG is incomplete
                # is not pinned (GC would then trip over the missing blocks)
                incomplete = await asyncio.to_thread(self.incomplete_roots, roots)
                if incomplete:
                    raise BlockNotFound(next(iter(incomplete.values())))
                for r in roots:
                    await self.pin_root(r, checked=True)
            return roots, count
        finally:
            self.store.release(claim, written)
            if lease is not None:
                lease.release()

    async def pin_root(self, root: CID, *, checked: bool = False) -> None:
        """Pin content that arrived as blocks (a CAR, a transfer) and announce it like an
        add: pin_status_changed, then content_added. The whole DAG must be present
        (``checked``: the caller, holding the GC guard since, found it so with
        :meth:`incomplete_roots`). Callers that wrote the blocks hold the GC guard
        already; this joins their hold."""
        async with self.gc_guard():
            if not checked:
                await asyncio.to_thread(self._require_dag, root)
            st = await asyncio.to_thread(dag.stat, self.store, root)
            await self._after_add(Entry(root, st.cumulative_size, st.size), pin=True)

    def incomplete_roots(self, roots: list[CID]) -> dict[CID, str]:
        """(worker thread) the roots whose DAG is not all in the repo, and why: one thread
        hop for a CAR's roots however many (a CAR may name thousands)."""
        out: dict[CID, str] = {}
        for r in roots:
            try:
                self._require_dag(r)
            except BlockNotFound as e:
                out[r] = str(e)
        return out

    def _require_dag(self, root: CID) -> None:
        """Raise BlockNotFound unless every block under ``root`` is in the repo."""
        try:
            for c in dag.walk(self.store, root):  # reading a missing node raises
                if not self.store.has(c):
                    raise BlockNotFound(f"block {c} is missing")
        except BlockNotFound as e:
            raise BlockNotFound(f"the DAG under {root} is incomplete: {e}") from None

    def _spill(self, blocks: list[tuple[CID, bytes]], claim: int) -> list[CID]:
        """Write blocks; return those that were new (recorded under ``claim``)."""
        return [cid for cid, data in blocks if self.store.put(cid, data, claim=claim)]

    # -- repo ------------------------------------------------------------------------------
    async def repo_stat(self) -> dict[str, Any]:
        count, size = await asyncio.to_thread(self.store.stat)
        return {"NumObjects": count, "RepoSize": size, "RepoPath": str(self.repo.path), "Version": "fs-repo@ipfs-kit-1"}

    async def repo_verify(self) -> VerifyReport:
        """Check every block against its hash, then that every pinned DAG is complete
        (while holding the GC guard, so a GC cannot make a pin look incomplete)."""

        def hashes() -> tuple[int, list[str]]:
            bad, n = [], 0
            for mh in self.store.multihashes():
                n += 1
                cid = CID(1, RAW, mh)
                try:
                    if cid.hash_code == SHA2_256:
                        self.store.get(cid, verify=True)
                except CorruptBlock:
                    bad.append(str(cid))
                except BlockNotFound:  # removed since it was listed
                    n -= 1
            return n, bad

        checked, corrupt = await asyncio.to_thread(hashes)
        async with self.gc_guard():
            walk = await asyncio.to_thread(lambda: walk_pins(self.store, self.index.pins()))
        return VerifyReport(checked, corrupt, walk.incomplete)


async def stream_in_thread(it: Iterator[bytes | memoryview], batch_bytes: int = 1 << 20, *,
                           executor: Executor | None = None, flush: ReadOp | None = None) -> AsyncIterator[bytes]:
    """Drive a blocking iterator of byte pieces from worker threads, one thread hop per
    ~``batch_bytes``, so disk reads never block the event loop. Whole-object views are
    handed on as their own bytes object (no copy). With ``flush``, a batch ends as soon
    as a block came from the network, so fetched bytes go out as they arrive, and the
    first batch is the first piece alone: the first byte never waits for the next block."""
    first = True

    def next_batch() -> list[bytes]:
        nonlocal first
        out, size = [], 0
        for piece in it:
            if isinstance(piece, memoryview):
                obj = piece.obj
                piece = obj if isinstance(obj, bytes) and len(piece) == len(obj) else bytes(piece)
            out.append(piece)
            size += len(piece)
            if size >= batch_bytes or (flush is not None and (first or flush.fetched_since_flush)):
                if flush is not None:
                    flush.fetched_since_flush = False
                first = False
                break
        return out

    loop = asyncio.get_running_loop()
    while batch := await loop.run_in_executor(executor, next_batch):
        for data in batch:
            yield data


def _multihash(cid: str) -> bytes | None:
    try:
        return CID.decode(cid).multihash
    except ValueError:
        return None


async def _aiter(chunks: AsyncIterator[bytes] | Iterable[bytes]) -> AsyncIterator[bytes]:
    if hasattr(chunks, "__aiter__"):
        async for c in chunks:
            yield c
    else:
        for c in chunks:
            yield c
