"""The libp2p swarm as Kubo's RPC shows it (``swarm``, ``ping``, ``stats/bw``,
``stats/bitswap``): connections with their direction, streams, latency and what
identify told us; the peerstore's addresses; connecting and disconnecting;
peering (peers kept connected); pings; bandwidth by protocol and peer. The
libp2p side is ``p2p/swarm_info.py``, ``p2p/bandwidth.py`` and ``p2p/peering.py``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..access import Scope
from ..errors import ChannelUnavailable, InvalidArgument, NotFound
from ..operation import (
    NDJSON,
    Context,
    Invoke,
    ItemStream,
    Kubo,
    KuboArgs,
    Operation,
    Upload,
    param,
)
from .node import BitswapStat, NoParams, bitswap_stat

PING_INTERVAL = 1.0  # seconds between pings, as Kubo
PING_TIMEOUT = 10.0  # seconds one ping may take (Kubo's kPingTimeout)
PING_PROTOCOL = "/ipfs/ping/1.0.0"
PING_SIZE = 32
MAX_PING_COUNT = 3600  # pings one call may ask for (an hour of them)


def go_duration(ns: int) -> str:
    """A duration as Go's ``time.Duration.String()`` writes it (``29.532833ms``, ``1.5s``)."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)

    def frac(v: int, unit: int, digits: int) -> str:
        whole, rest = divmod(v, unit)
        text = f"{rest:0{digits}d}".rstrip("0")
        return f"{whole}.{text}" if text else str(whole)

    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{frac(ns, 1_000, 3)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{frac(ns, 1_000_000, 6)}ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{frac(rest, 1_000_000_000, 9)}s"


def _swarm_info() -> ModuleType:
    # imported when first used: py-libp2p takes 1.5 s to import, and every CLI
    # command builds the registry (this module) before it runs
    from ..p2p import swarm_info

    return swarm_info


def _peer_and_addr(address: str) -> tuple[str, str | None]:
    """(peer ID, transport address or None) of ``<multiaddr>/p2p/<id>``, ``/p2p/<id>`` or a bare ID."""
    address = address.strip()
    if not address.startswith("/"):
        return _peer_id(address), None
    from ..p2p.peer import split_peer_addr  # libp2p: only where it is used (CLI start-up)

    try:
        pid, ma = split_peer_addr(None, address)
    except ValueError as e:
        raise InvalidArgument(f"invalid p2p multiaddr {address!r}: {e}") from None
    transport = str(ma)
    return _peer_id(pid), (transport if transport not in ("", "/") else None)


_B58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]+$")


def _peer_id(text: str) -> str:
    from libp2p.peer.id import ID

    try:
        if not _B58.match(text):
            raise ValueError("not base58")
        return ID.from_base58(text).to_base58()
    except Exception:  # noqa: BLE001 - py-libp2p raises several types
        raise InvalidArgument(f"failed to parse peer ID {text!r}") from None


# -- swarm/connect, swarm/disconnect ----------------------------------------------------------------
@dataclass
class AddrParams:
    address: str = param(kubo="arg", doc="<multiaddr>/p2p/<peer-id>")


@dataclass(frozen=True, slots=True)
class Connected:
    peer: str


async def swarm_connect(ctx: Context, p: AddrParams) -> Connected:
    svc = ctx.service("libp2p")
    try:
        return Connected(await svc.connect(p.address))
    except ValueError as e:
        raise InvalidArgument(str(e)) from None
    except ConnectionError as e:
        raise ChannelUnavailable(str(e)) from None


def _kubo_swarm_connect(results: list[Connected], a: KuboArgs) -> dict[str, Any]:
    return {"Strings": [f"connect {r.peer} success" for r in results]}


@dataclass(frozen=True, slots=True)
class Disconnected:
    peer: str
    outcome: str  # success, not connected, conn not found


async def swarm_disconnect(ctx: Context, p: AddrParams) -> Disconnected:
    svc = ctx.service("libp2p")
    pid, addr = _peer_and_addr(p.address)
    outcome = await svc.peer.bridge.call(_swarm_info().t_disconnect, svc.peer, pid, addr)
    return Disconnected(pid, outcome)


def _kubo_swarm_disconnect(results: list[Disconnected], a: KuboArgs) -> dict[str, Any]:
    return {"Strings": [f"disconnect {r.peer} success" if r.outcome == "success"
                        else f"disconnect {r.peer} failure: {r.outcome}" for r in results]}


