"""DCUtR (Direct Connection Upgrade through Relay, ``/libp2p/dcutr``) for :class:`IPFSLibp2pPeer`.

Two peers behind NATs that hold a relayed connection exchange the addresses
they are seen at over a ``/libp2p/dcutr`` stream on that connection, then dial
each other at the same moment so that each NAT opens a mapping for the other
side's packets (TCP simultaneous open). New streams then go over the direct
connection (py-libp2p's swarm prefers a direct connection to a relayed one),
and the relayed connection is closed after a grace period.

``DCUtR(peer, mode=..., reachability=...)`` (before the peer starts) answers
peers' hole punches, and :meth:`DCUtR.upgrade` runs one as the initiator. The
spec's initiator is the side that *received* the relayed connection (the peer
that holds a reservation on the relay), so this node starts a hole punch by
itself for an inbound relayed connection: in ``auto`` mode when AutoNAT says
it is ``private`` (and, when that verdict arrives, for the inbound relayed
connections it already holds), in ``always`` mode whenever; ``off`` serves
nothing.

The exchange itself is py-libp2p's ``DCUtRProtocol`` (0.8.x, see
:mod:`ipfs_kit_py.compat.dcutr` for what is changed):

- the addresses sent in CONNECT are the IPs other peers observed us at
  (identify's ``observed_addr`` over direct connections) with our *listen*
  port: the observed port belongs to the socket of that other connection, and
  a port-preserving NAT (iptables MASQUERADE, most home routers) maps the
  listen port to itself when we dial from it;
- every hole-punch dial leaves from the listen port (``SO_REUSEPORT``), the
  initiator dials RTT/2 after sending SYNC, the responder at once on SYNC;
- roles on the resulting TCP connection are fixed by the spec, not by who
  connected: the DCUtR initiator upgrades its dial as the inbound side
  (multistream listener, Noise responder), the responder as the outbound side.
  Whether the two SYNs cross (a true simultaneous open) or one side's SYN
  arrives after the other NAT opened its mapping, the socket pair is one TCP
  connection and the roles agree.

A NAT that answers an unsolicited SYN with a RST (instead of dropping it)
aborts the other side's dial; the retry rounds (3, 5 s each) then have to hit
the window where the mapping is open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio
from libp2p.abc import INotifee
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.dcutr import PROTOCOL_ID

from ..compat import dcutr as dcutr_compat
from .peer import IPFSLibp2pPeer, PeerError
from .relay import connection_kind

__all__ = ["MODES", "PROTOCOL_ID", "DCUtR"]

log = logging.getLogger(__name__)

MODES = ("auto", "always", "off")
INBOUND = 0  # py-libp2p's Direction.INBOUND


class _Notifee(INotifee):
    def __init__(self, owner: DCUtR) -> None:
        self.owner = owner

    async def connected(self, network: Any, conn: Any) -> None:
        self.owner._on_connection(conn)

    async def disconnected(self, network: Any, conn: Any) -> None:
        pass

    async def opened_stream(self, network: Any, stream: Any) -> None:
        pass

    async def closed_stream(self, network: Any, stream: Any) -> None:
        pass

    async def listen(self, network: Any, multiaddr: Any) -> None:
        pass

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        pass


class DCUtR:
    """Hole punching on one peer (see the module's doc)."""

    def __init__(self, peer: IPFSLibp2pPeer, *, mode: str = "auto",
                 reachability: Callable[[], str] = lambda: "unknown",
                 relay_grace: float = 10.0, dial_timeout: int = 5) -> None:
        if mode not in MODES:
            raise ValueError(f"hole punching mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.peer = peer
        self.mode = mode
        self.reachability = reachability
        self.relay_grace = relay_grace
        self.dial_timeout = dial_timeout
        self.protocol: Any = None
        self._host: Any = None
        self._nursery: trio.Nursery | None = None
        self.upgraded: dict[str, float] = {}  # peer ID -> seconds the last successful hole punch took
        if mode != "off":
            peer.add_trio_service(self._run)

    async def _run(self, host: Any, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        from libp2p.tools.anyio_service import background_trio_service

        proto = dcutr_compat.protocol_class()(host, read_timeout=10, write_timeout=10,
                                              dial_timeout=self.dial_timeout)
        proto.relay_grace = self.relay_grace
        async with background_trio_service(proto), trio.open_nursery() as nursery:
            await proto.event_started.wait()
            self.protocol, self._host, self._nursery = proto, host, nursery
            host.get_network().register_notifee(_Notifee(self))
            task_status.started()
            await trio.sleep_forever()

    # -- automatic upgrades (libp2p thread) ----------------------------------------------------
    def _wants_to_initiate(self) -> bool:
        return self.mode == "always" or (self.mode == "auto" and self.reachability() == "private")

    def _on_connection(self, conn: Any) -> None:
        if (self._nursery is None or connection_kind(conn) != "relayed"
                or int(getattr(conn, "direction", -1)) != INBOUND or not self._wants_to_initiate()):
            return
        self._nursery.start_soon(self._t_upgrade_quietly, conn.muxed_conn.peer_id)

    async def _t_upgrade_quietly(self, pid: ID) -> None:
        try:
            await self._t_upgrade(pid, 30.0)
        except Exception as e:  # noqa: BLE001 - the relayed connection stays; nothing else to do
            log.info("hole punch to %s failed: %s", pid, e)

    async def _t_upgrade(self, pid: ID, timeout: float) -> float:
        assert self.protocol is not None
        t0 = trio.current_time()
        with trio.fail_after(timeout):
            ok = await self.protocol.initiate_hole_punch(pid)
        if not ok:
            raise PeerError(f"no direct connection to {pid}")
        took = trio.current_time() - t0
        self.upgraded[pid.to_base58()] = took
        log.info("direct connection to %s after %.2f s of hole punching", pid, took)
        return took

    def t_inbound_relayed(self) -> list[ID]:
        """Peers we hold only an inbound relayed connection to (libp2p thread)."""
        if self._host is None:
            return []
        out = []
        for pid, conns in list(self._host.get_network().connections.items()):
            conns = conns if isinstance(conns, list) else [conns]
            kinds = {(connection_kind(c), int(getattr(c, "direction", -1))) for c in conns}
            if ("relayed", INBOUND) in kinds and not any(k == "direct" for k, _ in kinds):
                out.append(pid)
        return out

    def reachability_changed(self) -> None:
        """Call when AutoNAT's verdict changes: behind a NAT, upgrade the inbound relayed
        connections held already (from any thread)."""
        if self._nursery is None or not self._wants_to_initiate():
            return

        async def run() -> None:
            for pid in self.t_inbound_relayed():
                assert self._nursery is not None
                self._nursery.start_soon(self._t_upgrade_quietly, pid)

        self.peer.bridge.spawn(run)

    # -- explicit upgrade (asyncio) ------------------------------------------------------------
    async def upgrade(self, peer_id: str, timeout: float = 30.0) -> float:
        """Hole-punch to ``peer_id`` (connected through a relay) as the initiator; the
        seconds it took. Raises :class:`PeerError` when no direct connection results."""
        if self.mode == "off" or self.protocol is None:
            raise PeerError("hole punching is off")
        try:
            return await self.peer.bridge.call(self._t_upgrade, ID.from_base58(peer_id), timeout)
        except trio.TooSlowError:
            raise PeerError(f"hole punch to {peer_id} timed out") from None
