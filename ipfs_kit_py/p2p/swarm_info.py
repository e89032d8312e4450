"""What Kubo's ``swarm`` commands report about the libp2p host: connections with
their direction, streams and latency, what identify told us of each peer, the
addresses the peerstore knows, and closing connections. The functions whose
names start with ``t_`` run in the libp2p (trio) thread, through the peer's bridge.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from libp2p.peer.id import ID
from libp2p.peer.peerstore import PeerStoreError

from .relay import connection_kind

# py-libp2p's Direction (UNKNOWN=-1, INBOUND=0, OUTBOUND=1) -> go-libp2p's network.Direction
DIRECTIONS = {-1: 0, 0: 1, 1: 2}


@dataclass(frozen=True, slots=True)
class ConnInfo:
    peer: str
    addr: str  # the remote transport address
    kind: str  # direct, relayed
    direction: int  # 0 unknown, 1 inbound, 2 outbound (go-libp2p's numbers)
    latency: float  # seconds (the peerstore's moving average), 0: not measured
    streams: list[str] = field(default_factory=list)  # protocols of the open streams, sorted
    identify: dict[str, Any] = field(default_factory=dict)  # ID, PublicKey, Addresses, AgentVersion, Protocols


def _identify(host: Any, pid: Any) -> dict[str, Any]:
    ps = host.get_peerstore()
    out: dict[str, Any] = {"ID": pid.to_base58(), "PublicKey": "", "Addresses": None, "AgentVersion": "",
                           "Protocols": None}
    try:
        out["PublicKey"] = base64.b64encode(ps.pubkey(pid).serialize()).decode()
    except Exception:  # noqa: BLE001 - no key known
        pass
    try:
        addrs = sorted(f"{a}/p2p/{pid.to_base58()}" if "/p2p/" not in str(a) else str(a) for a in ps.addrs(pid))
        out["Addresses"] = addrs or None
    except Exception:  # noqa: BLE001
        pass
    try:
        out["AgentVersion"] = str(ps.get(pid, "AgentVersion"))
    except Exception:  # noqa: BLE001 - py-libp2p does not keep it from identify
        pass
    try:
        out["Protocols"] = sorted(str(p) for p in ps.get_protocols(pid)) or None
    except Exception:  # noqa: BLE001
        pass
    return out


async def t_connections(peer: Any, identify: bool) -> list[ConnInfo]:
    """Every open connection (several per peer possible)."""
    host = peer.host
    if host is None:
        return []
    ps = host.get_peerstore()
    out = []
    for pid, conns in list(host.get_network().connections.items()):
        for conn in conns if isinstance(conns, list) else [conns]:
            try:
                addrs = [str(a) for a in conn.get_transport_addresses()]
            except Exception:  # noqa: BLE001
                addrs = []
            streams = []
            for s in list(getattr(conn, "streams", ()) or ()):
                try:
                    streams.append(str(s.get_protocol() or ""))
                except Exception:  # noqa: BLE001
                    streams.append("")
            try:
                latency = float(ps.latency_EWMA(pid))
            except Exception:  # noqa: BLE001
                latency = 0.0
            direction = DIRECTIONS.get(int(getattr(conn, "direction", -1)), 0)
            addr = addrs[0] if addrs else ""
            own = f"/p2p/{pid.to_base58()}"
            if addr.endswith(own):  # Kubo's Addr leaves the peer's own ID out (a relay's stays)
                addr = addr[: -len(own)]
            out.append(ConnInfo(pid.to_base58(), addr,
                                connection_kind(conn), direction, latency, sorted(streams),
                                _identify(host, pid) if identify else {}))
    return out


async def t_peer_addrs(peer: Any) -> dict[str, list[str]]:
    """The peerstore's addresses of every peer it has some for (this node's too)."""
    host = peer.host
    if host is None:
        return {}
    ps = host.get_peerstore()
    out: dict[str, list[str]] = {}
    for pid in ps.peers_with_addrs():
        addrs = sorted({str(a).split("/p2p/")[0] for a in ps.addrs(pid)})
        if addrs:
            out[pid.to_base58()] = addrs
    me = host.get_id()
    mine = sorted({str(a).split("/p2p/")[0] for a in host.get_addrs()})
    if mine:
        out[me.to_base58()] = mine
    return out


async def t_disconnect(peer: Any, pid: str, addr: str | None) -> str:
    """Close the connections to ``pid`` (only those at transport ``addr`` when given);
    Kubo's outcome text: "success", "not connected" or "conn not found"."""
    host = peer.host
    if host is None:
        return "not connected"
    net = host.get_network()
    conns = net.connections.get(ID.from_base58(pid))
    conns = conns if isinstance(conns, list) else [conns] if conns else []
    if not conns:
        return "not connected"
    if addr is not None:
        matching = []
        for c in conns:
            try:
                if any(str(a).split("/p2p/")[0] == addr for a in c.get_transport_addresses()):
                    matching.append(c)
            except Exception:  # noqa: BLE001
                pass
        if not matching:
            return "conn not found"
        for c in matching:
            await c.close()
        return "success"
    await host.disconnect(ID.from_base58(pid))
    return "success"


async def t_record_latency(peer: Any, pid: str, seconds: float) -> None:
    host = peer.host
    if host is not None:
        host.get_peerstore().record_latency(ID.from_base58(pid), seconds)


async def t_has_addrs(peer: Any, pid: str) -> bool:
    host = peer.host
    if host is None:
        return False
    try:
        return bool(host.get_peerstore().addrs(ID.from_base58(pid)))
    except PeerStoreError:  # py-libp2p's answer for a peer it never heard of
        return False