# -- swarm/peers ----------------------------------------------------------------------------------------
@dataclass
class PeersParams:
    verbose: bool = param(False, flags=("v",), doc="every detail below")
    streams: bool = param(False, doc="the protocols of the open streams")
    latency: bool = param(False, doc="the latency to each peer")
    direction: bool = param(False, doc="inbound or outbound")
    identify: bool = param(False, doc="what identify told us of each peer")


@dataclass(frozen=True, slots=True)
class Peers:
    peers: list[str]
    # one per connection: peer, addrs, kind (direct|relayed), and with the flags: direction
    # (1 inbound, 2 outbound), latency_ns, streams, identify
    connections: list[dict[str, Any]] = field(default_factory=list)


async def swarm_peers(ctx: Context, p: PeersParams) -> Peers:
    svc = ctx.service("libp2p")
    infos = await svc.peer.bridge.call(_swarm_info().t_connections, svc.peer, p.verbose or p.identify) \
        if svc.peer.started else []
    conns = []
    for c in sorted(infos, key=lambda c: c.addr):
        entry: dict[str, Any] = {"peer": c.peer, "addrs": [c.addr] if c.addr else [], "kind": c.kind}
        if p.verbose or p.direction:
            entry["direction"] = c.direction
        if p.verbose or p.latency:
            entry["latency_ns"] = int(c.latency * 1e9)
        if p.verbose or p.streams:
            entry["streams"] = c.streams
        if p.verbose or p.identify:
            entry["identify"] = c.identify
        conns.append(entry)
    return Peers(sorted({c.peer for c in infos}), conns)


_NO_IDENTIFY = {"ID": "", "PublicKey": "", "Addresses": None, "AgentVersion": "", "Protocols": None}


def _kubo_swarm_peers(r: Peers, a: KuboArgs) -> dict[str, Any]:
    """Kubo's connInfos: one entry per connection, sorted by address; Identify is always
    there (empty unless asked for). ``Relayed`` (only when true) is this server's own."""
    out = []
    for c in r.connections:
        entry: dict[str, Any] = {"Addr": c["addrs"][0] if c["addrs"] else "", "Peer": c["peer"]}
        if "latency_ns" in c:
            entry["Latency"] = go_duration(c["latency_ns"]) if c["latency_ns"] else "n/a"
        if c.get("direction"):
            entry["Direction"] = c["direction"]
        if c.get("streams"):
            entry["Streams"] = [{"Protocol": s} for s in c["streams"]]
        entry["Identify"] = c.get("identify") or dict(_NO_IDENTIFY)
        if c["kind"] == "relayed":  # only when true: a direct entry keeps Kubo's keys exactly
            entry["Relayed"] = True
        out.append(entry)
    return {"Peers": out}  # Kubo sends null for none; [] here, which every client reads the same


def _peers_text(obj: dict[str, Any]) -> str:
    lines = []
    for p in obj.get("Peers") or []:
        line = f"{p['Addr']}/p2p/{p['Peer']}"
        if p.get("Latency"):
            line += f" {p['Latency']}"
        if p.get("Direction"):
            line += " " + {1: "inbound", 2: "outbound"}.get(p["Direction"], "")
        lines.append(line)
        lines += [f"  {s['Protocol'] or '<no protocol name>'}" for s in p.get("Streams") or []]
    return "\n".join(lines)


# -- swarm/addrs --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PeerAddrs:
    addrs: dict[str, list[str]]


async def swarm_addrs(ctx: Context, p: NoParams) -> PeerAddrs:
    svc = ctx.service("libp2p")
    if not svc.peer.started:
        return PeerAddrs({})
    return PeerAddrs(await svc.peer.bridge.call(_swarm_info().t_peer_addrs, svc.peer))


@dataclass(frozen=True, slots=True)
class Strings:
    strings: list[str]


@dataclass
class AddrsLocalParams:
    id: bool = param(False, doc="append /p2p/<peer-id>")


async def swarm_addrs_local(ctx: Context, p: AddrsLocalParams) -> Strings:
    svc = ctx.service("libp2p")
    addrs = [str(a) for a in svc.get_addrs()]
    if not p.id:
        addrs = [a.split("/p2p/")[0] for a in addrs]
    return Strings(addrs)


async def swarm_addrs_listen(ctx: Context, p: NoParams) -> Strings:
    svc = ctx.service("libp2p")
    return Strings(sorted({str(a).split("/p2p/")[0] for a in svc.get_addrs()}))


def _kubo_strings(r: Strings, a: KuboArgs) -> dict[str, Any]:
    return {"Strings": r.strings}


