"""The reprovider: announce what this node provides on the DHT, again and again.

Provider records expire (48 h on the Amino DHT) and the peers that hold them
come and go, so a node re-announces its content on an interval
(``provide.interval``, Kubo's 22 h). What is announced is ``provide.strategy``,
with Kubo's names:

- ``roots``: the root CID of every pin (the default);
- ``pinned``: every block of every pinned DAG (direct pins: the block itself);
- ``all``: every block in the store.

A run starts when the node starts (as soon as a DHT peer is connected: with
none, announcing is pointless) and then every ``interval`` seconds; newly
pinned content is announced at once (roots, or the whole DAG for
``pinned``/``all``). Counters survive restarts (the index's state table), so
``provide/stat`` shows the node's history, not only this process's.

The scheduling decision is a plain function (:func:`next_run_at`); the loop
around it only waits and calls the DHT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ..content import dag
from ..content.blockstore import Blockstore
from ..content.cid import CID, RAW
from ..content.index import DIRECT
from ..errors import InvalidArgument

log = logging.getLogger(__name__)

STRATEGIES = ("roots", "pinned", "all")
STATE_KEY = "reprovider"
MAX_ERRORS_KEPT = 20
PEER_POLL = (0.2, 5.0)  # seconds between checks for a DHT peer before a run: first, then doubling up to the second

Announce = Callable[[CID], Awaitable[list[str]]]


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise InvalidArgument(f"invalid provide.strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    return strategy


def next_run_at(last_run: float | None, interval: float, started: float) -> float | None:
    """When the next run is due: at start (first run of this process), then ``interval``
    after the last run; None: no periodic runs (``interval`` 0) once the first is done."""
    if last_run is None or last_run < started:
        return started
    if interval <= 0:
        return None
    return last_run + interval


def keys_to_provide(store: Blockstore, pins: list[tuple[str, str]], strategy: str) -> Iterator[CID]:
    """The CIDs a run announces, each once (by multihash, which is the DHT key)."""
    seen: set[bytes] = set()

    def once(c: CID) -> bool:
        if c.multihash in seen:
            return False
        seen.add(c.multihash)
        return True

    if strategy == "all":
        for mh in store.multihashes():
            c = CID(1, RAW, mh)
            if once(c):
                yield c
        return
    for cid_s, type_ in pins:
        root = CID.decode(cid_s)
        if strategy == "roots" or type_ == DIRECT:
            if once(root) and store.has(root):
                yield root
            continue
        for c in dag.walk(store, root, skip=lambda c: c.multihash in seen):
            if once(c):
                yield c


@dataclass
class ReproviderState:
    """What ``provide/stat`` shows; persisted between runs and restarts."""

    total_provides: int = 0  # provider records accepted by at least one peer, all runs
    total_reprovides: int = 0  # runs completed
    last_run: float | None = None  # start of the last completed run (Unix seconds)
    last_duration: float = 0.0  # seconds
    avg_duration: float = 0.0  # seconds, over completed runs
    last_batch_size: int = 0  # CIDs announced in the last run
    last_batch_failed: int = 0  # CIDs no peer accepted in the last run
    errors: list[dict[str, Any]] = field(default_factory=list)  # the last few, newest last

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> ReproviderState:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (ValueError, TypeError):
            log.warning("saved reprovider state is unreadable; starting afresh")
            return cls()


class Reprovider:
    """Runs the announce loop of one node. ``announce(cid)`` returns the peers that
    took the record; ``has_dht_peer()`` says whether announcing can reach anyone."""

    def __init__(self, *, store: Blockstore, pins: Callable[[], Awaitable[list[tuple[str, str]]]],
                 announce: Announce, has_dht_peer: Callable[[], Awaitable[bool]],
                 load_state: Callable[[], str | None], save_state: Callable[[str], None],
                 strategy: str = "roots", interval: float = 79200.0, max_workers: int = 16) -> None:
        self.store = store
        self.pins = pins
        self.announce = announce
        self.has_dht_peer = has_dht_peer
        self._load, self._save = load_state, save_state
        self.strategy = check_strategy(strategy)
        self.interval = max(0.0, float(interval))
        self.max_workers = max(1, int(max_workers))
        self.state = ReproviderState.from_json(load_state())
        self.started = time.time()
        self.running = False
        self.current_started: float | None = None
        self.current_done = 0
        self._wake = asyncio.Event()
        self._run_lock = asyncio.Lock()  # one run at a time (the loop and routing/reprovide)
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.started = time.time()
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def trigger(self) -> None:
        """Start a run now (``routing/reprovide``)."""
        self._wake.set()

    # -- state -----------------------------------------------------------------------------------
    def next_run(self) -> float | None:
        return next_run_at(self.state.last_run, self.interval, self.started)

    def stat(self) -> dict[str, Any]:
        """Kubo's legacy ``provide stat`` JSON (``{"Legacy": {...}}``, durations in ns)
        and our own fields beside it."""
        s = self.state
        ns = 1_000_000_000
        nxt = self.next_run()
        return {
            "Sweep": None,
            "Legacy": {
                "TotalReprovides": s.total_reprovides,
                "LastReprovideBatchSize": s.last_batch_size,
                "ReprovideInterval": int(self.interval * ns),
                "AvgReprovideDuration": int(s.avg_duration * ns),
                "LastReprovideDuration": int(s.last_duration * ns),
                "LastRun": _rfc3339(s.last_run),
            },
            "FullRT": False,
            "Strategy": self.strategy,
            "Running": self.running,
            "RunningSince": _rfc3339(self.current_started) if self.running else None,
            "RunningProvided": self.current_done if self.running else 0,
            "NextRun": _rfc3339(nxt) if nxt is not None and not self.running else None,
            "TotalProvides": s.total_provides,
            "LastReprovideFailed": s.last_batch_failed,
            "Errors": list(s.errors),
        }

    def _error(self, cid: str | None, message: str) -> None:
        self.state.errors.append({"Time": _rfc3339(time.time()), "CID": cid, "Message": message})
        del self.state.errors[:-MAX_ERRORS_KEPT]

    # -- runs --------------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            due = self.next_run()
            if due is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, due - time.time()))
            self._wake.clear()
            delay = PEER_POLL[0]
            while not await self.has_dht_peer():  # nobody to announce to yet
                await asyncio.sleep(delay)
                delay = min(delay * 2, PEER_POLL[1])
            try:
                await self.run_once()
            except Exception as e:  # noqa: BLE001 - a failed run is recorded, the loop goes on
                log.exception("reprovide run failed")
                self._error(None, f"run failed: {e}")
                self.state.last_run = time.time()
                self._save(self.state.to_json())

    async def run_once(self) -> ReproviderState:
        """Announce everything the strategy names, ``max_workers`` at a time."""
        async with self._run_lock:
            return await self._run()

    async def _run(self) -> ReproviderState:
        self.running, self.current_started, self.current_done = True, time.time(), 0
        started = self.current_started
        failed = 0
        try:
            pins = await self.pins()
            keys = await asyncio.to_thread(lambda: list(keys_to_provide(self.store, pins, self.strategy)))
            limit = asyncio.Semaphore(self.max_workers)

            async def one(c: CID) -> None:
                nonlocal failed
                async with limit:
                    try:
                        peers = await self.announce(c)
                    except Exception as e:  # noqa: BLE001 - recorded; the run goes on
                        peers = []
                        self._error(str(c), str(e) or type(e).__name__)
                    else:
                        if not peers:
                            self._error(str(c), "no peer accepted the provider record")
                    if peers:
                        self.state.total_provides += 1
                        self.current_done += 1
                    else:
                        failed += 1

            await asyncio.gather(*(one(c) for c in keys))
            s = self.state
            s.last_duration = time.time() - started
            s.avg_duration = (s.avg_duration * s.total_reprovides + s.last_duration) / (s.total_reprovides + 1)
            s.total_reprovides += 1
            s.last_run = started
            s.last_batch_size = len(keys)
            s.last_batch_failed = failed
            self._save(s.to_json())
            log.info("reprovide run: %d CIDs (%s), %d not accepted, %.1fs", len(keys), self.strategy,
                     failed, s.last_duration)
            return s
        finally:
            self.running = False

    async def provide_new(self, root: CID) -> None:
        """Announce newly pinned content at once (roots: the root; otherwise its DAG)."""
        if self.strategy == "roots":
            keys = [root]
        else:
            keys = await asyncio.to_thread(lambda: list(dag.walk(self.store, root)))
        for c in keys:
            try:
                if await self.announce(c):
                    self.state.total_provides += 1
            except Exception as e:  # noqa: BLE001 - best effort; the next run retries
                self._error(str(c), str(e) or type(e).__name__)
        self._save(self.state.to_json())


def _rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1000):03d}Z"

