"""The network half of the block source chain: bitswap sessions over connected
peers, then providers found on the DHT and the delegated routers (dialled and
added to the session), then the trustless gateways (``http_sources.py``).

The model sees only :class:`ipfs_kit_py.retrieval.BlockSource`; the libp2p
service attaches this one when it starts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..content.cid import CID
from ..http_sources import ChainSession, HttpSources
from .bitswap import Bitswap
from .dht import DHT
from .session import BitswapSession

log = logging.getLogger(__name__)


class NetworkBlockSource:
    def __init__(self, peer: Any, bitswap: Bitswap, dht: DHT | None, *, max_providers: int = 10,
                 find_timeout: float = 30.0, http: HttpSources | None = None, gateway_delay: float = 1.0) -> None:
        self.peer = peer
        self.http = http
        self.gateway_delay = gateway_delay
        self.bitswap = bitswap
        self.dht = dht
        self.max_providers = max_providers
        self.find_timeout = find_timeout

    def session(self) -> BitswapSession | ChainSession:
        routed = self.dht is not None or (self.http is not None and bool(self.http.routers))
        s = self.bitswap.session(find_providers=self.find_providers if routed else None)
        if self.http is None or not self.http.gateways:
            return s
        return ChainSession(s, self.http.session(), self.gateway_delay,
                            has_peers=lambda: bool(self.peer.get_connected_peers()))

    async def find_providers(self, cid: CID) -> list[str]:
        """Providers of ``cid`` on the DHT and the delegated routers that we could dial
        (peer IDs, now connected)."""
        lookups = []
        if self.dht is not None:
            lookups.append(self.dht.find_providers(cid, self.max_providers, timeout=self.find_timeout))
        if self.http is not None and self.http.routers:
            lookups.append(self.http.find_providers(cid))
        found: list[dict[str, Any]] = []
        for res in await asyncio.gather(*lookups, return_exceptions=True):
            if isinstance(res, BaseException):
                log.info("provider lookup for %s failed: %s", cid, res)
            else:
                found += [p for p in res if p["ID"] not in {f["ID"] for f in found}]
        found = found[:self.max_providers]
        me = self.peer.get_id()
        connected = set(self.peer.get_connected_peers())
        dialled: list[str] = []

        async def dial(p: dict[str, Any]) -> None:
            pid = p["ID"]
            if pid == me or self.bitswap.is_banned(pid):
                return
            if pid in connected:
                dialled.append(pid)
                return
            for addr in p.get("Addrs") or []:
                full = addr if "/p2p/" in addr else f"{addr}/p2p/{pid}"
                try:
                    await self.peer.connect_to_peer(pid, full, timeout=10.0)
                    dialled.append(pid)
                    return
                except Exception as e:  # noqa: BLE001 - try its next address
                    log.debug("cannot dial provider %s at %s: %s", pid, addr, e)

        await asyncio.gather(*(dial(p) for p in found))
        return dialled