# -- swarm/peering ----------------------------------------------------------------------------------
@dataclass
class PeeringAddParams:
    address: str = param(kubo="arg", doc="<multiaddr>/p2p/<peer-id> (or /p2p/<peer-id>)")


@dataclass
class PeerIdParams:
    peer: str = param(kubo="arg", doc="peer ID")


@dataclass(frozen=True, slots=True)
class PeeringChange:
    id: str
    status: str


async def swarm_peering_add(ctx: Context, p: PeeringAddParams) -> PeeringChange:
    svc = ctx.service("libp2p")
    if "/p2p/" not in p.address:
        raise InvalidArgument("invalid p2p multiaddr: it needs /p2p/<peer-id>")
    pid, addr = _peer_and_addr(p.address)
    svc.peering.add(pid, addr if pid != svc.get_id() else None)  # never dial ourselves
    return PeeringChange(pid, "success")


async def swarm_peering_rm(ctx: Context, p: PeerIdParams) -> PeeringChange:
    svc = ctx.service("libp2p")
    pid = _peer_id(p.peer.strip())
    svc.peering.remove(pid)
    return PeeringChange(pid, "success")


@dataclass(frozen=True, slots=True)
class PeeringPeer:
    id: str
    addrs: list[str]


@dataclass(frozen=True, slots=True)
class PeeringList:
    peers: list[PeeringPeer]


async def swarm_peering_ls(ctx: Context, p: NoParams) -> PeeringList:
    svc = ctx.service("libp2p")
    return PeeringList([PeeringPeer(pid, addrs) for pid, addrs in svc.peering.list()])


def _kubo_peering_changes(results: list[PeeringChange], a: KuboArgs) -> NDJSON:
    async def lines() -> AsyncIterator[dict[str, Any]]:
        for r in results:
            yield {"ID": r.id, "Status": r.status}

    return NDJSON(lines())


# -- ping -----------------------------------------------------------------------------------------------
@dataclass
class PingParams:
    peer: str = param(kubo="arg", doc="peer ID or <multiaddr>/p2p/<peer-id>")
    count: int = param(10, flags=("n",), doc=f"pings to send, one a second (at most {MAX_PING_COUNT})")


@dataclass(frozen=True, slots=True)
class PingLine:
    success: bool
    time: int  # nanoseconds (0 on the lines with a text)
    text: str


@dataclass(frozen=True, slots=True)
class Pings:
    lines: list[PingLine]


async def ping(ctx: Context, p: PingParams) -> ItemStream[PingLine]:
    svc = ctx.service("libp2p")
    pid, addr = _peer_and_addr(p.peer)
    if pid == svc.get_id():
        raise InvalidArgument("error: can't ping self")
    if p.count <= 0:
        raise InvalidArgument(f"ping count must be greater than 0, was {p.count}")
    if p.count > MAX_PING_COUNT:  # one a second: a bound, so no call holds a channel for days
        raise InvalidArgument(f"ping count must be at most {MAX_PING_COUNT}, was {p.count}")

    # an unknown peer is looked up before the answer starts, so that "not found" is a clean 404
    # rather than a stream cut short
    looked_up = False
    if addr is None and pid not in svc.peer.get_connected_peers() and not await svc.peer.bridge.call(
            _swarm_info().t_has_addrs, svc.peer, pid):
        looked_up = True
        found = await svc.dht.find_peer(pid, PING_TIMEOUT)
        if not found:
            raise NotFound(f"peer lookup failed: no addresses found for {pid}")
        for a in found:
            try:
                await svc.connect(a if "/p2p/" in a else f"{a}/p2p/{pid}")
                break
            except Exception:  # noqa: BLE001 - the next address
                continue

    async def lines() -> AsyncIterator[PingLine]:
        if looked_up:
            yield PingLine(True, 0, f"Looking up peer {pid}")
        yield PingLine(True, 0, f"PING {pid}.")
        loop = asyncio.get_running_loop()
        stream = None
        count, total = 0, 0
        try:
            for i in range(p.count):
                started = loop.time()
                try:
                    if stream is None:
                        if addr is not None and pid not in svc.peer.get_connected_peers():
                            await svc.connect(f"{addr}/p2p/{pid}")
                        stream = await svc.peer.new_stream(pid, PING_PROTOCOL, timeout=PING_TIMEOUT)
                    payload = os.urandom(PING_SIZE)
                    t0 = loop.time()
                    await stream.write(payload)
                    echo = await asyncio.wait_for(stream.readexactly(PING_SIZE), PING_TIMEOUT)
                    rtt = int((loop.time() - t0) * 1e9)
                    if echo != payload:
                        raise ValueError("the pong did not echo the ping")
                    count += 1
                    total += rtt
                    await svc.peer.bridge.call(_swarm_info().t_record_latency, svc.peer, pid, rtt / 1e9)
                    yield PingLine(True, rtt, "")
                except Exception as e:  # noqa: BLE001 - one failed ping is a line, as Kubo
                    if stream is not None:
                        await _quietly(stream.reset())
                    stream = None
                    yield PingLine(False, 0, f"Ping error: {e or type(e).__name__}")
                if i + 1 < p.count:
                    await asyncio.sleep(max(0.0, PING_INTERVAL - (loop.time() - started)))
        finally:
            if stream is not None:
                await _quietly(stream.close())
        if count == 0:
            raise ChannelUnavailable("ping failed")
        yield PingLine(True, 0, f"Average latency: {total / count / 1e6:.2f}ms")

    return ItemStream(lines())


