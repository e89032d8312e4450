"""Peering, as Kubo's ``swarm/peering``: peers this node keeps connected to. Each is
dialed when added and redialed whenever its connection is gone, with a backoff
(from ``FIRST_BACKOFF`` doubling up to ``MAX_BACKOFF``, with jitter) while it stays
unreachable. The set lives as long as the node runs (Kubo's ``swarm peering add``
does not write the config either).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0  # seconds between looks at which peers need a dial
FIRST_BACKOFF = 5.0  # seconds before the second attempt at an unreachable peer
MAX_BACKOFF = 600.0


@dataclass
class _Peer:
    addrs: list[str] = field(default_factory=list)
    backoff: float = 0.0
    next_try: float = 0.0


class Peering:
    """``connected()``: the peer IDs connected now; ``dial(addr)``: connect to a
    ``.../p2p/<id>`` multiaddr (raises when it cannot)."""

    def __init__(self, connected: Callable[[], list[str]], dial: Callable[[str], Awaitable[object]],
                 spawn: Callable[[Awaitable[None]], None]) -> None:
        self._connected, self._dial, self._spawn = connected, dial, spawn
        self.peers: dict[str, _Peer] = {}
        self._running = False
        self._wake = asyncio.Event()

    def add(self, peer_id: str, addr: str | None) -> None:
        p = self.peers.setdefault(peer_id, _Peer())
        if addr and addr not in p.addrs:
            p.addrs.append(addr)
        p.backoff, p.next_try = 0.0, 0.0
        if not self._running:
            self._running = True
            self._spawn(self._run())
        self._wake.set()

    def remove(self, peer_id: str) -> bool:
        return self.peers.pop(peer_id, None) is not None

    def list(self) -> list[tuple[str, list[str]]]:
        return [(pid, list(p.addrs)) for pid, p in self.peers.items()]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.peers:  # the task ends with the last peer removed (add starts it again)
                connected = set(self._connected())
                now = loop.time()
                for pid, p in list(self.peers.items()):
                    if pid in connected:
                        p.backoff = 0.0
                        continue
                    if not p.addrs or now < p.next_try:
                        continue
                    await self._try(pid, p, loop.time())
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), CHECK_EVERY)
                except TimeoutError:
                    pass
        finally:
            self._running = False

    async def _try(self, pid: str, p: _Peer, now: float) -> None:
        for addr in list(p.addrs):
            try:
                await self._dial(f"{addr}/p2p/{pid}")
                p.backoff = 0.0
                return
            except Exception as e:  # noqa: BLE001 - unreachable now: try again later
                log.debug("peering: %s at %s unreachable: %s", pid, addr, e)
        p.backoff = min(MAX_BACKOFF, max(FIRST_BACKOFF, p.backoff * 2))
        p.next_try = now + p.backoff * random.uniform(0.8, 1.2)
