"""IPNS over pubsub, as Kubo offers it (``Ipns.UsePubsub``; go-libp2p-pubsub-router,
specs.ipfs.tech/ipns/ipns-pubsub-router), behind ``ipns.use_pubsub``.

A name's records travel on the gossipsub topic ``/record/`` + base64url (no
padding) of its routing key ``/ipns/`` + the binary peer ID. Publishing a name
joins its topic and publishes the record there; resolving a name joins its topic
too (until ``name/pubsub/cancel``) and keeps the best valid record that arrives
(higher sequence, then later validity), next to what the DHT answers.

A late subscriber gets the current record with the fetch protocol
``/libp2p/fetch/0.0.1``: when a peer joins a topic we are in (or is in it when we
join), we ask it for the topic's key and it answers with its record. Requests and
answers are varint-length-delimited protobufs (``FetchRequest{identifier=1:
string}``, ``FetchResponse{status=1: OK 0 | NOT_FOUND 1 | ERROR 2, data=2: bytes}``).
Subscribed names' records are re-published every ``ipns.pubsub_rebroadcast``
seconds (Kubo: one minute). At most ``ipns.pubsub_max_names`` topics are held:
joining one more leaves the one least recently published or resolved (Kubo holds
every topic until ``name/pubsub/cancel``; a reader could make it join without end).

Messages whose record does not verify for the topic's name are rejected by the
topic validator (not delivered, not forwarded). Kubo also *ignores* (does not
forward) valid records that are not newer than the one it holds; py-libp2p's
validators can only accept or reject, and a rejection counts against the
forwarding peer's score, so such records are forwarded here and simply not kept.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
from libp2p.peer.id import ID

from . import record as rec

if TYPE_CHECKING:
    from .service import Names

log = logging.getLogger(__name__)

TOPIC_PREFIX = "/record/"
FETCH_PROTOCOL = "/libp2p/fetch/0.0.1"
FETCH_TIMEOUT = 10.0  # seconds one fetch from one peer may take (go-libp2p-pubsub-router's)
MAX_FETCH_MESSAGE = 1 << 20  # bytes of one delimited fetch message (go's reader limit)
MAX_SERVING = 64  # fetch requests answered at once; more are reset
OK, NOT_FOUND, ERROR = 0, 1, 2


def topic_of(name: ID) -> str:
    """The pubsub topic of an IPNS name: ``/record/`` + base64url(``/ipns/`` + binary ID)."""
    return TOPIC_PREFIX + base64.urlsafe_b64encode(rec.routing_key(name)).decode("ascii").rstrip("=")


# -- the fetch protocol's two messages ---------------------------------------------------------------
def _field(num: int, data: bytes) -> bytes:
    return rec._varint(num << 3 | 2) + rec._varint(len(data)) + data


def _fields(buf: bytes) -> dict[int, bytes | int]:
    """The last value of each field of a protobuf message (varint and bytes fields only)."""
    out: dict[int, bytes | int] = {}
    pos = 0
    while pos < len(buf):
        tag, pos = rec._read_varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            out[num], pos = rec._read_varint(buf, pos)
        elif wire == 2:
            n, pos = rec._read_varint(buf, pos)
            if pos + n > len(buf):
                raise rec.InvalidRecord("truncated fetch message")
            out[num], pos = buf[pos:pos + n], pos + n
        else:
            raise rec.InvalidRecord(f"unexpected wire type {wire} in a fetch message")
    return out


def fetch_request(key: bytes) -> bytes:
    """``FetchRequest{identifier: key}`` (the key's bytes as Go's string), undelimited."""
    return _field(1, key)


def parse_fetch_request(msg: bytes) -> bytes:
    ident = _fields(msg).get(1, b"")
    if not isinstance(ident, bytes):
        raise rec.InvalidRecord("fetch request identifier is not a string")
    return ident


def fetch_response(status: int, data: bytes = b"") -> bytes:
    """``FetchResponse{status, data}``, undelimited (proto3: an OK status is left out)."""
    return (rec._varint(1 << 3) + rec._varint(status) if status else b"") + (_field(2, data) if data else b"")


def parse_fetch_response(msg: bytes) -> tuple[int, bytes]:
    f = _fields(msg)
    status, data = f.get(1, OK), f.get(2, b"")
    if not isinstance(status, int) or not isinstance(data, bytes):
        raise rec.InvalidRecord("malformed fetch response")
    return status, data


def _delimited(msg: bytes) -> bytes:
    return rec._varint(len(msg)) + msg


async def _read_delimited(stream: Any) -> bytes:
    from libp2p.utils.varint import read_varint_prefixed_bytes_limited

    return bytes(await read_varint_prefixed_bytes_limited(stream, MAX_FETCH_MESSAGE))


# -- the value store ---------------------------------------------------------------------------------
@dataclass
class _Sub:
    name: ID
    topic: str
    entry: Any = None  # the pubsub service's (loop, queue) for this topic
    reader: asyncio.Task[None] | None = None
    fetched: asyncio.Event = field(default_factory=asyncio.Event)  # the first fetch round is over
    updated: asyncio.Event = field(default_factory=asyncio.Event)  # a better record arrived
    fetches: set[asyncio.Task[None]] = field(default_factory=set)
    used: float = 0.0  # loop time of the last publish or resolve (the least recent is left first)


class IpnsPubsub:
    """The pubsub value store of IPNS records (go-libp2p-pubsub-router's ``PubsubValueStore``)."""

    def __init__(self, names: Names, peer: Any, *, rebroadcast: float = 60.0, max_names: int = 1024,
                 fetch_timeout: float = FETCH_TIMEOUT) -> None:
        self.names = names
        self.peer = peer
        self.rebroadcast = rebroadcast
        self.max_names = max(1, max_names)
        self._serving = 0
        self.fetch_timeout = fetch_timeout
        self.service: Any = None  # the node's PubsubService, from start()
        self._records: dict[bytes, rec.Record] = {}  # name -> best verified record (read by the trio side too)
        self._subs: dict[bytes, _Sub] = {}
        self._locks: dict[bytes, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rebroadcaster: asyncio.Task[None] | None = None
        peer.set_trio_handler(FETCH_PROTOCOL, self._serve_fetch)

    # -- life ---------------------------------------------------------------------------------------
    async def start(self, service: Any) -> None:
        self.service = service
        self._loop = asyncio.get_running_loop()
        service.router.join_listeners.append(self._on_join)
        if self.rebroadcast > 0:
            self._rebroadcaster = asyncio.create_task(self._rebroadcast(), name="ipns-pubsub-rebroadcast")

    async def stop(self) -> None:
        if self.service is not None and self._on_join in self.service.router.join_listeners:
            self.service.router.join_listeners.remove(self._on_join)
        tasks = [t for t in [self._rebroadcaster] if t is not None]
        for sub in list(self._subs.values()):
            tasks += [t for t in [sub.reader, *sub.fetches] if t is not None]
        self._subs.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    # -- the store ----------------------------------------------------------------------------------
    def current(self, name: ID) -> rec.Record | None:
        """The best record held for ``name``, if it has not expired."""
        r = self._records.get(name.to_bytes())
        return r if r is not None and not r.expired() else None

    def offer(self, name: ID, raw: bytes, source: str) -> bool:
        """Keep ``raw`` if it is a valid record for ``name`` better than the one held;
        then resolvers see it at once (the name's cache entry is replaced)."""
        try:
            r = rec.verify(raw, name)
        except rec.InvalidRecord as e:
            log.debug("IPNS record for %s from %s refused: %s", name, source, e)
            return False
        old = self.current(name)
        if old is not None and (old.raw == raw or not rec.better(r, old)):
            return False
        self._records[name.to_bytes()] = r
        self.names._cache_put(name, r)
        sub = self._subs.get(name.to_bytes())
        if sub is not None:
            sub.updated.set()
        log.debug("IPNS record for %s, sequence %d, from %s", name, r.sequence, source)
        return True

    # -- subscriptions -------------------------------------------------------------------------------
    def subscriptions(self) -> list[ID]:
        return [s.name for s in self._subs.values()]

    async def subscribe(self, name: ID) -> _Sub:
        """Join ``name``'s topic (once), then fetch its record from the peers already in it."""
        if self.service is None:
            raise RuntimeError("IPNS over pubsub is not started")
        key = name.to_bytes()
        async with self._locks.setdefault(key, asyncio.Lock()):
            sub = self._subs.get(key)
            if sub is not None:
                sub.used = asyncio.get_running_loop().time()
                return sub
            while len(self._subs) >= self.max_names:
                oldest = min(self._subs.values(), key=lambda s: s.used)
                log.info("IPNS over pubsub: leaving %s (ipns.pubsub_max_names=%d)", oldest.name, self.max_names)
                await self.cancel(oldest.name)
            sub = _Sub(name, topic_of(name), used=asyncio.get_running_loop().time())
            await self.peer.bridge.call(self._set_validator, sub.topic, name)  # before joining, as Kubo
            try:
                sub.entry = await self.service._attach(sub.topic)
            except BaseException:
                await self.peer.bridge.call(self._remove_validator, sub.topic)
                raise
            self._subs[key] = sub
            sub.reader = asyncio.create_task(self._read(sub), name=f"ipns-pubsub:{sub.topic}")
            peers = await self.service.peers(sub.topic)
            first = [self._spawn_fetch(sub, p) for p in peers]
            if first:
                done = asyncio.gather(*first, return_exceptions=True)
                done.add_done_callback(lambda _f: sub.fetched.set())
            else:
                sub.fetched.set()
            return sub

    async def cancel(self, name: ID) -> bool:
        """Leave ``name``'s topic; False if we were not in it (Kubo's ``name/pubsub/cancel``)."""
        sub = self._subs.pop(name.to_bytes(), None)
        self._locks.pop(name.to_bytes(), None)
        if sub is None:
            return False
        tasks = [t for t in [sub.reader, *sub.fetches] if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        with contextlib.suppress(Exception):
            await self.peer.bridge.call(self._remove_validator, sub.topic)
        return True

    async def _read(self, sub: _Sub) -> None:
        try:
            while True:
                m = await sub.entry[1].get()
                self.offer(sub.name, m.data, m.from_peer)
        finally:
            await self.service._detach(sub.topic, sub.entry)

    # -- publish and search ----------------------------------------------------------------------------
    async def put(self, name: ID, raw: bytes) -> None:
        """Join the name's topic and publish ``raw`` there (unless we hold a better record)."""
        sub = await self.subscribe(name)
        self.offer(name, raw, "local")
        held = self.current(name)
        if held is None or held.raw != raw:
            return  # not valid, or what we hold is newer: Kubo publishes nothing then either
        await self.service.publish(sub.topic, raw)

    async def search(self, name: ID, timeout: float) -> rec.Record | None:
        """The best record for ``name`` seen on its topic; a first search joins the topic and
        waits (at most ``timeout``) for a record or for the peers in it to answer a fetch."""
        sub = await self.subscribe(name)
        if self.current(name) is None and not sub.fetched.is_set():
            waits = [asyncio.ensure_future(sub.fetched.wait()), asyncio.ensure_future(sub.updated.wait())]
            try:
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
        return self.current(name)

    async def _rebroadcast(self) -> None:
        while True:
            await asyncio.sleep(self.rebroadcast)
            for sub in list(self._subs.values()):
                r = self.current(sub.name)
                if r is not None:
                    try:
                        await self.service.publish(sub.topic, r.raw)
                    except Exception as e:  # noqa: BLE001 - the next round tries again
                        log.debug("rebroadcast of %s failed: %s", sub.topic, e)

    # -- fetch: the client -----------------------------------------------------------------------------
    def _on_join(self, topic: str, peer: ID) -> None:
        """(trio thread) a peer joined a topic: fetch from it if the topic is a name of ours."""
        if topic.startswith(TOPIC_PREFIX) and self._loop is not None:
            self._loop.call_soon_threadsafe(self._joined, topic, peer.to_base58())

    def _joined(self, topic: str, peer: str) -> None:
        for sub in self._subs.values():
            if sub.topic == topic:
                self._spawn_fetch(sub, peer)

    def _spawn_fetch(self, sub: _Sub, peer: str) -> asyncio.Task[None]:
        task = asyncio.create_task(self._fetch_into(sub, peer), name=f"ipns-fetch:{peer}")
        sub.fetches.add(task)
        task.add_done_callback(sub.fetches.discard)
        return task

    async def _fetch_into(self, sub: _Sub, peer: str) -> None:
        try:
            raw = await self.fetch(peer, sub.name)
        except Exception as e:  # noqa: BLE001 - one peer failing is no failure
            log.debug("fetch of %s from %s failed: %s", sub.topic, peer, e)
            return
        if raw:
            self.offer(sub.name, raw, f"fetch from {peer}")

    async def fetch(self, peer: str, name: ID) -> bytes | None:
        """Ask ``peer`` for its record of ``name`` over ``/libp2p/fetch/0.0.1`` (None: it has none)."""
        key = rec.routing_key(name)
        timeout = self.fetch_timeout

        async def run() -> bytes | None:
            host = self.peer.host
            with trio.fail_after(timeout):
                stream = await host.new_stream(ID.from_base58(peer), [FETCH_PROTOCOL])
                try:
                    await stream.write(_delimited(fetch_request(key)))
                    status, data = parse_fetch_response(await _read_delimited(stream))
                finally:
                    with trio.move_on_after(2):
                        with contextlib.suppress(Exception):
                            await stream.close()
            if status == OK:
                return data
            if status == NOT_FOUND:
                return None
            raise rec.InvalidRecord(f"fetch: peer answered status {status}")

        record: bytes | None = await self.peer.bridge.call(run)  # peer: p2p.peer.IPFSLibp2pPeer
        return record

    # -- fetch: the server (trio) -----------------------------------------------------------------------
    async def _serve_fetch(self, stream: Any) -> None:
        if self._serving >= MAX_SERVING:
            with contextlib.suppress(Exception):
                await stream.reset()
            return
        self._serving += 1
        try:
            with trio.fail_after(self.fetch_timeout):
                key = parse_fetch_request(await _read_delimited(stream))
                held = None
                if key.startswith(b"/ipns/"):
                    with contextlib.suppress(Exception):
                        held = self.current(ID(key[6:]))
                answer = fetch_response(OK, held.raw) if held is not None else fetch_response(NOT_FOUND)
                await stream.write(_delimited(answer))
                await stream.close()
        except Exception as e:  # noqa: BLE001 - a bad request resets its stream, nothing more
            log.debug("fetch request refused: %s", e)
            with contextlib.suppress(Exception):
                await stream.reset()
        finally:
            self._serving -= 1

    # -- the topic validator (trio) -----------------------------------------------------------------------
    async def _set_validator(self, topic: str, name: ID) -> None:
        def valid(_forwarder: ID, msg: Any) -> bool:
            try:
                rec.verify(bytes(msg.data), name)
            except rec.InvalidRecord:
                return False
            return True

        self.service.pubsub.set_topic_validator(topic, valid, False)

    async def _remove_validator(self, topic: str) -> None:
        if self.service.pubsub is not None:
            self.service.pubsub.remove_topic_validator(topic)