async def _quietly(aw: Any) -> None:
    try:
        await aw
    except Exception:  # noqa: BLE001 - closing a stream that broke
        pass


async def ping_json(result: ItemStream[PingLine]) -> Pings:
    return Pings([line async for line in result.items])


def _kubo_ping(result: ItemStream[PingLine], a: KuboArgs) -> NDJSON:
    async def lines() -> AsyncIterator[dict[str, Any]]:
        async for line in result.items:
            yield {"Success": line.success, "Time": line.time, "Text": line.text}

    return NDJSON(lines())


def _ping_text(obj: dict[str, Any]) -> str:
    if obj.get("Text"):
        return str(obj["Text"])
    return f"Pong received: time={obj['Time'] / 1e6:.2f} ms" if obj.get("Success") else "Pong failed"


# -- stats/bw, stats/bitswap ------------------------------------------------------------------------
@dataclass
class BwParams:
    peer: str | None = param(None, flags=("p",), doc="only this peer's traffic")
    proto: str | None = param(None, flags=("t",), doc="only this protocol's traffic")


@dataclass(frozen=True, slots=True)
class Bandwidth:
    total_in: int
    total_out: int
    rate_in: float  # bytes per second (moving average)
    rate_out: float


async def stats_bw(ctx: Context, p: BwParams) -> Bandwidth:
    if p.peer and p.proto:
        raise InvalidArgument("please only specify peer OR protocol")
    svc = ctx.service("libp2p")
    t = svc.bandwidth.totals(peer=_peer_id(p.peer) if p.peer else None, protocol=p.proto or None)
    return Bandwidth(t.total_in, t.total_out, t.rate_in, t.rate_out)


def _bw_line(r: Bandwidth) -> dict[str, Any]:
    return {"TotalIn": r.total_in, "TotalOut": r.total_out, "RateIn": r.rate_in, "RateOut": r.rate_out}


_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")


def _interval(text: str) -> float:
    m = _INTERVAL.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid interval {text!r}: a duration such as 1s, 500ms, 1m")
    seconds = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    if seconds <= 0:
        raise InvalidArgument("interval must be greater than 0")
    return seconds


