"""The node's IPNS publisher and resolver.

Published records (ours, and those stored with ``name put``) are kept in
``<repo>/ipns/<peer-id>.rec``: they give the next sequence number and are what
we serve from the DHT. Resolved records are cached for their TTL (never past
their validity). With a libp2p peer, records go to the DHT with Kubo's keys
(:mod:`.dht`); without one, only local names resolve. With ``ipns.use_pubsub``
they also go over pubsub (:mod:`.pubsub`), and resolving asks both, as Kubo's
``Ipns.UsePubsub`` does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from libp2p.peer.id import ID

from ..errors import ChannelUnavailable, InvalidArgument, NotFound
from ..keystore import Keystore, format_id
from . import dht as ipns_dht
from . import record as rec
from .names import name_id, split_name_path

if TYPE_CHECKING:
    from .pubsub import IpnsPubsub

log = logging.getLogger(__name__)

MAX_DEPTH = 32  # Kubo's DefaultDepthLimit for recursive resolution


@dataclass(frozen=True, slots=True)
class Published:
    name: ID
    value: str
    sequence: int
    peers: list[str]


class Names:
    def __init__(self, node: Any) -> None:
        self.node = node
        self.keystore = Keystore(node.repo.path)
        self.dir = Path(node.repo.path) / "ipns"
        self._cache: dict[bytes, tuple[rec.Record, float]] = {}
        self._locks: dict[bytes, asyncio.Lock] = {}
        self.pubsub: IpnsPubsub | None = None  # IPNS over pubsub (ipns.use_pubsub), set by register()

    # -- local records --------------------------------------------------------------------------
    def _file(self, name: ID) -> Path:
        return self.dir / f"{name.to_base58()}.rec"

    def local_record(self, name: ID) -> rec.Record | None:
        try:
            raw = self._file(name).read_bytes()
        except FileNotFoundError:
            return None
        try:
            return rec.verify(raw, name, check_expiry=False)
        except rec.InvalidRecord:
            log.warning("ignoring the unreadable IPNS record in %s", self._file(name))
            return None

    def _save(self, name: ID, raw: bytes) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{name.to_base58()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, self._file(name))

    def _dht(self) -> Any | None:
        svc = self.node.services.get("libp2p") if self.node is not None else None
        return getattr(svc, "dht", None) if svc is not None else None

    def _cache_put(self, name: ID, r: rec.Record) -> None:
        ttl = min(r.ttl_seconds, max(0.0, (r.validity - datetime.now(UTC)).total_seconds()))
        if ttl > 0:
            self._cache[name.to_bytes()] = (r, time.monotonic() + ttl)

    # -- publish --------------------------------------------------------------------------------
    async def publish(self, key: str, value: str, *, lifetime: float | None = None, ttl: float | None = None,
                      allow_offline: bool = False, sequence: int | None = None,
                      v1_compat: bool = True) -> Published:
        k = await asyncio.to_thread(self.keystore.find, key)
        name = k.peer_id
        defaults = self.node.settings.ipns
        lifetime = defaults.lifetime if lifetime is None else lifetime
        if lifetime <= 0:
            raise InvalidArgument("lifetime must be positive")
        ttl = defaults.ttl if ttl is None else ttl
        ttl = min(ttl, lifetime)
        dht = self._dht()
        if dht is None and not allow_offline:
            raise ChannelUnavailable("can't publish while offline: pass `--allow-offline` to override")
        lock = self._locks.setdefault(name.to_bytes(), asyncio.Lock())
        async with lock:
            old = await asyncio.to_thread(self.local_record, name)
            seq = 0
            if old is not None:
                seq = old.sequence + (old.value != value)
            if sequence is not None:
                if old is not None and sequence <= old.sequence:
                    raise InvalidArgument(f"sequence {sequence} must be higher than the current {old.sequence}")
                seq = sequence
            eol = datetime.now(UTC) + timedelta(seconds=lifetime)
            raw = rec.create(k.private, value, seq, eol, int(ttl * 1e9), v1_compat=v1_compat)
            await asyncio.to_thread(self._save, name, raw)
            self._cache_put(name, rec.parse(raw))
        peers = await self._route(dht, name, raw, allow_offline)
        return Published(name, value, seq, peers)

    async def _route(self, dht: Any, name: ID, raw: bytes, allow_offline: bool) -> list[str]:
        """Put ``raw`` on the DHT and, with IPNS over pubsub, on the name's topic (at once, as
        Kubo's parallel router); the DHT peers that took it. Kubo's rule: publishing fails only
        if every router failed (a pubsub publish with nobody listening counts as done)."""
        if dht is None:
            return []
        put_dht = ipns_dht.put(dht, name, raw)
        if self.pubsub is None:
            peers = await put_dht
            pubsub_error: BaseException | None = ChannelUnavailable("IPNS over pubsub is off")
        else:
            took, pubsub_error = await asyncio.gather(put_dht, self.pubsub.put(name, raw), return_exceptions=True)
            if isinstance(took, BaseException):
                raise took
            peers = took
        if pubsub_error is not None:
            log.debug("IPNS over pubsub: %s", pubsub_error)
            if not peers and not allow_offline:
                raise ChannelUnavailable("failed to publish: no DHT peer took the record "
                                         "(it is kept locally; pass --allow-offline to accept that)")
        return peers

    # -- records --------------------------------------------------------------------------------
    async def best_record(self, name: ID, *, nocache: bool = False, count: int = 16,
                          timeout: float | None = None) -> rec.Record:
        """The best valid record for ``name``: the cache, our own, the DHT."""
        if not nocache:
            hit = self._cache.get(name.to_bytes())
            if hit is not None and hit[1] > time.monotonic() and not hit[0].expired():
                return hit[0]
        candidates: list[rec.Record] = []
        mine = await asyncio.to_thread(self.local_record, name)
        if mine is not None and not mine.expired():
            candidates.append(mine)
        dht = self._dht()
        if dht is not None:
            if timeout is None:
                timeout = self.node.settings.ipns.resolve_timeout
            on_dht = ipns_dht.get(dht, name, count=count, timeout=timeout)
            if self.pubsub is None:
                found = await on_dht
            else:  # both at once; the pubsub side answers from its store, or waits for a first fetch
                found, held = await asyncio.gather(on_dht, self.pubsub.search(name, timeout))
                if held is not None:
                    candidates.append(held)
            for raw in found:
                try:
                    candidates.append(rec.verify(raw, name))
                except rec.InvalidRecord:
                    continue
        if not candidates:
            raise NotFound(f"could not resolve name: /ipns/{format_id(name)}: no valid record found")
        best = candidates[0]
        for c in candidates[1:]:
            if rec.better(c, best):
                best = c
        self._cache_put(name, best)
        return best

    async def get_record(self, name: str) -> bytes:
        return (await self.best_record(name_id(split_name_path(name)[0]), nocache=True)).raw

    async def put_record(self, name: str, raw: bytes, *, force: bool = False,
                         allow_offline: bool = False) -> Published:
        pid = name_id(split_name_path(name)[0])
        r = rec.parse(raw) if force else rec.verify(raw, pid)
        dht = self._dht()
        if dht is None and not allow_offline:
            raise ChannelUnavailable("can't put while offline: pass `--allow-offline` to override")
        old = await asyncio.to_thread(self.local_record, pid)
        if old is not None and not force and not rec.better(r, old) and old.raw != raw:
            raise InvalidArgument(f"record sequence {r.sequence} is not newer than the stored {old.sequence}")
        await asyncio.to_thread(self._save, pid, raw)
        self._cache_put(pid, r)
        peers = await self._route(dht, pid, raw, True)
        return Published(pid, r.value, r.sequence, peers)

    # -- resolve --------------------------------------------------------------------------------
    async def resolve_steps(self, path: str, *, recursive: bool = True, nocache: bool = False,
                            count: int = 16, timeout: float | None = None) -> AsyncIterator[str]:
        """Each path the name resolves to in turn (the last is the answer)."""
        current = path if path.startswith("/ipns/") else "/ipns/" + path.lstrip("/")
        for _ in range(MAX_DEPTH):
            name, rest = split_name_path(current)
            best = await self.best_record(name_id(name), nocache=nocache, count=count, timeout=timeout)
            current = best.value.rstrip("/") + rest if rest else best.value
            yield current
            if not recursive or not current.startswith("/ipns/"):
                return
        raise InvalidArgument(f"could not resolve name {path}: recursion limit of {MAX_DEPTH} exceeded")

    async def resolve(self, path: str, **kw: Any) -> str:
        last = ""
        async for step in self.resolve_steps(path, **kw):
            last = step
        return last


_by_node: weakref.WeakKeyDictionary[Any, Names] = weakref.WeakKeyDictionary()


def names_of(node: Any) -> Names:
    """The node's IPNS publisher and resolver (one per node)."""
    svc: Names | None = node.services.get("ipns")
    if svc is not None:
        return svc
    if node not in _by_node:
        _by_node[node] = Names(node)
    return _by_node[node]


class NamesService(Names):
    """As a node service: installs the IPNS validator in the DHT when the node starts,
    so records Kubo PUTs to us are kept."""

    async def start(self) -> None:
        dht = self._dht()
        if dht is not None and dht.kad is not None:
            await dht.peer.bridge.call(_install_async, dht)
        if self.pubsub is not None:
            await self.pubsub.start(self.node.services["pubsub"])

    async def stop(self) -> None:
        if self.pubsub is not None:
            await self.pubsub.stop()


async def _install_async(dht: Any) -> None:
    ipns_dht.install(dht)


def register(node: Any) -> None:
    from ..compat import kad_kubo

    kad_kubo.apply()  # before the DHT serves its first stream (Kubo crashes on py-libp2p's ADD_PROVIDER echo)
    names = NamesService(node)
    libp2p = node.services.get("libp2p")
    s = node.settings.ipns
    if s.use_pubsub and libp2p is not None:  # the pubsub service joins after us: start() finds it
        from .pubsub import IpnsPubsub

        names.pubsub = IpnsPubsub(names, libp2p.peer, rebroadcast=s.pubsub_rebroadcast,
                                  max_names=s.pubsub_max_names)
    node.add_service("ipns", names)
