"""HTTP block and provider sources, for nodes without a DHT (or as a last resort).

- Trustless gateways (``retrieval.gateways``): a block is ``GET
  <gateway>/ipfs/<cid>?format=raw`` with ``Accept: application/vnd.ipld.raw``
  (https://specs.ipfs.tech/http-gateways/trustless-gateway/); the bytes are used
  only if they hash to the CID, otherwise the next gateway is asked. Gateways that
  answered well are asked first.
- Delegated routers (``retrieval.routers``): providers of a CID are ``GET
  <router>/routing/v1/providers/<cid>`` (https://specs.ipfs.tech/routing/http-routing-v1/);
  the peers found are dialled and join the bitswap session like DHT providers.

:class:`ChainSession` puts a gateway session behind a bitswap session: the
gateways are asked when the peers have not delivered a block within
``delay`` seconds (at once when no peer is connected); the first verified
answer wins and the other request is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from .content.cid import CID
from .errors import BlockNotFound

log = logging.getLogger(__name__)

MAX_BLOCK = 4 << 20  # a gateway answer larger than this is not a block
RAW = "application/vnd.ipld.raw"


class HttpSources:
    """The gateways and routers of one node, with one shared HTTP client."""

    def __init__(self, gateways: list[str], routers: list[str], *, timeout: float = 10.0,
                 ledger: Any = None) -> None:
        self.gateways = [g.rstrip("/") for g in gateways]
        self.routers = [r.rstrip("/") for r in routers]
        self.timeout = timeout
        self.ledger = ledger  # a PeerLedger: gateways get a record under their URL
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._score: dict[str, float] = {g: 0.0 for g in self.gateways}  # higher: asked first

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False,
                                             limits=httpx.Limits(max_connections=64))
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None

    # -- blocks -------------------------------------------------------------------------------
    def session(self) -> GatewaySession:
        return GatewaySession(self)

    async def get_block(self, cid: CID, used: list[str] | None = None) -> bytes:
        """The block from the first gateway whose bytes hash to ``cid``."""
        if not self.gateways:
            raise BlockNotFound(f"block {cid} not found: no gateway configured")
        errors: list[str] = []
        for g in sorted(self.gateways, key=lambda g: -self._score[g]):
            t = time.monotonic()
            try:
                data = await self._fetch(g, cid)
            except (httpx.HTTPError, ValueError) as e:
                errors.append(f"{g}: {e}")
                self._score[g] -= 1
                if self.ledger is not None:
                    self.ledger.failed(g, "gateway error")
                continue
            if not cid.verify(data):  # never trust a gateway: a bad answer is refused
                errors.append(f"{g}: bytes do not match the CID")
                self._score[g] -= 10
                if self.ledger is not None:
                    self.ledger.bad_block(g, f"gateway sent bytes not matching {cid}", 0)
                continue
            self._score[g] += 1
            if self.ledger is not None:
                took = time.monotonic() - t
                self.ledger.received(g, len(data))
                self.ledger.measured(g, latency=took, throughput=len(data) / took if took > 1e-4 else None)
            if used is not None and g not in used:
                used.append(g)
            return data
        raise BlockNotFound(f"block {cid} not found on the gateways ({'; '.join(errors)})")

    async def _fetch(self, gateway: str, cid: CID) -> bytes:
        url = f"{gateway}/ipfs/{cid}"
        async with self.client().stream("GET", url, params={"format": "raw"}, headers={"Accept": RAW}) as r:
            if r.status_code != 200:
                raise ValueError(f"HTTP {r.status_code}")
            buf = bytearray()
            async for chunk in r.aiter_bytes():
                buf += chunk
                if len(buf) > MAX_BLOCK:
                    raise ValueError(f"answer larger than {MAX_BLOCK} bytes")
            return bytes(buf)

    # -- providers -------------------------------------------------------------------------------
    async def find_providers(self, cid: CID) -> list[dict[str, Any]]:
        """Providers from every router (``{"ID", "Addrs"}``), merged by peer ID."""
        if not self.routers:
            return []
        found: dict[str, dict[str, Any]] = {}
        results = await asyncio.gather(*(self._providers(r, cid) for r in self.routers), return_exceptions=True)
        for router, res in zip(self.routers, results, strict=True):
            if isinstance(res, BaseException):
                log.info("delegated router %s: %s", router, res)
                continue
            for p in res:
                have = found.setdefault(p["ID"], {"ID": p["ID"], "Addrs": []})
                have["Addrs"] += [a for a in p["Addrs"] if a not in have["Addrs"]]
        return list(found.values())

    async def _providers(self, router: str, cid: CID) -> list[dict[str, Any]]:
        r = await self.client().get(f"{router}/routing/v1/providers/{cid}", headers={"Accept": "application/json"})
        if r.status_code == 404:  # IPIP-513: "none"
            return []
        r.raise_for_status()
        out = []
        for p in (r.json().get("Providers") or []):
            if isinstance(p, dict) and isinstance(p.get("ID"), str) and p.get("Schema", "peer") == "peer":
                out.append({"ID": p["ID"], "Addrs": [a for a in p.get("Addrs") or [] if isinstance(a, str)]})
        return out


class GatewaySession:
    """A :class:`~ipfs_kit_py.retrieval.NetworkSession` over the trustless gateways."""

    def __init__(self, sources: HttpSources) -> None:
        self.sources = sources
        self.used: list[str] = []

    async def get(self, cid: CID) -> bytes:
        return await self.sources.get_block(cid, self.used)

    def providers(self) -> list[str]:
        return list(self.used)

    def close(self) -> None:
        pass


class ChainSession:
    """Peers first (a bitswap session), then the gateways after ``delay`` s (at once when
    ``has_peers()`` is false, or when the peers failed); the first verified block wins."""

    def __init__(self, first: Any, then: GatewaySession, delay: float, has_peers: Callable[[], bool]) -> None:
        self.first = first
        self.then = then
        self.delay = delay
        self.has_peers = has_peers

    async def get(self, cid: CID) -> bytes:
        a = asyncio.ensure_future(self.first.get(cid))
        b: asyncio.Future[bytes] | None = None
        try:
            if self.has_peers():
                done, _ = await asyncio.wait({a}, timeout=self.delay)
                if a in done and a.exception() is None:
                    first: bytes = a.result()
                    return first
            b = asyncio.ensure_future(self.then.get(cid))
            pending: set[asyncio.Future[bytes]] = {a, b}
            error: BaseException | None = None
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    if t.exception() is None:
                        data: bytes = t.result()
                        return data
                    error = error or t.exception()
            assert error is not None
            raise error
        finally:
            for t in (a, b):
                if t is not None and not t.done():
                    t.cancel()
            for t in (a, b):  # their errors are ours or moot: never "never retrieved"
                if t is not None and t.done() and not t.cancelled():
                    t.exception()

    def providers(self) -> list[str]:
        return [*self.first.providers(), *self.then.providers()]

    def close(self) -> None:
        self.first.close()
        self.then.close()


def sources_from_settings(retrieval: Any, ledger: Any = None) -> HttpSources | None:
    if not retrieval.gateways and not retrieval.routers:
        return None
    return HttpSources(list(retrieval.gateways), list(retrieval.routers), timeout=retrieval.block_timeout,
                       ledger=ledger)
