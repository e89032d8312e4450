"""Circuit Relay v2 for :class:`IPFSLibp2pPeer`, over py-libp2p's implementation.

``Relay(peer, hop=True, limits=...)`` (before the peer starts) serves the hop
protocol (a ``master`` node relays for others, within the limits on
reservations, circuit duration and bytes); every node gets the stop protocol
and the client side: :meth:`Relay.reserve` books a slot on a relay so peers
can reach us at ``<relay>/p2p-circuit/p2p/<us>``, :meth:`Relay.dial_via`
opens a relayed connection. py-libp2p's swarm drops ``/p2p-circuit``
addresses from its own dials, so relayed dials go to the circuit transport
directly; the resulting connection is an ordinary swarm connection (streams,
identify, bitswap), marked relayed in :func:`connection_kind`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import multiaddr
import trio
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL_ID
from libp2p.relay.circuit_v2.protocol import STOP_PROTOCOL_ID, CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

from .peer import IPFSLibp2pPeer, PeerError, split_peer_addr

__all__ = ["HOP_PROTOCOL_ID", "STOP_PROTOCOL_ID", "Relay", "RelayLimitSettings", "connection_kind", "peer_connections"]


@dataclass
class RelayLimitSettings:
    reservations: int = 32  # reservations held at once by the hop service
    duration: int = 120  # seconds one relayed circuit may last
    data: int = 128 << 20  # bytes one relayed circuit may carry (each way)
    circuits_per_peer: int = 8  # relayed circuits one reserved peer may have


class Relay:
    """Circuit Relay v2 on one peer: the client and stop side always, hop when ``hop``."""

    def __init__(self, peer: IPFSLibp2pPeer, *, hop: bool = False, limits: RelayLimitSettings | None = None) -> None:
        self.peer = peer
        self.hop = hop
        self.limits = limits or RelayLimitSettings()
        self.protocol: CircuitV2Protocol | None = None
        self.transport: CircuitV2Transport | None = None
        self._nursery: trio.Nursery | None = None
        self.reservations: list[str] = []  # our circuit addresses (relay addr /p2p-circuit/p2p/us)
        peer.add_trio_service(self._run)

    async def _run(self, host: Any, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        lim = self.limits
        limits = RelayLimits(duration=lim.duration, data=lim.data, max_circuit_conns=lim.circuits_per_peer,
                             max_reservations=lim.reservations)
        proto = CircuitV2Protocol(host, limits=limits, allow_hop=self.hop)
        if self.hop:
            host.set_stream_handler(HOP_PROTOCOL_ID, proto._handle_hop_stream)
        host.set_stream_handler(STOP_PROTOCOL_ID, proto._handle_stop_stream)
        roles = RelayRole.STOP | RelayRole.CLIENT | (RelayRole.HOP if self.hop else RelayRole(0))
        config = RelayConfig(roles=roles, limits=limits)
        async with background_trio_service(proto), trio.open_nursery() as nursery:
            self.protocol = proto
            self.transport = CircuitV2Transport(host, proto, config)
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def reserve(self, relay_addr: str, timeout: float = 15.0) -> str:
        """Connect to the relay at ``relay_addr`` (with ``/p2p/ID``) and reserve a slot;
        the circuit address others dial us at."""
        relay_id, _ = split_peer_addr(None, relay_addr)
        await self.peer.connect_to_peer(relay_id, relay_addr, timeout)

        async def reserve_() -> bool:
            assert self.transport is not None and self._nursery is not None
            with trio.fail_after(timeout):
                stream = await self.peer.host.new_stream(ID.from_base58(relay_id), [HOP_PROTOCOL_ID])
                return await self.transport.reserve(stream, ID.from_base58(relay_id), self._nursery)

        try:
            ok = await self.peer.bridge.call(reserve_)
        except Exception as e:  # noqa: BLE001 - protocol refusal, timeout: no reservation
            raise PeerError(f"no reservation on {relay_id}: {e or type(e).__name__}") from None
        if not ok:
            raise PeerError(f"the relay {relay_id} refused the reservation")
        base = relay_addr if "/p2p/" in relay_addr else f"{relay_addr}/p2p/{relay_id}"
        addr = f"{base}/p2p-circuit/p2p/{self.peer.get_id()}"
        if addr not in self.reservations:
            self.reservations.append(addr)
        return addr

    async def dial_via(self, circuit_addr: str, timeout: float = 20.0) -> None:
        """Open a relayed connection to ``<relay addr>/p2p-circuit/p2p/<target>``."""
        ma = multiaddr.Multiaddr(circuit_addr)
        target = circuit_addr.rsplit("/p2p/", 1)[1]
        relay_part = circuit_addr.split("/p2p-circuit", 1)[0]
        relay_id, _ = split_peer_addr(None, relay_part)
        if relay_id not in self.peer.get_connected_peers():
            await self.peer.connect_to_peer(relay_id, relay_part, timeout)

        async def dial() -> None:
            assert self.transport is not None
            with trio.fail_after(timeout):
                await self.transport.dial(ma)
            self.peer.host.get_peerstore().add_addrs(ID.from_base58(target), [ma], 3600)

        try:
            await self.peer.bridge.call(dial)
        except Exception as e:  # noqa: BLE001
            raise PeerError(f"cannot reach {target} through {relay_id}: {e or type(e).__name__}") from None


def connection_kind(conn: Any) -> str:
    """``relayed`` for a connection through a circuit relay, else ``direct``."""
    try:
        addrs = [str(a) for a in conn.get_transport_addresses()]
    except Exception:  # noqa: BLE001
        addrs = []
    if any("/p2p-circuit" in a for a in addrs):
        return "relayed"
    kind = getattr(getattr(conn, "get_connection_type", lambda: None)(), "name", "")
    return "relayed" if kind == "RELAYED" else "direct"


def peer_connections(peer: IPFSLibp2pPeer) -> list[dict[str, Any]]:
    """Every open connection: peer ID, remote addresses, ``direct`` or ``relayed`` (libp2p thread data)."""
    host = peer.host
    if host is None:
        return []
    out = []
    for pid, conns in list(host.get_network().connections.items()):
        for conn in conns if isinstance(conns, list) else [conns]:
            try:
                addrs = [str(a) for a in conn.get_transport_addresses()]
            except Exception:  # noqa: BLE001
                addrs = []
            out.append({"peer": pid.to_base58(), "addrs": addrs, "kind": connection_kind(conn)})
    return out

