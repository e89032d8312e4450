"""Bitswap sessions: fetching the blocks of one read from many peers at once.

A session belongs to one read (a cat, a pin add, a gateway request) and runs on
the :class:`~ipfs_kit_py.p2p.bitswap.Bitswap` engine, which routes every HAVE,
DONT_HAVE and block to the sessions that want it. How a block is found:

1. Discovery: the first time, want-block goes to one connected peer and want-have
   to every other one (all with send-dont-have), so one round trip finds holders.
2. Peers that answered HAVE or sent a block join the session; later wants go to
   them directly as want-block, to the least loaded first: several providers are
   in flight at once, at most ``window`` want-blocks per peer.
3. A DONT_HAVE, a disconnect (peer churn), a timeout (``block_timeout``) or a
   banned peer frees the want, which goes to the next holder or is rebroadcast.
4. Blocks no peer has are rebroadcast as want-have to every connected peer each
   ``rebroadcast_interval`` (peers that connected since are asked too), and after
   ``provider_search_delay`` the session asks its ``find_providers`` callback (the
   DHT), which dials the providers; they are asked at once.
5. A block that nobody has fails with BlockNotFound once every connected peer said
   DONT_HAVE and the provider search found nobody new, or after ``find_timeout``
   without any progress. A block whose only holder left or was banned is searched
   for again.

Peer reputation (``reputation.py``): the session measures each block's latency
(want-block to block) and each peer's throughput while it had want-blocks in
flight, and counts want-blocks a peer sat on as failures, in the engine's ledger.
Among peers with room, the one expected to clear its queue soonest is asked
first: (blocks in flight + 1) / (measured throughput x score), an unmeasured
peer counting as fast as the best one (so it gets tried); discovery's want-block
goes to the best-scored peer; a ``poor`` peer gets a quarter of the window.

Blocks reach a session only when their bytes hash to a wanted multihash (the
engine computes the CID from the bytes), so a bad block can never be returned.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..content.cid import CID
from ..errors import BlockNotFound

if TYPE_CHECKING:
    from .bitswap import Bitswap

log = logging.getLogger(__name__)

FindProviders = Callable[[CID], Awaitable[list[str]]]
LATE_HAVE = 2.0  # seconds a HAVE for a block already received still adds its peer to the session
RATE_SPREAD = 3.0  # a session's slowest measured peer is asked as if at most this much slower than its best


@dataclass(slots=True)
class SessionSettings:
    window: int = 32  # want-blocks in flight per peer
    block_timeout: float = 10.0
    rebroadcast_interval: float = 1.0
    provider_search_delay: float = 0.5
    find_timeout: float = 30.0


@dataclass(slots=True)
class _Want:
    cid: CID
    fut: asyncio.Future[bytes]
    created: float
    holders: set[str] = field(default_factory=set)  # peers that said HAVE
    dont_have: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)  # peers that did not deliver
    asked: set[str] = field(default_factory=set)  # peers sent a want-have or want-block for it
    haves: set[str] = field(default_factory=set)  # of those, the ones sent only a want-have
    block_peer: str | None = None  # the peer holding our want-block
    block_sent: float = 0.0
    broadcast_at: float = -1.0
    searched: bool = False


@dataclass(slots=True)
class _Peer:
    inflight: set[bytes] = field(default_factory=set)
    delivered: int = 0
    bytes: int = 0
    busy_since: float = 0.0  # when its in-flight want-blocks last went from none to some (or its last block)


class BitswapSession:
    def __init__(self, engine: Bitswap, *, settings: SessionSettings | None = None,
                 find_providers: FindProviders | None = None, peers: list[str] | None = None) -> None:
        self.engine = engine
        self.settings = settings or SessionSettings()
        self.find_providers = find_providers
        self.fixed_peers = list(peers) if peers else None  # only these peers (no discovery)
        self.wants: dict[bytes, _Want] = {}
        self.peers: dict[str, _Peer] = {}  # peers that had blocks for this session
        self.used: list[str] = []  # peers that delivered blocks, in order of first delivery
        self.last_progress = time.monotonic()
        self._searching: asyncio.Task[None] | None = None
        self._tick: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flush_soon = False  # a _flush_now is scheduled
        self._outbox: dict[str, list[Any]] = {}
        self._late: dict[bytes, float] = {}  # found by discovery: a late HAVE still adds its peer (until then)
        # want-haves of delivered blocks, cancelled only once a late HAVE no longer counts: a
        # provider that honours cancels at once would otherwise never say HAVE, never join
        self._late_cancels: dict[bytes, tuple[CID, set[str]]] = {}
        self.closed = False

    # -- public ---------------------------------------------------------------------------
    async def get(self, cid: CID) -> bytes:
        """The bytes of ``cid`` from the network (their hash matched ``cid``)."""
        if self.closed:
            raise BlockNotFound(f"session closed before {cid} arrived")
        w = self.wants.get(cid.multihash)
        if w is None:
            w = _Want(cid, asyncio.get_running_loop().create_future(), time.monotonic())
            self.wants[cid.multihash] = w
            self.engine._register(self, cid.multihash)
            self._pump()
            self._ensure_tick()
        try:
            return await asyncio.shield(w.fut)
        except asyncio.CancelledError:
            if not w.fut.done():  # nobody else waits for it: stop wanting it
                self._drop(w, cancel=True)
                self._flush()
            raise

    def providers(self) -> list[str]:
        return list(self.used)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for w in list(self.wants.values()):
            self._drop(w, cancel=True)
            if not w.fut.done():
                w.fut.cancel()
        self._flush()
        for mh in self._late:
            self.engine._unregister(self, mh)
        self._late.clear()
        self._cancel_late(list(self._late_cancels))
        for t in (self._tick, self._searching):
            if t is not None:
                t.cancel()

    # -- from the engine -------------------------------------------------------------------
    def on_block(self, peer: str, cid: CID, data: bytes) -> None:
        w = self.wants.get(cid.multihash)
        if w is None:
            return
        st = self.peers.setdefault(peer, _Peer())
        st.delivered += 1
        st.bytes += len(data)
        now = time.monotonic()
        if w.block_peer == peer:  # the answer to our want-block: measure the peer
            busy = now - st.busy_since if st.busy_since else 0.0
            self.engine.ledger.measured(peer, latency=now - w.block_sent,
                                        throughput=len(data) / busy if busy > 1e-4 else None)
            st.busy_since = now if len(st.inflight) > 1 else 0.0
        if peer not in self.used:
            self.used.append(peer)
        self.last_progress = time.monotonic()
        self._drop(w, cancel=True, except_peer=peer)
        if w.broadcast_at >= 0 and not self.closed:
            # other peers' HAVEs for it may still be on their way: they join the session then
            self._late[cid.multihash] = time.monotonic() + LATE_HAVE
            self.engine._register(self, cid.multihash)
            self._ensure_tick()
        if not w.fut.done():
            w.fut.set_result(data)
        self._pump()

    def on_presence(self, peer: str, cid: CID, have: bool) -> None:
        w = self.wants.get(cid.multihash)
        if w is None:
            if have and cid.multihash in self._late and not self.engine.is_banned(peer):
                self.peers.setdefault(peer, _Peer())
                self._pump()
            return
        if have:
            w.holders.add(peer)
            self.peers.setdefault(peer, _Peer())
        else:
            w.dont_have.add(peer)
            w.holders.discard(peer)
            if w.block_peer == peer:
                self._release(w)
        self._pump()

    def on_peer_gone(self, peer: str) -> None:
        """Disconnected or banned: its wants go elsewhere. A want it held with no other
        holder left may search for providers again: an earlier search may have found just
        this peer (a provider search that ran before a bad provider was banned found only it)."""
        st = self.peers.pop(peer, None)
        for w in self.wants.values():
            held = peer in w.holders or w.block_peer == peer
            w.holders.discard(peer)
            if w.block_peer == peer:
                w.failed.add(peer)
                self._release(w)
            if held and not (w.holders - w.failed):
                w.searched = False
        if st is not None or self.wants:
            self._pump()

    # -- scheduling ------------------------------------------------------------------------
    def _candidates(self) -> list[str]:
        banned = self.engine.is_banned
        if self.fixed_peers is not None:
            return [p for p in self.fixed_peers if not banned(p)]
        return [p for p in self.engine.peer.get_connected_peers() if not banned(p)]

    def _window(self, peer: str) -> int:
        w = self.settings.window
        return max(1, w // 4) if self.engine.ledger.standing(peer) == "poor" else w

    def _room(self, peer: str) -> bool:
        st = self.peers.get(peer)
        return st is None or len(st.inflight) < self._window(peer)

    def _rank(self, peer: str, best: float) -> float:
        """Lower is asked first: the expected time to clear the peer's queue plus one more
        block, from its measured throughput (an unmeasured peer is assumed as fast as the
        best one: it gets tried) weighed by its score (a peer with failures counts slower).

        A measured rate counts at least ``1/RATE_SPREAD`` of the best one: a peer's rate
        is measured from its own deliveries, and one that measured low once (one block in
        flight, a busy moment) would otherwise never be asked again, and never re-measured,
        while the best peer takes every want (one provider of three serving everything).
        A peer with no record yet counts as a good one: it has not failed."""
        st = self.peers.get(peer)
        load = len(st.inflight) if st is not None else 0
        r = self.engine.ledger.get(peer)
        rate = min(best, max(best / RATE_SPREAD, r.throughput)) if r is not None and r.throughput else best
        return (load + 1) / (rate * max(0.05, min(1.0, 2 * self.engine.ledger.score(peer))))

    def _best_rate(self, peers: list[str]) -> float:
        rates = [r.throughput for p in peers if (r := self.engine.ledger.get(p)) is not None and r.throughput]
        return max(rates) if rates else 1.0

    def _assign(self, w: _Want, peer: str) -> None:
        from .bitswap import WantEntry
        from .serving import WANT_BLOCK

        w.block_peer = peer
        w.block_sent = time.monotonic()
        w.asked.add(peer)
        w.haves.discard(peer)
        st = self.peers.setdefault(peer, _Peer())
        if not st.inflight:
            st.busy_since = w.block_sent
        st.inflight.add(w.cid.multihash)
        self._outbox.setdefault(peer, []).append(WantEntry(w.cid, want_type=WANT_BLOCK, send_dont_have=True))

    def _release(self, w: _Want) -> None:
        if w.block_peer is not None:
            st = self.peers.get(w.block_peer)
            if st is not None:
                st.inflight.discard(w.cid.multihash)
            w.block_peer = None

    def _pump(self) -> None:
        """Send what can be sent now: want-blocks to holders with room, discovery for the rest."""
        if self.closed:
            return
        from .bitswap import WantEntry
        from .serving import WANT_HAVE

        now = time.monotonic()
        connected: list[str] | None = None
        for w in list(self.wants.values()):
            if w.fut.done() or w.block_peer is not None:
                continue
            # 1. a peer that said HAVE for it; 2. a peer of this session (it had earlier blocks of
            # the same read), the least loaded first: several providers are in flight at once
            holders = [p for p in w.holders if p not in w.failed and self._room(p) and not self.engine.is_banned(p)]
            if not holders:
                holders = [p for p in self.peers
                           if p not in w.failed and p not in w.dont_have and p not in w.asked
                           and self._room(p) and not self.engine.is_banned(p)]
            if holders:
                best = self._best_rate(holders)
                self._assign(w, min(holders, key=lambda p: (self._rank(p, best),
                                                             -(self.peers[p].bytes if p in self.peers else 0))))
                continue
            if w.holders - w.failed:  # holders exist but their windows are full: wait for room
                continue
            if w.broadcast_at >= 0 and now - w.broadcast_at < self.settings.rebroadcast_interval:
                continue
            # discovery: want-block to one peer, want-have to the others
            if connected is None:
                connected = self._candidates()
            fresh = [p for p in connected if p not in w.dont_have and p not in w.failed]
            if not fresh:
                fresh = [p for p in connected if p not in w.dont_have]
            w.broadcast_at = now
            if not fresh:
                continue
            score = self.engine.ledger.score
            first = max([p for p in fresh if self._room(p)] or fresh, key=lambda p: (score(p), random.random()))
            self._assign(w, first)
            for p in fresh:
                if p != first:
                    w.asked.add(p)
                    w.haves.add(p)
                    self._outbox.setdefault(p, []).append(WantEntry(w.cid, want_type=WANT_HAVE, send_dont_have=True))
        self._check_failures(now)
        self._flush()

    def _check_failures(self, now: float) -> None:
        connected = None
        for w in list(self.wants.values()):
            if w.fut.done() or w.block_peer is not None or (w.holders - w.failed):
                continue
            if now - max(w.created, self.last_progress) > self.settings.find_timeout:
                self._fail(w, f"no peer sent block {w.cid} within {self.settings.find_timeout:g} s")
                continue
            if connected is None:
                connected = set(self._candidates())
            everyone_said_no = connected <= (w.dont_have | w.failed)
            search_done = self.find_providers is None or (w.searched and self._searching is None)
            if everyone_said_no and search_done:
                self._fail(w, f"block {w.cid} not found: no connected peer or provider has it")

    def _fail(self, w: _Want, message: str) -> None:
        self._drop(w, cancel=True)
        if not w.fut.done():
            w.fut.set_exception(BlockNotFound(message))
            w.fut.exception()  # retrieved here; the waiter re-raises it

    def _drop(self, w: _Want, *, cancel: bool, except_peer: str | None = None) -> None:
        """Forget a want (received, failed or abandoned) and cancel it at the peers asked."""
        from .bitswap import WantEntry

        self._release(w)
        if self.wants.get(w.cid.multihash) is w:
            del self.wants[w.cid.multihash]
            self.engine._unregister(self, w.cid.multihash)
        if cancel:
            later = w.haves - {except_peer} if except_peer is not None and not self.closed else set()
            if later:
                self._late_cancels[w.cid.multihash] = (w.cid, later)
            for p in w.asked - later:
                if p != except_peer:
                    self._outbox.setdefault(p, []).append(WantEntry(w.cid, cancel=True))
            w.asked.clear()
            w.haves.clear()

    def _cancel_late(self, mhs: list[bytes]) -> None:
        from .bitswap import WantEntry

        for mh in mhs:
            held = self._late_cancels.pop(mh, None)
            if held is not None:
                for p in held[1]:
                    self._outbox.setdefault(p, []).append(WantEntry(held[0], cancel=True))
        self._flush()

    def _flush(self) -> None:
        """Send the outbox at the end of this turn of the loop: the wants that the blocks of
        one message free go out as one message per peer, not one message per block."""
        if not self._outbox or self._flush_soon:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the loop (a close from elsewhere): now
            self._flush_now()
            return
        self._flush_soon = True
        loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        from .bitswap import Message

        self._flush_soon = False
        outbox, self._outbox = self._outbox, {}
        for peer, entries in outbox.items():
            self._spawn(self._send(peer, Message(wants=entries)))

    async def _send(self, peer: str, msg: Any) -> None:
        try:
            await self.engine.send(peer, msg)
        except Exception as e:  # noqa: BLE001 - cannot reach it (gone, or it does not speak bitswap)
            log.debug("bitswap session: cannot send to %s: %s", peer, e)
            for entry in msg.wants:
                w = self.wants.get(entry.cid.multihash)
                if w is not None and not entry.cancel:
                    w.dont_have.add(peer)
                    if w.block_peer == peer:
                        w.failed.add(peer)
                        self._release(w)
            self._pump()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- timers ----------------------------------------------------------------------------
    def _ensure_tick(self) -> None:
        if self._tick is None or self._tick.done():
            self._tick = asyncio.ensure_future(self._ticker())

    async def _ticker(self) -> None:
        s = self.settings
        interval = max(0.05, min(0.25, s.rebroadcast_interval / 2, s.provider_search_delay / 2))
        while (self.wants or self._late) and not self.closed:
            await asyncio.sleep(interval)
            now = time.monotonic()
            expired = [mh for mh, until in self._late.items() if until <= now]
            self._cancel_late(expired)
            for mh in expired:
                del self._late[mh]
                if mh not in self.wants:
                    self.engine._unregister(self, mh)
            connected = set(self._candidates())
            for w in list(self.wants.values()):
                if w.block_peer is not None and (w.block_peer not in connected
                                                 or now - w.block_sent > s.block_timeout):
                    if w.block_peer in connected:  # it sat on our want-block: that counts against it
                        self.engine.ledger.failed(w.block_peer, "want-block timeout")
                    w.failed.add(w.block_peer)  # gone, or sat on our want-block: ask another peer
                    self._release(w)
            for p in [p for p in self.peers if p not in connected]:
                self.on_peer_gone(p)
            self._maybe_search(now)
            self._pump()

    def _maybe_search(self, now: float) -> None:
        if self.find_providers is None or self._searching is not None or self.closed:
            return
        waiting = [w for w in self.wants.values()
                   if not w.fut.done() and not w.searched and not (w.holders - w.failed)
                   and now - w.created >= self.settings.provider_search_delay]
        if waiting:
            w = min(waiting, key=lambda w: w.created)
            w.searched = True
            self._searching = asyncio.ensure_future(self._search(w.cid))

    async def _search(self, cid: CID) -> None:
        assert self.find_providers is not None
        try:
            found = await self.find_providers(cid)
        except Exception as e:  # noqa: BLE001 - routing failed: the other sources still run
            log.info("provider search for %s failed: %s", cid, e)
            found = []
        finally:
            self._searching = None
        if found and not self.closed:
            log.info("bitswap session: providers of %s: %s", cid, ", ".join(found))
            for w in self.wants.values():  # the new peers are asked at once
                for p in found:
                    w.dont_have.discard(p)
                    w.failed.discard(p)
                w.broadcast_at = -1.0
        self._pump()
