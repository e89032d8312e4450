"""Reads that reach the network: the block source chain behind every read.

Every read of the model (cat, get, ls, stat, pin add, block get, CAR export, the
gateway, WebRTC media, ``/ws`` cat) runs as a :class:`ReadOp` and reads its blocks
through it: the local store first, then a network :class:`BlockSource` (the libp2p
service's bitswap session over connected peers, then DHT providers). A fetched
block was matched against its CID's hash before it got here; it is stored unpinned,
so GC may reclaim it unless something pins it.

Readers are synchronous code in worker threads (the UnixFS reader, the DAG
walkers). :class:`FetchingStore` gives them the blockstore interface they know:
a missing block is fetched by a task on the event loop while the worker thread
waits for it. Nothing on the fetching side ever needs a worker thread of the
default executor (blocks are written by this module's own writer thread), and
reads that may wait on the network run in the model's own reader pool, so
waiting readers can neither deadlock a fetch nor starve other work.

``offline`` (the node's ``retrieval.offline``, or per request through
:data:`read_options`) answers from the local store only and fails at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import time
import uuid
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from .content import dag
from .content.blockstore import Blockstore
from .content.cid import CID, RAW
from .errors import BlockNotFound, IPFSKitError

log = logging.getLogger(__name__)


class FetchCancelled(IPFSKitError):
    """The read was stopped (its client went away, or it timed out) while blocks were in flight."""

    status = 499
    code = "cancelled"


@dataclass(frozen=True, slots=True)
class ReadOptions:
    offline: bool | None = None  # None: the node's retrieval.offline


# Set per request by the HTTP layer (``offline=true``); read when a ReadOp starts.
read_options: contextvars.ContextVar[ReadOptions] = contextvars.ContextVar(
    "ipfs_kit_read_options", default=ReadOptions())  # noqa: B039 - frozen


class NetworkSession(Protocol):
    """Fetches blocks for one read; returns bytes whose hash matched the CID."""

    async def get(self, cid: CID) -> bytes: ...

    def providers(self) -> list[str]: ...

    def close(self) -> None: ...


class BlockSource(Protocol):
    """What reaches the network: one session per read operation."""

    def session(self) -> NetworkSession: ...


def offline_error(cid: CID) -> BlockNotFound:
    return BlockNotFound(f"block was not found locally (offline): {cid}")


class ReadOp:
    """One read operation and the blocks it fetched from the network.

    Loop side: :meth:`get_block`, :meth:`fetch_dag`. Worker threads: :meth:`get_sync`,
    :meth:`prefetch` (through :class:`FetchingStore`). :meth:`close` stops every fetch
    still in flight (a waiting worker thread gets :class:`FetchCancelled`)."""

    def __init__(self, store: Blockstore, source: BlockSource | None, loop: asyncio.AbstractEventLoop | None,
                 writer: ThreadPoolExecutor, *, offline: bool, name: str = "read", root: str = "",
                 emit: Callable[[str, dict[str, Any]], None] | None = None, read_ahead: int = 16) -> None:
        self.store = store
        self.source = None if offline or loop is None else source
        self.offline = offline
        self.loop = loop
        self.writer = writer
        self.name = name
        self.root = root
        self.read_ahead = read_ahead
        self._emit = emit
        self._session: NetworkSession | None = None
        self._inflight: dict[bytes, asyncio.Task[bytes]] = {}
        # fetched blocks whose write is still running: readers get them from here meanwhile
        self._storing: dict[bytes, tuple[bytes, asyncio.Future[Any]]] = {}
        self.closed = False
        self.blocks = 0  # fetched from the network
        self.bytes = 0
        self.fetched_since_flush = False
        self.transfer_id = uuid.uuid4().hex[:16]
        self._started = False
        self._last_progress = 0.0
        self.fetching_store = FetchingStore(self)

    # -- loop side -------------------------------------------------------------------------
    async def get_block(self, cid: CID) -> bytes:
        """The block, from the local store or else the network (then stored, unpinned)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.writer, self.store.get, cid)
        except BlockNotFound:
            pass
        return await self._missing(cid)

    async def fetch(self, cid: CID) -> bytes:
        """Fetch a block we lack; concurrent requests for the same block share one fetch."""
        if self.closed:
            raise FetchCancelled(f"the read of {self.root or cid} was stopped")
        if self.source is None:
            raise offline_error(cid)
        if (held := self._storing.get(cid.multihash)) is not None:
            return held[0]
        task = self._inflight.get(cid.multihash)
        if task is None:
            task = asyncio.ensure_future(self._fetch(cid))
            self._inflight[cid.multihash] = task
            task.add_done_callback(self._fetched)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():  # the op was closed, not our caller cancelled
                raise FetchCancelled(f"the read of {self.root or cid} was stopped") from None
            raise

    def _fetched(self, task: asyncio.Task[bytes]) -> None:
        for mh, t in list(self._inflight.items()):
            if t is task:
                del self._inflight[mh]
        if not task.cancelled():
            task.exception()  # a prefetch nobody awaited must not log "never retrieved"

    async def _fetch(self, cid: CID) -> bytes:
        # the callers looked in the store just before (a block another read brings at the
        # same time arrives for both sessions at once)
        assert self.source is not None
        loop = asyncio.get_running_loop()
        if self._session is None:
            self._session = self.source.session()
            self._transfer_started()
        # verified by the session (bitswap computes the multihash from the bytes, the gateway
        # source checks it): a second sha256 of every block here would cost ~5% of a fetch
        data = await self._session.get(cid)
        # the reader gets the bytes now; the write runs behind it (see settle)
        mh = cid.multihash
        put = loop.run_in_executor(self.writer, self.store.put, cid, data)
        self._storing[mh] = (data, put)
        put.add_done_callback(lambda f: self._stored(mh, f))
        self.blocks += 1
        self.bytes += len(data)
        self.fetched_since_flush = True
        self._transfer_progress()
        return data

    def _stored(self, mh: bytes, put: asyncio.Future[Any]) -> None:
        held = self._storing.get(mh)
        if held is not None and held[1] is put:
            del self._storing[mh]
        if not put.cancelled() and (e := put.exception()) is not None:
            log.warning("a fetched block could not be stored: %s", e)

    async def settle(self) -> None:
        """Wait until every fetched block is written (before relying on the store)."""
        while self._storing:
            await asyncio.gather(*(put for _data, put in list(self._storing.values())), return_exceptions=True)

    def prefetch_async(self, cids: Iterable[CID]) -> None:
        """(loop) start fetching blocks that a reader will want soon."""
        if self.closed or self.source is None:
            return
        for cid in cids:
            if cid.multihash not in self._inflight:
                task = asyncio.ensure_future(self._fetch(cid))
                self._inflight[cid.multihash] = task
                task.add_done_callback(self._fetched)

    async def fetch_dag(self, root: CID, on_block: Callable[[int], None] | None = None,
                        window: int = 64) -> tuple[int, int]:
        """Make every block of the DAG under ``root`` local, fetching up to ``window`` at
        once; ``on_block(n)`` after each block. Returns (blocks, block bytes)."""
        # Not content/walk.py, on purpose: its level order asks for a batch of the frontier
        # and waits for the whole batch (the slowest block of each batch stalls the others),
        # while this keeps ``window`` fetches in flight, each finished one making room for the
        # next, in no fixed order; and a raw leaf already here is counted by size, never read.
        # Only the link extraction is shared (dag.block_links, the walk's).
        pending: deque[CID] = deque([root])
        seen = {root.multihash}
        running: set[asyncio.Task[tuple[int, list[CID]]]] = set()
        count = size = 0
        try:
            while pending or running:
                while pending and len(running) < window:
                    running.add(asyncio.ensure_future(self._visit(pending.popleft())))
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    n, links = t.result()
                    count += 1
                    size += n
                    for c in links:
                        if c.multihash not in seen:
                            seen.add(c.multihash)
                            pending.append(c)
                    if on_block is not None:
                        on_block(count)
        finally:
            for t in running:
                t.cancel()
        await self.settle()
        return count, size

    async def _visit(self, cid: CID) -> tuple[int, list[CID]]:
        loop = asyncio.get_running_loop()
        local = await loop.run_in_executor(self.writer, self._local, cid)
        if isinstance(local, int):
            return local, []
        data = local if local is not None else await self._missing(cid)
        return len(data), dag.block_links(cid, data)

    def _local(self, cid: CID) -> bytes | int | None:
        """(worker thread) a local block's bytes (a raw leaf's size: never read), or None."""
        try:
            return self.store.size(cid) if cid.codec == RAW else self.store.get(cid)
        except BlockNotFound:
            return None

    async def _missing(self, cid: CID) -> bytes:
        if self.source is None:
            raise offline_error(cid) if self.offline else BlockNotFound(f"block {cid} not found")
        return await self.fetch(cid)

    def close(self, error: BaseException | None = None) -> None:
        """Stop what is still in flight; publish the transfer's outcome if it fetched."""
        if self.closed:
            return
        self.closed = True
        for task in list(self._inflight.values()):
            task.cancel()
        if self._session is not None:
            self._session.close()
            if error is None:
                self._event("transfer_completed")
            else:
                reason = "cancelled" if isinstance(error, (asyncio.CancelledError, GeneratorExit)) else str(error)
                self._event("transfer_failed", error=reason or type(error).__name__)

    def close_threadsafe(self) -> None:
        if self.loop is None or self.closed:
            self.closed = True
            return
        try:
            if _on_loop(self.loop):
                self.close()
            else:
                self.loop.call_soon_threadsafe(self.close)
        except RuntimeError:  # the loop is gone
            self.closed = True

    # -- worker-thread side ----------------------------------------------------------------
    def get_sync(self, cid: CID, verify: bool = False) -> bytes:
        """(worker thread) the block, waiting for the network when it is not local."""
        if (held := self._storing.get(cid.multihash)) is not None:  # fetched, still being written
            return held[0]
        try:
            return self.store.get(cid, verify=verify)
        except BlockNotFound:
            if self.source is None:
                if self.offline:
                    raise offline_error(cid) from None
                raise
        assert self.loop is not None
        if _on_loop(self.loop):
            raise RuntimeError("a read that needs the network ran on the event loop thread: use a worker thread")
        fut = asyncio.run_coroutine_threadsafe(self.fetch(cid), self.loop)
        while True:
            try:
                return fut.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                if not self.loop.is_running():  # the server is stopping: never hang its threads
                    fut.cancel()
                    raise FetchCancelled(f"the read of {self.root or cid} was stopped: shutting down") from None
            except concurrent.futures.CancelledError:
                raise FetchCancelled(f"the read of {self.root or cid} was stopped") from None

    def prefetch(self, cids: Iterable[CID]) -> None:
        """(worker thread) start fetching the blocks of ``cids`` that are not local."""
        if self.source is None or self.closed or self.loop is None:
            return
        missing = [c for c in cids if c.multihash not in self._inflight and c.multihash not in self._storing
                   and not self.store.has(c)]
        if missing:
            try:
                self.loop.call_soon_threadsafe(self.prefetch_async, missing)
            except RuntimeError:
                pass

    # -- events ----------------------------------------------------------------------------
    def _event(self, type_: str, **extra: Any) -> None:
        if self._emit is None:
            return
        providers = self._session.providers() if self._session is not None else []
        self._emit(type_, {"transfer_id": self.transfer_id, "cid": self.root, "peer_id": ",".join(providers) or "*",
                           "direction": "receive", "kind": self.name, "protocol": "bitswap",
                           "blocks": self.blocks, "bytes": self.bytes, "total": None,
                           "providers": providers, **extra})

    def _transfer_started(self) -> None:
        if not self._started:
            self._started = True
            self._event("transfer_started")

    def _transfer_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_progress >= 0.5:
            self._last_progress = now
            self._event("transfer_progress")


