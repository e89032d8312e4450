"""The GC guard: an asyncio-native readers/writer lock between content writers and GC.

Writers of new content (adds, CAR imports, received transfers, pins) *share* the
guard from the first block they write until their root is pinned; garbage
collection takes it *alone*, so it never collects blocks that are written but
not pinned yet.

Why asyncio-native: every waiter is a future on the event loop, never a thread.
An earlier version waited in worker threads, and six GC requests during an add
filled the default executor with waiters while the add, which held the lock,
needed one of those threads to finish: the server deadlocked for good. Here
nobody waiting occupies a thread, so the holder always makes progress.

Fairness is Kubo's (a Go ``sync.RWMutex``): once a GC waits, new writers queue
behind it, so a steady stream of adds cannot starve GC; writers that queued
during a GC all enter together when it ends, before the next GC.

A task that already holds the guard and calls something that takes it again
(``pin_root`` inside a transfer, say) must not queue behind a waiting GC - the
GC waits for it, a deadlock. Holding is therefore recorded in a context variable
as a :class:`Lease`; a nested ``acquire`` in the same task (or in a task it
started while holding it) joins the lease, and the guard is only given back when
every holder of the lease has released it. A lease that has ended is never
joined: a task outliving its creator's hold takes a share of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import AsyncIterator


class Lease:
    """One shared hold of a :class:`GCGuard`, possibly joined by nested holders."""

    __slots__ = ("_count", "_guard", "_owner")

    def __init__(self, guard: GCGuard) -> None:
        self._guard = guard
        self._count = 1
        self._owner = asyncio.current_task()

    @property
    def active(self) -> bool:
        return self._count > 0

    def release(self) -> None:
        """Give this holder's share back (idempotent once the lease has ended)."""
        if self._count <= 0:
            return
        self._count -= 1
        if self._count == 0:
            self._guard._release_shared()


_held: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("ipfs_kit_gc_lease", default=None)


class GCGuard:
    """Shared by content writers, exclusive for GC; waiters are futures, never threads."""

    def __init__(self) -> None:
        self._readers = 0  # shares granted and not yet released
        self._gc_running = False
        self._readers_waiting: deque[asyncio.Future[None]] = deque()
        self._gc_waiting: deque[asyncio.Future[None]] = deque()

    # -- state, for tests and status ------------------------------------------------------
    @property
    def readers(self) -> int:
        return self._readers

    @property
    def gc_running(self) -> bool:
        return self._gc_running

    @property
    def gc_waiting(self) -> int:
        return sum(1 for f in self._gc_waiting if not f.done())

    def held_here(self) -> bool:
        """True when the current context holds a share of this guard (the task that
        took it, or a task it started while holding it)."""
        lease = _held.get()
        return lease is not None and lease._guard is self and lease.active

    def held_by_this_task(self) -> bool:
        """True when the current task itself took the share it holds: it must not wait
        for a GC (the GC would wait for it)."""
        lease = _held.get()
        return self.held_here() and lease is not None and lease._owner is asyncio.current_task()

    @staticmethod
    def detached() -> contextvars.Context:
        """A copy of the current context holding no share: for tasks that must not join
        their creator's hold (a GC run started by a task that holds the guard)."""
        ctx = contextvars.copy_context()
        ctx.run(_held.set, None)
        return ctx

    # -- shared side (content writers) ----------------------------------------------------
    async def acquire(self) -> Lease:
        """A share of the guard: joins the current context's lease if it has one, else
        waits (on the loop) while a GC runs or waits. Call ``release()`` on the result."""
        lease = _held.get()
        if lease is not None and lease._guard is self and lease.active:
            lease._count += 1
            return lease
        await self._acquire_shared()
        lease = Lease(self)
        _held.set(lease)
        return lease

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[Lease]:
        lease = await self.acquire()
        try:
            yield lease
        finally:
            lease.release()

    async def _acquire_shared(self) -> None:
        if not self._gc_running and not self._gc_waiting:
            self._readers += 1
            return
        fut = asyncio.get_running_loop().create_future()
        self._readers_waiting.append(fut)
        try:
            await fut  # granted by _wake: the share is already counted
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release_shared()  # granted just as we were cancelled: give it back
            else:
                self._discard(self._readers_waiting, fut)
            raise

    def _release_shared(self) -> None:
        self._readers -= 1
        if self._readers == 0:
            self._wake()

    # -- exclusive side (GC) ------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Held alone: waits until every share is released; new shares wait meanwhile.
        Must not be taken by a task that holds a share (it would wait for itself)."""
        if self.held_by_this_task():
            raise RuntimeError("GC requested by a task that holds the GC guard: it would wait for itself")
        await self._acquire_exclusive()
        try:
            yield
        finally:
            self._gc_running = False
            self._wake(after_gc=True)

    async def _acquire_exclusive(self) -> None:
        if not self._gc_running and self._readers == 0 and not self._gc_waiting:
            self._gc_running = True
            return
        fut = asyncio.get_running_loop().create_future()
        self._gc_waiting.append(fut)
        try:
            await fut  # granted by _wake: _gc_running is already set for us
        except asyncio.CancelledError:
            granted = fut.done() and not fut.cancelled()
            if granted:
                self._gc_running = False
            else:
                self._discard(self._gc_waiting, fut)
            self._wake(after_gc=granted)  # writers that queued behind this GC may go now
            raise

    # -- hand-over ------------------------------------------------------------------------------
    def _wake(self, after_gc: bool = False) -> None:
        """Grant the lock to whoever is next. Right after a GC: every writer that queued
        meanwhile (all at once). Else, once no share is left: the next GC. Writers wait
        only while a GC waits or runs, so with no GC waiting they all go."""
        if self._gc_running:
            return
        self._prune(self._gc_waiting)
        self._prune(self._readers_waiting)
        if self._readers_waiting and (after_gc or not self._gc_waiting):
            while self._readers_waiting:
                fut = self._readers_waiting.popleft()
                if not fut.done():  # a cancelled waiter is skipped
                    self._readers += 1
                    fut.set_result(None)
            return
        while self._readers == 0 and self._gc_waiting:
            fut = self._gc_waiting.popleft()
            if not fut.done():
                self._gc_running = True
                fut.set_result(None)
                return
        if not self._gc_waiting and self._readers_waiting:  # the GC waiters all went away
            self._wake(after_gc=True)

    @staticmethod
    def _prune(waiters: deque[asyncio.Future[None]]) -> None:
        while waiters and waiters[0].done():
            waiters.popleft()

    @staticmethod
    def _discard(waiters: deque[asyncio.Future[None]], fut: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            waiters.remove(fut)
