"""The serving side of bitswap: one queue of wants per peer, answered in order.

A peer's want entries go into its queue as they arrive; a worker per peer (running
only while the queue holds something) answers them in batches: a batch's blocks are
read in a worker thread, up to ``max_batch_bytes``, and sent as one message. The
reader of the peer's stream never waits for our sends, so a cancel that arrives
while blocks are still queued removes them before they are read or sent (Kubo's
peer task queue does the same), and a full wantlist replaces the queue.

Limits: at most ``max_queued`` entries per peer (later ones are dropped, as Kubo
caps a peer's wantlist); a banned or disconnected peer's queue is dropped whole.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..content.blockstore import Blockstore
from ..content.cid import CID

log = logging.getLogger(__name__)

MAX_QUEUED = 4096  # want entries queued per peer
WANT_BLOCK, WANT_HAVE = 0, 1
HAVE, DONT_HAVE = 0, 1

# (peer, blocks, presences) -> sends one message
Send = Callable[[str, list[tuple[CID, bytes]], list[tuple[CID, int]]], Awaitable[None]]


@dataclass(slots=True)
class _Queue:
    wants: OrderedDict[bytes, Any] = field(default_factory=OrderedDict)  # multihash -> WantEntry
    worker: asyncio.Task[None] | None = None


class ServingQueues:
    """Per-peer want queues over ``store``; ``send`` delivers each batch's answer."""

    def __init__(self, store: Blockstore, send: Send, *, max_batch_bytes: int = 2 << 20,
                 max_queued: int = MAX_QUEUED) -> None:
        self.store = store
        self.send = send
        self.max_batch_bytes = max_batch_bytes
        self.max_queued = max_queued
        self._queues: dict[str, _Queue] = {}
        self.cancelled = 0  # queued entries removed by a cancel before they were answered

    def queued(self, peer: str) -> int:
        q = self._queues.get(peer)
        return len(q.wants) if q is not None else 0

    def on_wants(self, peer: str, entries: list[Any], full: bool = False) -> None:
        """Apply one message's wantlist: cancels remove, wants join the queue (a full
        wantlist first drops what it no longer lists)."""
        q = self._queues.get(peer)
        if q is None:
            if not any(not e.cancel for e in entries):
                return
            q = self._queues[peer] = _Queue()
        if full:
            listed = {e.cid.multihash for e in entries if not e.cancel}
            for mh in [mh for mh in q.wants if mh not in listed]:
                del q.wants[mh]
        for e in entries:
            mh = e.cid.multihash
            if e.cancel:
                if q.wants.pop(mh, None) is not None:
                    self.cancelled += 1
            elif mh in q.wants:
                old = q.wants[mh]
                if e.want_type == WANT_BLOCK and old.want_type != WANT_BLOCK:  # upgraded to a want-block
                    q.wants[mh] = e
            elif len(q.wants) < self.max_queued:
                q.wants[mh] = e
        if q.wants and (q.worker is None or q.worker.done()):
            q.worker = asyncio.ensure_future(self._work(peer, q))
        elif not q.wants and q.worker is None:
            del self._queues[peer]

    def drop(self, peer: str) -> None:
        """Forget a peer's queue (it left, or it is banned)."""
        q = self._queues.pop(peer, None)
        if q is not None and q.worker is not None:
            q.worker.cancel()

    async def _work(self, peer: str, q: _Queue) -> None:
        try:
            while q.wants:
                batch = list(itertools.islice(q.wants.values(), 256))  # not a copy of the whole queue
                blocks, presences, answered = await asyncio.to_thread(self._lookup, batch)
                # a cancel that came while the blocks were read removed its entry: not sent
                live = {mh for mh in answered if q.wants.pop(mh, None) is not None}
                blocks = [(c, d) for c, d in blocks if c.multihash in live]
                presences = [(c, k) for c, k in presences if c.multihash in live]
                if blocks or presences:
                    await self.send(peer, blocks, presences)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the peer went away: its queue goes too
            log.debug("bitswap: answering %s failed: %s", peer, e)
            q.wants.clear()
        finally:
            if self._queues.get(peer) is q and not q.wants:
                del self._queues[peer]

    def _lookup(self, batch: list[Any]) -> tuple[list[tuple[CID, bytes]], list[tuple[CID, int]], set[bytes]]:
        """(worker thread) the answers to the batch's first entries, up to the batch size."""
        blocks: list[tuple[CID, bytes]] = []
        presences: list[tuple[CID, int]] = []
        answered: set[bytes] = set()
        size = 0
        for w in batch:
            has = self.store.has(w.cid)
            if w.want_type == WANT_BLOCK and has:
                if blocks and size >= self.max_batch_bytes:
                    continue  # stays queued for the next batch; the presences below go now
                data = self.store.get(w.cid)
                blocks.append((w.cid, data))
                size += len(data)
            elif w.want_type == WANT_HAVE and has:
                presences.append((w.cid, HAVE))
            elif not has and w.send_dont_have:
                presences.append((w.cid, DONT_HAVE))
            answered.add(w.cid.multihash)
        return blocks, presences, answered
