"""The node's routing operations as plain async functions (no HTTP here).

:class:`RoutingAPI` is what ``/routing/v1``, the Kubo RPC verbs and (through
the registry) every other channel call:

- :meth:`~RoutingAPI.find_providers`: this node first, when it holds the block
  and serves bitswap, then the providers the DHT knows; ``peer`` schema records.
- :meth:`~RoutingAPI.find_peer`: a peer's addresses (peerstore, then the DHT).
- :meth:`~RoutingAPI.provide`: announce CIDs held here (``recursive``: their
  whole DAGs), reporting the peers that took each record.
- :meth:`~RoutingAPI.get_value` / :meth:`~RoutingAPI.put_value`: DHT records
  under ``/pk/<peer ID>`` and ``/ipns/<peer ID>``, checked by py-libp2p's validators.
- :meth:`~RoutingAPI.provide_stat`: the reprovider's state.

Without libp2p (``libp2p.enabled=false``) the finders answer "nothing" and the
announcing verbs fail with ChannelUnavailable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..content import dag
from ..content.cid import CID, b58decode
from ..errors import ChannelUnavailable, InvalidArgument, NotFound
from ..node import Node
from .delegated import TRANSPORT_BITSWAP, parse_peer_id, peer_record

if TYPE_CHECKING:
    from ..p2p.service import Libp2pService

BITSWAP_PREFIX = "/ipfs/bitswap"
VALUE_NAMESPACES = ("pk", "ipns")


@dataclass
class ProvideResult:
    """One announced CID and the peers that accepted its provider record."""

    cid: str
    peers: list[str] = field(default_factory=list)
    error: str | None = None


def _service(node: Node) -> Libp2pService | None:
    return node.services.get("libp2p")


class RoutingAPI:
    """Routing over one node: its store, its libp2p service and that service's DHT."""

    def __init__(self, node: Node, timeout: float = 30.0) -> None:
        self.node = node
        self.timeout = timeout

    @property
    def service(self) -> Libp2pService | None:
        return _service(self.node)

    def _online(self) -> Libp2pService:
        svc = self.service
        if svc is None:
            raise ChannelUnavailable("libp2p is disabled on this node (libp2p.enabled=false): no routing")
        if not svc.peer.started:
            raise ChannelUnavailable("the libp2p peer is not running")
        return svc

    # -- content routing -------------------------------------------------------------------------
    async def self_record(self) -> dict[str, Any] | None:
        """Our own ``peer`` record, when we serve bitswap (a leecher serves nothing)."""
        svc = self.service
        if svc is None or not svc.peer.started or not svc.bitswap.serve:
            return None
        return peer_record(svc.get_id(), svc.get_addrs(), [TRANSPORT_BITSWAP])

    async def find_providers(self, cid: str | CID, limit: int = 20,
                             timeout: float | None = None) -> AsyncIterator[dict[str, Any]]:
        """Providers of ``cid``, at most ``limit``: ourselves (if we hold the block), then the DHT's."""
        root = CID.decode(cid)
        if limit < 1:
            raise InvalidArgument("number of providers must be greater than 0")
        found = 0
        me = await self.self_record()
        if me is not None and await asyncio.to_thread(self.node.model.store.has, root):
            yield me
            found += 1
        svc = self.service
        if svc is None or not svc.peer.started or found >= limit:
            return
        providers = await svc.dht.find_providers(root, limit, timeout or self.timeout)
        others = [p for p in providers if p["ID"] != svc.get_id()]
        known = await self._peer_details([p["ID"] for p in others])
        for p in others[: limit - found]:
            addrs, protocols = known.get(p["ID"], ([], []))
            yield peer_record(p["ID"], p["Addrs"] or addrs, protocols)

    async def _peer_details(self, peer_ids: list[str]) -> dict[str, tuple[list[str], list[str]]]:
        """(addresses, routing-v1 protocol names) the peerstore knows for each peer."""
        svc = self.service
        if svc is None or not peer_ids:
            return {}
        from libp2p.peer.id import ID

        async def run() -> dict[str, tuple[list[str], list[str]]]:
            store = svc.peer.host.get_peerstore()
            out = {}
            for pid in peer_ids:
                try:
                    addrs = [str(a) for a in store.addrs(ID.from_base58(pid))]
                except Exception:  # noqa: BLE001 - unknown peer
                    addrs = []
                try:
                    protos = [str(p) for p in store.get_protocols(ID.from_base58(pid))]
                except Exception:  # noqa: BLE001 - not identified
                    protos = []
                out[pid] = (addrs, [TRANSPORT_BITSWAP] if any(p.startswith(BITSWAP_PREFIX) for p in protos) else [])
            return out

        return await svc.peer.bridge.call(run)

    # -- peer routing ------------------------------------------------------------------------------
    async def find_peer(self, peer_id: str, timeout: float | None = None) -> dict[str, Any] | None:
        """``peer`` record of ``peer_id`` (any text form), or None when nobody knows it."""
        pid = parse_peer_id(peer_id)
        svc = self.service
        if svc is None or not svc.peer.started:
            return None
        if pid == svc.get_id():
            return await self.self_record() or peer_record(pid, svc.get_addrs())
        addrs = await svc.dht.find_peer(pid, timeout or self.timeout)
        if addrs is None:
            return None
        known = await self._peer_details([pid])
        return peer_record(pid, addrs or known.get(pid, ([], []))[0], known.get(pid, ([], []))[1])

    # -- providing --------------------------------------------------------------------------------
    async def check_provide(self, cids: list[str]) -> list[CID]:
        """Kubo's preconditions of a provide: CIDs parse, blocks are here, peers are connected."""
        svc = self._online()
        if not cids:
            raise InvalidArgument('argument "key" is required')
        roots = [CID.decode(c) for c in cids]
        for root in roots:
            if not await asyncio.to_thread(self.node.model.store.has, root):
                raise NotFound(f"block {root} not found locally, cannot provide")
        if not svc.peer.get_connected_peers():
            raise ChannelUnavailable("cannot provide, no connected peers")
        return roots

    async def provide(self, cids: list[str], *, recursive: bool = False,
                      timeout: float | None = None) -> AsyncIterator[ProvideResult]:
        """Announce each CID (``recursive``: every block of its DAG), one result per CID announced."""
        roots = await self.check_provide(cids)
        svc = self._online()

        def dag_keys(r: CID) -> list[CID]:
            return list(dag.walk(self.node.model.store, r))

        for root in roots:
            keys = [root]
            if recursive:
                keys = await asyncio.to_thread(dag_keys, root)
            for key in keys:
                try:
                    peers = await svc.dht.provide_to_peers(key, timeout or self.timeout)
                except Exception as e:  # noqa: BLE001 - reported per CID, the others go on
                    yield ProvideResult(str(key), [], str(e) or type(e).__name__)
                    continue
                yield ProvideResult(str(key), peers, None if peers else "no peer accepted the provider record")

    # -- values -----------------------------------------------------------------------------------
    @staticmethod
    def dht_key(key: str) -> str:
        """``/pk/<peer ID>`` or ``/ipns/<peer ID or name>`` -> py-libp2p's ``/<ns>/<hex multihash>``."""
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != "" or parts[1] not in VALUE_NAMESPACES:
            raise InvalidArgument(f"invalid key {key!r}: expected /pk/<peer ID> or /ipns/<peer ID>")
        return f"/{parts[1]}/{b58decode(parse_peer_id(parts[2])).hex()}"

    async def get_value(self, key: str, timeout: float | None = None) -> bytes:
        dkey = self.dht_key(key)
        value = await self._online().dht.get_value(dkey, timeout or self.timeout)
        if value is None:
            raise NotFound(f"routing: not found: {key}")
        return value

    async def put_value(self, key: str, value: bytes, timeout: float | None = None) -> None:
        dkey = self.dht_key(key)
        svc = self._online()
        try:
            await svc.dht.put_value(dkey, value, timeout or self.timeout)
        except ChannelUnavailable:
            raise
        except Exception as e:  # noqa: BLE001 - py-libp2p's validators raise their own types
            if type(e).__name__ in ("InvalidRecordType", "ValueError", "ValidationError") or isinstance(e, ValueError):
                raise InvalidArgument(f"invalid record for {key}: {e}") from None
            raise

    # -- provide stats ------------------------------------------------------------------------------
    def provide_stat(self) -> dict[str, Any]:
        """Kubo's legacy ``provide/stat`` shape plus the reprovider's own fields."""
        svc = self.service
        reprovider = getattr(svc, "reprovider", None) if svc is not None else None
        if reprovider is None:
            raise ChannelUnavailable("no reprovider: libp2p is disabled or this node does not provide (leecher)")
        stat: dict[str, Any] = reprovider.stat()  # routing.reprovider.Reprovider
        return stat


def routing_api(node: Node) -> RoutingAPI:
    """The node's RoutingAPI (one per node, made on first use)."""
    api = getattr(node, "_routing_api", None)
    if api is None:
        api = RoutingAPI(node, node.settings.routing.timeout)
        node._routing_api = api  # type: ignore[attr-defined]
    return api