async def _kubo_stats_bw(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> NDJSON:
    """One ``{"TotalIn","TotalOut","RateIn","RateOut"}`` line; with ``poll`` another every
    ``interval`` until the client goes away."""
    params = {"peer": a.str("peer", "p"), "proto": a.str("proto", "t")}
    poll = bool(a.bool("poll"))
    interval = _interval(a.str("interval", "i", default="1s") or "1s")
    first = await invoke(params)  # errors (peer AND proto) before any line

    async def lines() -> AsyncIterator[dict[str, Any]]:
        yield _bw_line(first)
        while poll:
            await asyncio.sleep(interval)
            yield _bw_line(await invoke(params))

    return NDJSON(lines())


async def stats_bitswap(ctx: Context, p: NoParams) -> BitswapStat:
    return await bitswap_stat(ctx, p)


def _kubo_bitswap(r: BitswapStat, a: KuboArgs) -> dict[str, Any]:
    from .node import _kubo_bitswap_stat

    a.bool("verbose", "v")
    a.bool("human")
    return _kubo_bitswap_stat(r, a)


R, W = Scope.READ, Scope.WRITE
OPS: list[Operation[Any, Any]] = [
    Operation("swarm_connect", AddrParams, Connected, W, "Connect to a libp2p peer", swarm_connect,
              Kubo("swarm/connect", _kubo_swarm_connect, each_arg=True, arg_doc="<multiaddr>/p2p/<peer-id>"),
              cli="swarm connect", cli_text=lambda obj: "\n".join(obj["Strings"])),
    Operation("swarm_disconnect", AddrParams, Disconnected, W, "Close the connections to a peer", swarm_disconnect,
              Kubo("swarm/disconnect", _kubo_swarm_disconnect, each_arg=True, arg_doc="<multiaddr>/p2p/<peer-id>"),
              cli="swarm disconnect", cli_text=lambda obj: "\n".join(obj["Strings"])),
    Operation("swarm_peers", PeersParams, Peers, R, "Connected libp2p peers (with -v: direction, latency, "
              "streams, identify)", swarm_peers, Kubo("swarm/peers", _kubo_swarm_peers), cli="swarm peers",
              cli_text=_peers_text),
    Operation("swarm_addrs", NoParams, PeerAddrs, R, "The addresses the peerstore knows, by peer", swarm_addrs,
              Kubo("swarm/addrs", lambda r, a: {"Addrs": r.addrs}), cli="swarm addrs",
              cli_text=lambda obj: "\n".join(f"{p} ({len(v)})\n" + "\n".join(f"\t{x}" for x in v)
                                             for p, v in sorted(obj["Addrs"].items()))),
    Operation("swarm_addrs_local", AddrsLocalParams, Strings, R, "This node's libp2p addresses", swarm_addrs_local,
              Kubo("swarm/addrs/local", _kubo_strings), cli="swarm addrs-local"),
    Operation("swarm_addrs_listen", NoParams, Strings, R, "The addresses this node listens on",
              swarm_addrs_listen, Kubo("swarm/addrs/listen", _kubo_strings), cli="swarm addrs-listen"),
    Operation("swarm_peering_add", PeeringAddParams, PeeringChange, W, "Keep a peer connected (redialed when lost)",
              swarm_peering_add, Kubo("swarm/peering/add", _kubo_peering_changes, each_arg=True,
                                      arg_doc="<multiaddr>/p2p/<peer-id>"), cli="swarm peering add",
              cli_text=lambda obj: f"add {obj['ID']} {obj['Status']}"),
    Operation("swarm_peering_ls", NoParams, PeeringList, R, "The peers kept connected", swarm_peering_ls,
              Kubo("swarm/peering/ls", lambda r, a: {"Peers": [{"ID": x.id, "Addrs": x.addrs} for x in r.peers]}),
              cli="swarm peering ls", cli_text=lambda obj: "\n".join(p["ID"] for p in obj.get("Peers") or [])),
    Operation("swarm_peering_rm", PeerIdParams, PeeringChange, W, "Stop keeping a peer connected", swarm_peering_rm,
              Kubo("swarm/peering/rm", _kubo_peering_changes, each_arg=True, arg_doc="peer ID"),
              cli="swarm peering rm", cli_text=lambda obj: f"remove {obj['ID']} {obj['Status']}"),
    # named ping_peer: "ping" is the /ws protocol's own keepalive action
    Operation("ping_peer", PingParams, ItemStream, W, "Ping a peer over /ipfs/ping/1.0.0 (streamed; it may dial it)",
              ping, Kubo("ping", _kubo_ping, arg_doc="peer ID or <multiaddr>/p2p/<peer-id>"), cli="ping",
              json_result=ping_json, cli_text=_ping_text),
    Operation("stats_bw", BwParams, Bandwidth, R, "libp2p bandwidth: totals and rates (all, one peer, one protocol)",
              stats_bw, Kubo("stats/bw", run=_kubo_stats_bw, options=(
                  ("poll", "boolean", "a line every interval, until the client goes away"),
                  ("interval", "string", "with poll: 1s (default), 500ms, 1m ..."))),
              cli="stats bw", cli_text=lambda o: (f"Bandwidth\nTotalIn: {o['TotalIn']} B\nTotalOut: {o['TotalOut']} B\n"
                                                  f"RateIn: {o['RateIn']:.1f} B/s\nRateOut: {o['RateOut']:.1f} B/s")),
    Operation("stats_bitswap", NoParams, BitswapStat, R, "Bitswap totals (as bitswap/stat)", stats_bitswap,
              Kubo("stats/bitswap", _kubo_bitswap, options=(("verbose", "boolean", "accepted"),
                                                            ("human", "boolean", "accepted"))),
              cli="stats bitswap"),
]
