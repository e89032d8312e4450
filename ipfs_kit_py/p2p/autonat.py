"""AutoNAT v1 for :class:`IPFSLibp2pPeer`, over py-libp2p's ``AutoNATService``.

``AutoNAT(peer, serve=True)`` (before the peer starts) answers dial-back
requests on ``/libp2p/autonat/1.0.0`` (a ``master`` node serves the check);
:meth:`AutoNAT.check` asks connected peers to dial us back and sets
:attr:`AutoNAT.reachability` to ``public``, ``private`` or ``unknown``.
The server dials only addresses on the requester's observed IP, so a node
behind a NAT that advertises its private address learns ``private``.
Callables in :attr:`AutoNAT.on_change` get each new verdict (hole punching
starts on ``private``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio
from libp2p.host.autonat.autonat import AUTONAT_PROTOCOL_ID, AutoNATService, AutoNATStatus
from libp2p.peer.id import ID
from multiaddr import Multiaddr

from .peer import IPFSLibp2pPeer

__all__ = ["AUTONAT_PROTOCOL_ID", "AutoNAT"]

_NAMES = {AutoNATStatus.UNKNOWN: "unknown", AutoNATStatus.PUBLIC: "public", AutoNATStatus.PRIVATE: "private"}


class AutoNAT:
    def __init__(self, peer: IPFSLibp2pPeer, *, serve: bool = False, confirmations: int = 1) -> None:
        self.peer = peer
        self.serve = serve
        self.confirmations = confirmations
        self.service: AutoNATService | None = None
        self.reachability = "unknown"
        self.on_change: list[Callable[[str], None]] = []
        peer.add_trio_service(self._run)

    async def _run(self, host: Any, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.service = AutoNATService(host, serve=self.serve, confirmations=self.confirmations)
        self.service._try_dial = self._fresh_dial  # type: ignore[method-assign]
        task_status.started()

    async def _fresh_dial(self, peer_id: ID, addrs: list[bytes]) -> bytes | None:
        # py-libp2p's server dials back with host.connect, which returns the connection
        # the request came on: every requester would be "public". A dial-back must be a
        # new connection to the advertised address; it is closed after the verdict.
        network = self.peer.host.get_network()
        for addr in addrs:
            try:
                with trio.fail_after(10):
                    conn = await network.dial_addr(Multiaddr(addr), peer_id)
            except Exception:  # noqa: BLE001 - unreachable address: try the next
                continue
            with trio.move_on_after(5):
                await conn.close()
            return bytes(addr)
        return None

    async def check(self, servers: list[str], timeout: float = 20.0) -> str:
        """Ask ``servers`` (peer IDs we are connected to) for a dial-back; our reachability."""
        async def run() -> int:
            assert self.service is not None
            with trio.fail_after(timeout):
                return await self.service.check_reachability([ID.from_base58(s) for s in servers])

        verdict = _NAMES.get(await self.peer.bridge.call(run), "unknown")
        changed, self.reachability = verdict != self.reachability, verdict
        if changed:
            for fn in self.on_change:
                fn(verdict)
        return verdict
