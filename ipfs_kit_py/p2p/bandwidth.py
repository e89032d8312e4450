"""Bandwidth of the libp2p peer, counted as Kubo's ``stats/bw`` reports it: bytes in
and out in total, by protocol and by peer, with a rate (bytes/s, an exponentially
weighted moving average).

Counting happens on the streams: a notifee registered on the host wraps the
``read``/``write`` of every stream the swarm opens (either direction), so the
DHT, bitswap, pubsub and our own protocols are all counted, each under the
protocol the stream negotiated. Only the notifee API and the stream's public
methods are used.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.abc import INotifee

TAU = 1.0  # seconds: the time constant of the rate's moving average
IDLE_FORGET = 3600.0  # a peer's meter is dropped after this long without traffic


class Meter:
    """A byte counter with an exponentially decaying rate."""

    __slots__ = ("last", "rate", "total")

    def __init__(self) -> None:
        self.total = 0
        self.rate = 0.0
        self.last = time.monotonic()

    def _decay(self, now: float) -> None:
        if now > self.last:
            self.rate *= math.exp(-(now - self.last) / TAU)
            self.last = now

    def mark(self, n: int, now: float) -> None:
        self._decay(now)
        self.total += n
        self.rate += n / TAU

    def rate_at(self, now: float) -> float:
        self._decay(now)
        return self.rate


@dataclass(frozen=True, slots=True)
class Totals:
    total_in: int
    total_out: int
    rate_in: float
    rate_out: float


class BandwidthCounter:
    """Thread-safe: streams count in the libp2p thread, the API reads from the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all = (Meter(), Meter())  # (in, out)
        self._protocols: dict[str, tuple[Meter, Meter]] = {}
        self._peers: dict[str, tuple[Meter, Meter]] = {}

    def record(self, peer: str, protocol: str, n: int, outbound: bool) -> None:
        now = time.monotonic()
        i = 1 if outbound else 0
        with self._lock:
            self._all[i].mark(n, now)
            self._protocols.setdefault(protocol, (Meter(), Meter()))[i].mark(n, now)
            pm = self._peers.get(peer)
            if pm is None:
                if len(self._peers) > 4096:  # forget peers idle for long, so the table stays bounded
                    self._peers = {p: m for p, m in self._peers.items()
                                   if now - max(m[0].last, m[1].last) < IDLE_FORGET}
                pm = self._peers[peer] = (Meter(), Meter())
            pm[i].mark(n, now)

    def totals(self, *, peer: str | None = None, protocol: str | None = None) -> Totals:
        now = time.monotonic()
        with self._lock:
            if peer is not None:
                meters = self._peers.get(peer)
            elif protocol is not None:
                meters = self._protocols.get(protocol)
            else:
                meters = self._all
            if meters is None:
                return Totals(0, 0, 0.0, 0.0)
            return Totals(meters[0].total, meters[1].total, meters[0].rate_at(now), meters[1].rate_at(now))

    def protocols(self) -> list[str]:
        with self._lock:
            return sorted(self._protocols)


class _CountingNotifee(INotifee):
    def __init__(self, counter: BandwidthCounter) -> None:
        self.counter = counter

    async def opened_stream(self, network: Any, stream: Any) -> None:
        wrap_stream(stream, self.counter)

    async def closed_stream(self, network: Any, stream: Any) -> None:
        pass

    async def connected(self, network: Any, conn: Any) -> None:
        pass

    async def disconnected(self, network: Any, conn: Any) -> None:
        pass

    async def listen(self, network: Any, multiaddr: Any) -> None:
        pass

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        pass


def wrap_stream(stream: Any, counter: BandwidthCounter) -> None:
    """Count what ``stream`` reads and writes (once per stream)."""
    if getattr(stream, "_ipfs_kit_counted", False):
        return
    read, write = stream.read, stream.write
    try:
        peer = stream.muxed_conn.peer_id.to_base58()
    except Exception:  # noqa: BLE001 - a stream without a peer: counted as ""
        peer = ""

    def protocol() -> str:
        try:
            return str(stream.get_protocol() or "")
        except Exception:  # noqa: BLE001
            return ""

    async def counted_read(n: int | None = None) -> bytes:
        data: bytes = await read(n)
        if data:
            counter.record(peer, protocol(), len(data), False)
        return data

    async def counted_write(data: bytes) -> None:
        await write(data)
        counter.record(peer, protocol(), len(data), True)

    stream.read, stream.write = counted_read, counted_write
    stream._ipfs_kit_counted = True


def service(counter: BandwidthCounter) -> Callable[..., Awaitable[None]]:
    """A trio service for ``IPFSLibp2pPeer.add_trio_service``: from the host's start,
    every stream it opens is counted in ``counter``."""

    async def run(host: Any, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        host.get_network().register_notifee(_CountingNotifee(counter))
        task_status.started()

    return run
