"""Content routing: py-libp2p's Kademlia DHT, speaking Kubo's protocol ID.

Kubo serves its DHT as ``/ipfs/kad/1.0.0`` on the public network and as
``/ipfs/lan/kad/1.0.0`` between private/loopback addresses. py-libp2p 0.8.1
hard-codes ``/ipfs/kad/1.0.0`` as a module constant in five modules (its
``protocol_prefix`` argument is stored but unused), so :func:`use_protocol`
sets that constant once per process, before any DHT starts: all DHTs of one
process speak the same protocol (``libp2p.dht_protocol``, default LAN).

Roles: master/worker run the DHT in server mode (they answer queries and keep
provider records); a leecher runs it in client mode. Connected peers that
speak the DHT protocol join the routing table when a query starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio
from libp2p.custom_types import TProtocol
from libp2p.kad_dht import common as _kad_common
from libp2p.kad_dht import kad_dht as _kad
from libp2p.kad_dht import peer_routing as _kad_routing
from libp2p.kad_dht import provider_store as _kad_providers
from libp2p.kad_dht import value_store as _kad_values
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.tools.anyio_service.context import background_trio_service

from ..content.cid import CID

if TYPE_CHECKING:
    from .peer import IPFSLibp2pPeer

log = logging.getLogger(__name__)

LAN_PROTOCOL = "/ipfs/lan/kad/1.0.0"
WAN_PROTOCOL = "/ipfs/kad/1.0.0"
_MODULES = (_kad_common, _kad, _kad_routing, _kad_providers, _kad_values)


def use_protocol(protocol_id: str) -> None:
    current = str(_kad_common.PROTOCOL_ID)  # use_protocol sets every module's copy together
    if current == protocol_id:
        return
    for module in _MODULES:
        module.PROTOCOL_ID = TProtocol(protocol_id)  # type: ignore[attr-defined]
    log.info("DHT protocol for this process: %s (was %s)", protocol_id, current)


class DHT:
    """The DHT of one :class:`~ipfs_kit_py.p2p.peer.IPFSLibp2pPeer` (attach before it starts)."""

    def __init__(self, peer: IPFSLibp2pPeer, *, server: bool, protocol_id: str = LAN_PROTOCOL) -> None:
        use_protocol(protocol_id)
        self.peer = peer
        self.server = server
        self.protocol_id = protocol_id
        self.kad: KadDHT | None = None
        self.excluded: Callable[[str], bool] = lambda _peer_id: False  # peers kept out (banned)
        peer.add_trio_service(self._run)

    async def _run(self, host: Any, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.kad = KadDHT(host, DHTMode.SERVER if self.server else DHTMode.CLIENT)
        async with background_trio_service(self.kad):
            task_status.started()
            await trio.sleep_forever()

    async def _refresh(self) -> None:
        """(trio) put every connected peer that speaks the DHT into the routing table."""
        assert self.kad is not None
        for pid in list(self.peer.host.get_network().connections):
            if self.excluded(pid.to_base58()):
                continue
            try:
                protocols = self.peer.host.get_peerstore().get_protocols(pid)
            except Exception:  # noqa: BLE001 - not identified yet
                protocols = []
            if self.protocol_id in [str(p) for p in protocols]:
                try:
                    await self.kad.add_peer(pid)
                except Exception:  # noqa: BLE001
                    log.debug("could not add %s to the routing table", pid, exc_info=True)

    def forget(self, peer_id: str) -> None:
        """Drop a peer from the routing table (banned: no query of ours dials it again)."""

        async def drop() -> None:
            if self.kad is not None:
                self.kad.routing_table.remove_peer(ID.from_base58(peer_id))

        try:
            self.peer.bridge.spawn(drop)
        except Exception:  # noqa: BLE001 - the host is not running: nothing to forget
            pass

    async def provide(self, cid: CID | str, timeout: float = 30.0) -> bool:
        """Announce that we hold ``cid`` (ADD_PROVIDER to the closest peers)."""
        key = str(CID.decode(cid))

        async def run() -> bool:
            assert self.kad is not None
            with trio.move_on_after(timeout):
                await self._refresh()
                return bool(await self.kad.provide(key))
            return False

        return await self.peer.bridge.call(run)

    async def find_providers(self, cid: CID | str, count: int = 20, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Providers of ``cid``: ``[{"ID": peer ID, "Addrs": [multiaddr, ...]}]``."""
        key = str(CID.decode(cid))

        async def run() -> list[dict[str, Any]]:
            assert self.kad is not None
            found: list[Any] = []
            with trio.move_on_after(timeout):
                await self._refresh()
                found = await self.kad.find_providers(key, count)
            return [{"ID": p.peer_id.to_base58(), "Addrs": [str(a) for a in p.addrs]} for p in found]

        return await self.peer.bridge.call(run)

    # -- used by ipfs_kit_py.routing (additive: the provide path that reports its peers,
    #    peer lookup and DHT values) -------------------------------------------------------
    async def provide_to_peers(self, cid: CID | str, timeout: float = 30.0) -> list[str]:
        """Announce ``cid`` like :meth:`provide`; return the peers that took the record.

        py-libp2p's ``provide`` only says whether one peer took it; Kubo's
        ``routing/provide`` reports each peer, so this repeats its steps (local
        record, closest peers, ADD_PROVIDER to each, ALPHA at a time)."""
        key = CID.decode(cid).multihash

        async def run() -> list[str]:
            assert self.kad is not None
            store = self.kad.provider_store
            sent: list[str] = []
            with trio.move_on_after(timeout):
                await self._refresh()
                store.providing_keys.add(key)
                store.add_provider(key, PeerInfo(self.peer.host.get_id(), list(self.peer.host.get_addrs())))
                closest = await self.kad.peer_routing.find_closest_peers_network(key)
                limit = trio.Semaphore(_kad_common.ALPHA)

                async def send(pid: Any) -> None:
                    async with limit:
                        with trio.move_on_after(_kad_common.QUERY_TIMEOUT):
                            try:
                                if await store._send_add_provider(pid, key):
                                    sent.append(pid.to_base58())
                            except Exception:  # noqa: BLE001 - one unreachable peer is not an error
                                log.debug("ADD_PROVIDER to %s failed", pid, exc_info=True)

                async with trio.open_nursery() as nursery:
                    for pid in closest:
                        if pid != self.peer.host.get_id():
                            nursery.start_soon(send, pid)
            return sent

        return await self.peer.bridge.call(run)

    async def find_peer(self, peer_id: str, timeout: float = 30.0) -> list[str] | None:
        """Addresses of ``peer_id`` (routing table, peerstore, then a DHT walk), or None."""

        async def run() -> list[str] | None:
            assert self.kad is not None
            with trio.move_on_after(timeout):
                await self._refresh()
                info = await self.kad.find_peer(ID.from_base58(peer_id))
                return None if info is None else [str(a) for a in info.addrs]
            return None

        return await self.peer.bridge.call(run)

    async def get_value(self, key: str, timeout: float = 30.0) -> bytes | None:
        """The best value stored under ``key`` (``/ipns/<id>``, ``/pk/<id>``), or None."""

        async def run() -> bytes | None:
            assert self.kad is not None
            with trio.move_on_after(timeout):
                await self._refresh()
                return await self.kad.get_value(key)
            return None

        return await self.peer.bridge.call(run)

    async def put_value(self, key: str, value: bytes, timeout: float = 30.0) -> None:
        """Validate (py-libp2p's ``pk``/``ipns`` validators) and store ``value`` under ``key``."""

        async def run() -> None:
            assert self.kad is not None
            with trio.fail_after(timeout):
                await self._refresh()
                await self.kad.put_value(key, value)

        await self.peer.bridge.call(run)

    async def connected_dht_peers(self) -> int:
        """How many connected peers speak our DHT protocol (identified ones only)."""

        async def run() -> int:
            n = 0
            for pid in list(self.peer.host.get_network().connections):
                try:
                    protocols = self.peer.host.get_peerstore().get_protocols(pid)
                except Exception:  # noqa: BLE001 - not identified yet
                    continue
                n += self.protocol_id in [str(p) for p in protocols]
            return n

        return await self.peer.bridge.call(run)
