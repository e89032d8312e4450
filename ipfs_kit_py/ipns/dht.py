"""IPNS records on the DHT, with Kubo's keys: ``/ipns/`` + the name's binary multihash.

py-libp2p's ``KadDHT.put_value``/``get_value`` take ``str`` keys and send their
UTF-8 bytes, so a Kubo key cannot be expressed through them. This module uses
the layer below (closest-peer lookup and the per-peer PUT_VALUE / GET_VALUE of
its value store, which take bytes) and validates with :mod:`.record`.

:class:`IpnsValidator` replaces py-libp2p's ``ipns`` validator in the DHT, so
the records other peers (Kubo) PUT to us are checked the same way and we keep
the best one (``compat.kad_kubo`` lets those binary keys through).
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from libp2p.kad_dht import common as kad_common
from libp2p.peer.id import ID
from libp2p.records.utils import InvalidRecordType
from libp2p.records.validator import Validator

from ..compat import kad_kubo
from . import record as rec

log = logging.getLogger(__name__)


def name_from_key(key: str | bytes) -> ID:
    """The IPNS name of a DHT key: ``/ipns/`` + binary multihash (Kubo; as bytes or
    latin-1 text), or + base58 text (py-libp2p's own form)."""
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    if not key.startswith("/ipns/"):
        raise InvalidRecordType(f"not an IPNS key: {key[:20]!r}")
    rest = key[6:]
    if rest[:1] in ("\x00", "\x12"):
        return ID(rest.encode("latin-1"))
    try:
        return ID.from_base58(rest)
    except Exception:  # noqa: BLE001
        raise InvalidRecordType("IPNS key is neither a binary multihash nor a base58 peer ID") from None


class IpnsValidator(Validator):
    def validate(self, key: str, value: bytes) -> None:
        try:
            rec.verify(value, name_from_key(key))
        except rec.InvalidRecord as e:
            raise InvalidRecordType(str(e)) from None

    def select(self, key: str, values: list[bytes]) -> int:
        best, best_i = None, 0
        for i, raw in enumerate(values):
            try:
                r = rec.parse(raw)
            except rec.InvalidRecord:
                continue
            if best is None or rec.better(r, best):
                best, best_i = r, i
        return best_i


def install(dht: Any) -> None:
    """Our IPNS validator in ``dht``'s py-libp2p DHT (idempotent), and binary keys let through."""
    kad_kubo.apply()
    kad = dht.kad
    if kad is not None and not isinstance(kad.validator._validators.get("ipns"), IpnsValidator):
        kad.validator._validators["ipns"] = IpnsValidator()


async def put(dht: Any, name: ID, raw: bytes, timeout: float = 30.0) -> list[str]:
    """Store ``raw`` locally (we answer GET_VALUE for it) and PUT it to the closest peers;
    the peers that took it."""
    key = rec.routing_key(name)

    async def run() -> list[str]:
        kad = dht.kad
        assert kad is not None
        install(dht)
        store = kad.value_store
        old = store.get(key)
        if old is None or old.value == raw or IpnsValidator().select("", [old.value, raw]) == 1:
            store.put(key, raw)
        stored: list[str] = []
        with trio.move_on_after(timeout):
            await dht._refresh()
            peers = [p for p in await kad.peer_routing.find_closest_peers_network(key) if p != kad.local_peer_id]
            limit = trio.Semaphore(3)

            async def one(pid: ID) -> None:
                async with limit:
                    with trio.move_on_after(10):
                        if await _put_to_peer(kad, pid, key, raw):
                            stored.append(pid.to_base58())

            async with trio.open_nursery() as nursery:
                for pid in peers:
                    nursery.start_soon(one, pid)
        return stored

    stored: list[str] = await dht.peer.bridge.call(run)  # dht: p2p.dht.DHT
    return stored


async def _put_to_peer(kad: Any, pid: ID, key: bytes, raw: bytes) -> bool:
    """PUT_VALUE as Kubo expects it; success is Kubo's echo of the request.

    py-libp2p's own ``_store_at_peer`` adds our signed peer record, which Kubo
    echoes back in its answer; py-libp2p then sees a record of the wrong peer and
    reports a failure although Kubo stored the value. So: no sender record here."""
    import varint
    from libp2p.kad_dht.pb.kademlia_pb2 import Message
    from libp2p.utils.varint import read_varint_prefixed_bytes_limited

    stream = None
    try:
        stream = await kad.host.new_stream(pid, [kad_common.PROTOCOL_ID])
        msg = Message()
        msg.type = Message.MessageType.PUT_VALUE
        msg.key = key
        msg.record.key = key
        msg.record.value = raw
        data = msg.SerializeToString()
        await stream.write(varint.encode(len(data)) + data)
        answer = Message()
        answer.ParseFromString(await read_varint_prefixed_bytes_limited(stream, 64 << 10))
        return answer.type == Message.MessageType.PUT_VALUE and answer.key == key
    except Exception as e:  # noqa: BLE001 - one peer refusing is not an error of the put
        log.debug("PUT_VALUE to %s failed: %s", pid, e)
        return False
    finally:
        if stream is not None:
            with trio.move_on_after(2):
                try:
                    await stream.close()
                except Exception:  # noqa: BLE001
                    pass


async def get(dht: Any, name: ID, *, count: int = 16, timeout: float = 30.0,
              local: bool = True) -> list[bytes]:
    """Valid records for ``name`` from the DHT (ours first if ``local``), at most ``count``
    answers, within ``timeout``; unsorted (pick with :func:`record.better`)."""
    key = rec.routing_key(name)

    async def run() -> list[bytes]:
        kad = dht.kad
        assert kad is not None
        install(dht)
        found: list[bytes] = []

        def take(raw: bytes, source: str) -> None:
            try:
                rec.verify(raw, name)
            except rec.InvalidRecord as e:
                log.debug("IPNS record for %s from %s refused: %s", name, source, e)
                return
            found.append(raw)

        if local:
            mine = kad.value_store.get(key)
            if mine is not None:
                take(mine.value, "local store")
        with trio.move_on_after(timeout):
            await dht._refresh()
            peers = [p for p in await kad.peer_routing.find_closest_peers_network(key) if p != kad.local_peer_id]
            queried: set[ID] = set()
            done = trio.Event()
            limit = trio.Semaphore(3)

            async def one(pid: ID, nursery: trio.Nursery) -> None:
                async with limit:
                    if done.is_set():
                        return
                    with trio.move_on_after(10):
                        try:
                            result = await kad.value_store._get_from_peer(pid, key, return_record=True,
                                                                          return_closer_peers=True)
                        except Exception:  # noqa: BLE001 - one bad peer is no failure
                            return
                        got, closer = result if isinstance(result, tuple) else (result, [])
                        if got is not None:
                            take(got.value, pid.to_base58())
                            if len(found) >= count:
                                done.set()
                        for c in closer:
                            if c not in queried and c != kad.local_peer_id and not done.is_set():
                                queried.add(c)
                                nursery.start_soon(one, c, nursery)

            async with trio.open_nursery() as nursery:
                for pid in peers:
                    queried.add(pid)
                    nursery.start_soon(one, pid, nursery)
        return found

    records: list[bytes] = await dht.peer.bridge.call(run)
    return records
