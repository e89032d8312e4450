"""The node's libp2p service: starts the peer and serves the three ipfs-kit
protocols over the model; a Python API for peers, transfers and the DHT.

``register(node)`` adds the service as ``node.services["libp2p"]`` when
``settings.libp2p.enabled`` (``IPFS_KIT_LIBP2P_ENABLED=false`` turns it off).
It has no HTTP routes: its wire forms are registry operations
(``ipfs_kit_py/ops/node.py``: ``swarm_connect``, ``transfer_via_libp2p``,
``find_providers``, ...), which every channel offers; ``id`` reads
``get_id()``, ``get_addrs()`` and ``get_public_key()``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from .. import access
from ..content.cid import CID
from ..errors import ChannelUnavailable, InvalidArgument, Unauthorized
from ..events import NotificationType
from ..http_sources import sources_from_settings
from ..network_profiles import warn_if_public
from ..node import Node
from ..routing.reprovider import Reprovider
from . import bandwidth, content_protocol, mcp_protocol, metadata_protocol
from .autonat import AutoNAT
from .bandwidth import BandwidthCounter
from .bitswap import Bitswap
from .dcutr import DCUtR
from .dht import DHT
from .peer import IPFSLibp2pPeer, split_peer_addr
from .peering import Peering
from .relay import Relay, RelayLimitSettings, peer_connections
from .reputation import FILE_NAME as LEDGER_FILE
from .reputation import PeerLedger, PeerRecord
from .retrieval import NetworkBlockSource
from .session import SessionSettings
from .stream import P2PStream

log = logging.getLogger(__name__)
T = TypeVar("T")

SERVING_ROLES = ("master", "worker")
LEDGER_SAVE_INTERVAL = 5.0  # seconds between writes of the peer ledger (when it changed)


class Libp2pService:
    def __init__(self, node: Node) -> None:
        self.node = node
        s = node.settings.libp2p
        self.settings = s
        self.peer = IPFSLibp2pPeer(
            role=s.role, bootstrap_peers=s.bootstrap_peers,
            listen_addrs=[*s.listen_addrs, *([s.listen_ws] if s.listen_ws else [])],
            identity_dir=node.repo.path, enable_mdns=s.mdns,
            max_streams_per_peer=s.max_streams_per_peer, on_event=self._on_peer_event,
        )
        # Circuit Relay v2: every node can reserve and dial through relays; a master relays (issue 17)
        self.relay = Relay(self.peer, hop=s.role == "master" and s.relay_hop, limits=RelayLimitSettings(
            reservations=s.relay_max_reservations, duration=s.relay_max_duration, data=s.relay_max_bytes))
        # AutoNAT: a master answers dial-back checks; every node asks its bootstrap peers
        self.autonat = AutoNAT(self.peer, serve=s.role == "master")
        # DCUtR: relayed connections become direct ones by hole punching (behind a NAT, by default)
        self.dcutr = DCUtR(self.peer, mode=s.hole_punching, reachability=lambda: self.autonat.reachability,
                           relay_grace=s.hole_punch_relay_grace)
        self.autonat.on_change.append(lambda _verdict: self.dcutr.reachability_changed())
        self.transfers: dict[str, asyncio.Task[Any]] = {}
        self.content = content_protocol.ContentServer(node.model, s)
        # bitswap: Kubo and other IPFS peers fetch from us / we from them (a leecher only fetches)
        r = node.settings.retrieval
        # peer reputation, persisted in the repo: bans outlive a restart
        self.ledger = PeerLedger(node.repo.path / LEDGER_FILE, on_change=self._on_standing)
        self.bitswap = Bitswap(self.peer, node.model.store, serve=s.role in SERVING_ROLES, ban_time=r.ban_time,
                               ledger=self.ledger,
                               session_settings=SessionSettings(
                                   window=r.peer_window, block_timeout=r.block_timeout,
                                   rebroadcast_interval=r.rebroadcast_interval,
                                   provider_search_delay=r.provider_search_delay, find_timeout=r.find_timeout))
        self.dht = DHT(self.peer, server=s.role in SERVING_ROLES, protocol_id=s.dht_protocol)
        # a banned peer is never dialed, and leaves the DHT's routing table
        self.dht.excluded = self.peer.refused = self.bitswap.is_banned
        self.bitswap.on_ban = lambda pid, _reason: self.dht.forget(pid)
        # every read of the model that lacks a block asks the network through this
        self.http = sources_from_settings(r, self.ledger)  # gateways and delegated routers, if configured
        self.source = NetworkBlockSource(self.peer, self.bitswap, self.dht, max_providers=r.max_providers,
                                         find_timeout=r.find_timeout, http=self.http, gateway_delay=r.gateway_delay)
        self._bus_token: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[Any]] = set()
        # stats/bw: every stream counted from the host's start; swarm/peering: peers kept connected
        self.bandwidth = BandwidthCounter()
        self.peer.add_trio_service(bandwidth.service(self.bandwidth))
        self.peering = Peering(self.peer.get_connected_peers, self.connect, self._spawn)
        self.reprovider = make_reprovider(node, self.dht) if s.role in SERVING_ROLES and s.provide_pins else None
        if s.role in SERVING_ROLES:  # a leecher serves nothing
            self.peer.register_protocol_handler(mcp_protocol.PROTOCOL_ID, self._handle_mcp)
            self.peer.register_protocol_handler(content_protocol.PROTOCOL_ID, self.content.handle)
            self.peer.register_protocol_handler(metadata_protocol.PROTOCOL_ID, self._handle_metadata)

    # -- what /api/v0/id reads ------------------------------------------------------------
    def get_id(self) -> str:
        return self.peer.get_id()

    def get_addrs(self) -> list[str]:
        return self.peer.get_addrs()

    def get_public_key(self) -> bytes:
        return self.peer.key_pair.public_key.serialize()

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        warn_if_public(self.node.settings)
        self.peer.listen_addrs = [_free_or_any_port(a) for a in self.peer.listen_addrs]
        await self.peer.start()
        self.peer.start_discovery()
        if not self.get_addrs():  # py-libp2p logs a failed listener and carries on without it
            log.error("libp2p peer %s listens on no address (tried %s): other peers cannot dial it",
                      self.get_id(), ", ".join(self.peer.listen_addrs))
        log.info("libp2p peer %s listening on %s", self.get_id(), ", ".join(self.get_addrs()))
        self.node.model.attach_network(self.source)
        self._spawn(self._keep_ledger())
        if self.reprovider is not None:
            self._bus_token = self.node.bus.subscribe(self._on_bus_event)
            self.reprovider.start()
        if self.settings.bootstrap_peers:
            self._spawn(self._check_reachability())

    @property
    def reachability(self) -> str:
        """``public``, ``private`` or ``unknown`` (AutoNAT, asked of the bootstrap peers)."""
        return self.autonat.reachability

    async def _check_reachability(self, wait: float = 30.0) -> None:
        servers = {split_peer_addr(None, a)[0] for a in self.settings.bootstrap_peers if "/p2p/" in a}
        deadline = asyncio.get_running_loop().time() + wait
        while True:  # bounded: until a bootstrap peer is connected, at most ``wait`` seconds
            connected = servers & set(self.peer.get_connected_peers())
            if connected or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
        if connected:
            try:
                await self.autonat.check(sorted(connected))
            except Exception:  # noqa: BLE001 - no verdict: reachability stays unknown
                log.debug("AutoNAT check failed", exc_info=True)

    async def stop(self) -> None:
        self.node.model.attach_network(None)
        if self._bus_token is not None:
            self.node.bus.unsubscribe(self._bus_token)
        if self.reprovider is not None:
            await self.reprovider.stop()
        for task in [*self.transfers.values(), *self._background]:
            task.cancel()
        await self.peer.stop()
        if self.http is not None:
            await self.http.aclose()
        await asyncio.to_thread(self._save_ledger)

    # -- peer reputation ------------------------------------------------------------------
    def _on_standing(self, peer: str, standing: str, previous: str, record: PeerRecord) -> None:
        log.info("peer %s: %s -> %s", peer, previous, standing)
        self.node.bus.publish(NotificationType.PEER_REPUTATION_CHANGED, {
            "peer_id": peer, "standing": standing, "previous": previous, "score": round(record.score(), 4),
            "bad_blocks": record.bad_blocks, "failures": record.failures,
            "ban_reason": record.ban_reason if standing == "banned" else ""})

    def _save_ledger(self) -> None:
        try:
            self.ledger.save()
        except OSError as e:
            log.warning("cannot write the peer ledger: %s", e)

    async def _keep_ledger(self) -> None:
        """Write the ledger when it changed; publish bans that ran out."""
        while True:
            await asyncio.sleep(LEDGER_SAVE_INTERVAL)
            self.ledger.expire_bans()
            if self.ledger.dirty:
                await asyncio.to_thread(self._save_ledger)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_bus_event(self, event: Any) -> None:
        # any thread; newly pinned content is announced on the DHT (by the reprovider's strategy)
        if event.type == NotificationType.PIN_STATUS_CHANGED and event.data.get("pinned") and self._loop:
            self._loop.call_soon_threadsafe(self._spawn, self._provide_quietly(str(event.data["cid"])))

    async def _provide_quietly(self, cid: str) -> None:
        assert self.reprovider is not None
        try:
            await self.reprovider.provide_new(CID.decode(cid))
        except Exception:  # noqa: BLE001 - announcing is best effort
            log.debug("DHT provide %s failed", cid, exc_info=True)

    def _on_peer_event(self, type_: str, data: dict[str, Any]) -> None:
        # from the libp2p thread
        self.node.bus.publish(NotificationType(type_), data)
        if self._loop is None:
            return
        pid = str(data["peer_id"])
        if type_ == "peer_disconnected":
            self._loop.call_soon_threadsafe(self._spawn, self.bitswap.peer_gone(pid))
        elif type_ == "peer_connected" and self.bitswap.is_banned(pid):  # refused while banned
            self._loop.call_soon_threadsafe(self._spawn, self.bitswap._disconnect(pid))

    # -- protocol handlers ------------------------------------------------------------------
    async def _handle_mcp(self, stream: P2PStream) -> None:
        caller = access.peer_caller(stream.peer_id, self.settings.mcp_allowlist)
        await mcp_protocol.handle(stream, self.node, caller, idle_timeout=self.settings.stream_idle_timeout)

    async def _handle_metadata(self, stream: P2PStream) -> None:
        await metadata_protocol.handle(stream, self.node.model, set(self.settings.mcp_allowlist),
                                       self.settings.max_message)

    # -- connections ------------------------------------------------------------------------
    async def connect(self, addr: str) -> str:
        pid, _ = split_peer_addr(None, addr)
        if self.bitswap.is_banned(pid):
            raise Unauthorized(f"{pid} is banned for {self.bitswap.ban_left(pid):.0f} s more "
                               "(it sent blocks that did not match their CIDs)")
        if "/p2p-circuit" in addr:
            await self.relay.dial_via(addr)
        else:
            await self.peer.connect_to_peer(pid, addr)
        return pid

    async def connections(self) -> list[dict[str, Any]]:
        """Open connections: ``{"peer", "addrs", "kind": "direct"|"relayed"}``."""
        if not self.peer.started:
            return []
        return await self.peer.bridge.call(_connections, self.peer)

    async def resolve_peer(self, peer: str) -> str:
        """A peer ID we can open streams to: dial ``/…/p2p/<id>`` addresses first."""
        if peer.startswith("/"):
            try:
                return await self.connect(peer)
            except ValueError as e:
                raise InvalidArgument(str(e)) from None
            except ConnectionError as e:
                raise ChannelUnavailable(f"peer unreachable: {e}") from None
        if peer not in self.peer.get_connected_peers():
            raise ChannelUnavailable(f"not connected to {peer}: give its multiaddr (/ip4/…/tcp/…/p2p/{peer})")
        return peer

    # -- transfers --------------------------------------------------------------------------
    async def _run_transfer(self, transfer_id: str, coro: Coroutine[Any, Any, T]) -> T:
        if transfer_id in self.transfers:
            coro.close()
            raise InvalidArgument(f"transfer {transfer_id} is already running")
        task = asyncio.ensure_future(asyncio.wait_for(coro, self.settings.transfer_timeout))
        self.transfers[transfer_id] = task
        try:
            return await task
        except asyncio.CancelledError:
            if task.cancelled():  # cancel_transfer()
                raise ChannelUnavailable(f"transfer {transfer_id} was cancelled") from None
            task.cancel()  # our caller went away: stop the transfer too
            raise
        except TimeoutError:
            raise ChannelUnavailable(f"transfer {transfer_id} timed out") from None
        finally:
            self.transfers.pop(transfer_id, None)

    async def transfer_via_libp2p(self, cid: str, target_peer: str, *, pin: bool = True,
                                  transfer_id: str | None = None) -> dict[str, Any]:
        """Push ``cid``'s DAG to ``target_peer`` (peer ID or multiaddr), which verifies and pins it."""
        tid = transfer_id or uuid.uuid4().hex[:16]
        pid = await self.resolve_peer(target_peer)
        return await self._run_transfer(tid, content_protocol.push(
            self.peer, self.node.model, pid, cid, pin=pin, max_message=self.settings.max_message, transfer_id=tid))

    async def fetch_via_libp2p(self, cid: str, source_peer: str, *, offset: int | None = None,
                               length: int | None = None, pin: bool = False,
                               transfer_id: str | None = None) -> dict[str, Any]:
        """Fetch ``cid`` (whole DAG or the blocks of a byte range) from ``source_peer`` into our store."""
        tid = transfer_id or uuid.uuid4().hex[:16]
        pid = await self.resolve_peer(source_peer)
        return await self._run_transfer(tid, content_protocol.fetch(
            self.peer, self.node.model, pid, cid, offset=offset, length=length, pin=pin,
            max_message=self.settings.max_message, transfer_id=tid))

    async def bitswap_fetch(self, cid: str, source_peer: str | None = None, *, pin: bool = False) -> dict[str, Any]:
        """Fetch ``cid``'s DAG over bitswap from ``source_peer`` (default: every connected peer)."""
        peers = [await self.resolve_peer(source_peer)] if source_peer else None
        tid = uuid.uuid4().hex[:16]
        root = CID.decode(cid)
        transfer = content_protocol.Transfer(self.node.model, str(root), source_peer or "*", "receive", "bitswap",
                                             transfer_id=tid)
        transfer.start()
        try:
            async with self.node.model.gc_guard():  # fetched blocks are unpinned until then: GC waits
                blocks, size = await self._run_transfer(tid, self.bitswap.fetch_dag(root, peers))
                if pin:
                    await self.node.model.pin_root(root)
        except BaseException as e:
            transfer.failed(e)
            raise
        transfer.blocks, transfer.bytes = blocks, size
        transfer.completed()
        return {"cid": str(root), "blocks": blocks, "bytes": size, "transfer_id": tid, "pinned": pin}

    def cancel_transfer(self, transfer_id: str) -> bool:
        task = self.transfers.get(transfer_id)
        if task is None:
            return False
        task.cancel()
        return True