class OpStream:
    """The chunks of a read whose :class:`ReadOp` began before the stream did (the stat
    that sized a cat shares its session with the body): the op ends with the stream,
    when it is closed unread, or (a consumer that dropped it unstarted) when it is
    garbage collected."""

    def __init__(self, chunks: AsyncIterator[bytes], op: ReadOp) -> None:
        self._chunks = chunks
        self._op = op
        self._finalizer = weakref.finalize(self, op.close_threadsafe)

    def __aiter__(self) -> OpStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            await self._op.settle()
            self._end(None)
            raise
        except BaseException as e:
            self._end(e)
            raise

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        self._end(asyncio.CancelledError() if not self._op.closed else None)

    def _end(self, error: BaseException | None) -> None:
        self._finalizer.detach()
        self._op.close(error)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class FetchingStore:
    """The blockstore interface over a :class:`ReadOp`, for synchronous readers in
    worker threads: ``get`` and ``size`` fetch what is missing; ``prefetch`` starts
    fetching blocks a reader will want next; everything else is the local store's."""

    def __init__(self, op: ReadOp) -> None:
        self.op = op
        self.local = op.store

    def get(self, cid: CID, *, verify: bool = False) -> bytes:
        return self.op.get_sync(cid, verify)

    def size(self, cid: CID) -> int:
        try:
            return self.local.size(cid)
        except BlockNotFound:
            return len(self.op.get_sync(cid))

    def has(self, cid: CID) -> bool:
        return cid.multihash in self.op._storing or self.local.has(cid)

    def prefetch(self, cids: Iterable[CID]) -> None:
        self.op.prefetch(cids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)


def reader_pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="ipfs-read")


def writer_pool() -> ThreadPoolExecutor:
    # one thread: a block write is a few system calls, each handing the GIL to whichever
    # thread waits for it; a second writer only added contention with the libp2p thread
    # (one provider, 128 MiB: 2.9-3.3 s of fetcher CPU with one writer, 3.4-4.3 s with two)
    return ThreadPoolExecutor(1, thread_name_prefix="ipfs-fetch-store")

