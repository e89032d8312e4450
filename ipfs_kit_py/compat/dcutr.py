"""py-libp2p 0.8.x's DCUtR (``libp2p.relay.circuit_v2.dcutr.DCUtRProtocol``), as
:mod:`ipfs_kit_py.p2p.dcutr` uses it: a subclass that overrides two internals.

- ``_auto_drive_loop``: py-libp2p starts a hole punch every 2 s toward every peer
  it holds a relayed connection to, from *both* sides. Two crossing sessions each
  fix the Noise roles their own way (the initiator of a session upgrades its dial
  as the responder), so a merged TCP connection fails its handshake. The spec's
  initiator is the side that received the relayed connection; ours starts it
  from the connection's direction (``p2p/dcutr.py``), so the loop does nothing.
- ``_schedule_relay_close``: after an upgrade py-libp2p closes the relayed
  connection after a fixed 60 s; ours takes the grace period as a setting.
- ``_try_unilateral_upgrade`` (the spec's plain dial before hole punching, to a
  peer that may be public) waits the whole dial timeout on an address whose NAT
  drops the SYN; it is bounded here by ``unilateral_timeout`` (0.5 s: enough for
  a nearby public peer; a farther one is reached by the hole punch that follows
  anyway). In benchmarks/bench_nat.py the time to a direct connection went from
  5.3 s to about 0.7 s.

What we rely on, checked by :func:`check` (``tests/test_compat.py``): the class,
those two methods, ``_close_relayed_conns_after_grace(peer_id, grace)``,
``initiate_hole_punch`` and the source-port dial (``Swarm.dial_addr_as_responder``
with ``source``, ``TCP.dial_with_source``) that the TCP simultaneous open needs.
"""

from __future__ import annotations

import inspect
import logging
from importlib.metadata import version as _dist_version
from typing import Any

from . import IncompatibleDependency

log = logging.getLogger(__name__)

TESTED = "0.8."


def version() -> str:
    return _dist_version("libp2p")


def check() -> None:
    """Raise IncompatibleDependency when py-libp2p lacks what :func:`protocol_class` relies on."""
    v = version()
    if not v.startswith(TESTED):
        raise IncompatibleDependency(f"libp2p {v} is untested (compat/dcutr.py was checked against {TESTED})")
    from libp2p.network.swarm import Swarm
    from libp2p.relay.circuit_v2 import dcutr
    from libp2p.transport.tcp.tcp import TCP

    cls = dcutr.DCUtRProtocol
    for name in ("_auto_drive_loop", "_schedule_relay_close", "_close_relayed_conns_after_grace",
                 "_try_unilateral_upgrade", "_dial_peer", "_verify_direct_connection",
                 "initiate_hole_punch", "_perform_hole_punch"):
        if not callable(getattr(cls, name, None)):
            raise IncompatibleDependency(f"DCUtRProtocol.{name} is gone")
    if "grace" not in inspect.signature(cls._close_relayed_conns_after_grace).parameters:
        raise IncompatibleDependency("DCUtRProtocol._close_relayed_conns_after_grace takes no grace")
    if "source" not in inspect.signature(Swarm.dial_addr_as_responder).parameters:
        raise IncompatibleDependency("Swarm.dial_addr_as_responder cannot bind a source port")
    if not callable(getattr(TCP, "dial_with_source", None)):
        raise IncompatibleDependency("TCP.dial_with_source is gone: no dial from the listen port")


def protocol_class() -> Any:
    """``DCUtRProtocol`` without the auto-drive loop, with a configurable relay grace
    (``relay_grace`` attribute, seconds) and a bounded unilateral dial (``unilateral_timeout``)."""
    import trio
    from libp2p.relay.circuit_v2.dcutr import DCUtRProtocol

    class Protocol(DCUtRProtocol):
        relay_grace: float = 60.0
        unilateral_timeout: float = 0.5

        async def _try_unilateral_upgrade(self, peer_id: Any) -> bool:
            try:
                addrs = [a for a in self.host.get_peerstore().addrs(peer_id) if "/p2p-circuit" not in str(a)]
            except Exception:  # noqa: BLE001 - no addresses known
                return False
            if not addrs:
                return False
            with trio.move_on_after(self.unilateral_timeout):
                async with trio.open_nursery() as nursery:
                    for addr in addrs:
                        nursery.start_soon(self._dial_peer, peer_id, addr)
            return bool(await self._verify_direct_connection(peer_id))

        async def _auto_drive_loop(self) -> None:
            return

        def _schedule_relay_close(self, peer_id: Any) -> None:
            if self._nursery is not None:
                self._nursery.start_soon(self._close_relayed_conns_after_grace, peer_id, self.relay_grace)

    return Protocol