async def _connections(peer: IPFSLibp2pPeer) -> list[dict[str, Any]]:
    return peer_connections(peer)


def _free_or_any_port(addr: str) -> str:
    """``/ip4|ip6/HOST/tcp/PORT``: if PORT is taken (by Kubo on 4001, say), the same
    address with a port the system picks, and a warning; anything else unchanged."""
    parts = addr.split("/")
    if len(parts) < 5 or parts[1] not in ("ip4", "ip6") or parts[3] != "tcp" or parts[4] in ("", "0"):
        return addr
    family = socket.AF_INET6 if parts[1] == "ip6" else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((parts[2], int(parts[4])))
            return addr
        except OSError as e:
            fallback = "/".join([*parts[:4], "0", *parts[5:]])
            log.warning("libp2p: cannot listen on %s (%s); using %s instead (set libp2p.listen_addrs)",
                        addr, e.strerror, fallback)
            return fallback


def make_reprovider(node: Node, dht: DHT) -> Reprovider | None:
    """The reprovider of a serving node (None when ``provide.enabled`` is false)."""
    p = node.settings.provide
    if not p.enabled:
        return None
    timeout = node.settings.routing.timeout

    async def announce(cid: Any) -> list[str]:
        return await dht.provide_to_peers(cid, timeout)

    async def has_dht_peer() -> bool:
        return await dht.connected_dht_peers() > 0

    return Reprovider(
        store=node.model.store, pins=lambda: node.model.pin_ls("all"), announce=announce,
        has_dht_peer=has_dht_peer, load_state=lambda: node.model.index.get_state("reprovider"),
        save_state=lambda v: node.model.index.set_state("reprovider", v),
        strategy=p.strategy, interval=p.interval, max_workers=p.max_workers,
    )


def register(node: Node) -> None:
    """Add the libp2p service to the node (it starts and stops with the node)."""
    if node.settings.libp2p.enabled:
        node.add_service("libp2p", Libp2pService(node))
