"""A libp2p node for tests/test_nat_traversal.py and benchmarks/bench_nat.py, run inside a
network namespace (``ip netns exec NS python tests/netns_node.py ROLE LISTEN [OPTIONS]``,
OPTIONS a JSON object: ``hole_punching`` (auto|always|off), ``relay_grace`` seconds,
``debug``). It prints one JSON line per command it reads from stdin (one JSON object a
line): ``{"op": "reserve", "relay": ADDR}``, ``{"op": "dial_via", "addr": CIRCUIT}``,
``{"op": "connect", "addr": A}``, ``{"op": "autonat", "server": ID}``,
``{"op": "serve", "size": N}`` (serve N test bytes on /reach-test/1.0.0),
``{"op": "fetch", "peer": ID}`` (also says over which connection the stream went),
``{"op": "holepunch", "peer": ID}``, ``{"op": "upgraded"}``, ``{"op": "conns"}``, ``{"op": "swarm_peers"}``
(Kubo's swarm/peers answer, through the server's own operation), ``{"op": "quit"}``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
import time
from typing import Any

from ipfs_kit_py.ops.swarm import PeersParams, _kubo_swarm_peers, swarm_peers
from ipfs_kit_py.p2p.autonat import AutoNAT
from ipfs_kit_py.p2p.dcutr import DCUtR
from ipfs_kit_py.p2p.peer import IPFSLibp2pPeer
from ipfs_kit_py.p2p.relay import Relay, RelayLimitSettings, connection_kind, peer_connections

PROTO = "/reach-test/1.0.0"
CHUNK = 256 << 10


class _Ctx:
    """What the swarm/peers operation asks of its context: the libp2p service's peer."""

    def __init__(self, peer: IPFSLibp2pPeer) -> None:
        self.peer = peer

    def service(self, name: str) -> _Ctx:
        return self


async def main() -> None:
    role, listen = sys.argv[1], sys.argv[2]
    opts: dict[str, Any] = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    if opts.get("debug"):
        logging.basicConfig(level=logging.INFO)
        logging.getLogger("libp2p.relay.circuit_v2.dcutr").setLevel(logging.DEBUG)
    peer = IPFSLibp2pPeer(role="master" if role == "relay" else "worker", listen_addrs=listen.split(","))
    relay = Relay(peer, hop=role == "relay", limits=RelayLimitSettings(data=4 << 30, duration=600))
    autonat = AutoNAT(peer, serve=True)
    dcutr = DCUtR(peer, mode=opts.get("hole_punching", "auto"), reachability=lambda: autonat.reachability,
                  relay_grace=opts.get("relay_grace", 10.0))
    autonat.on_change.append(lambda _verdict: dcutr.reachability_changed())
    await peer.start()
    payload = b""

    async def serve(stream) -> None:  # noqa: ANN001
        view = memoryview(payload)
        for i in range(0, len(view), CHUNK):
            await stream.write(view[i:i + CHUNK])

    peer.register_protocol_handler(PROTO, serve)
    out = {"id": peer.get_id(), "addrs": peer.get_addrs()}
    print(json.dumps(out), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd = json.loads(line)
        try:
            op = cmd["op"]
            if op == "quit":
                break
            if op == "reserve":
                res: dict = {"addr": await relay.reserve(cmd["relay"])}
            elif op == "dial_via":
                await relay.dial_via(cmd["addr"])
                res = {}
            elif op == "connect":
                await peer.connect_to_peer(None, cmd["addr"], timeout=cmd.get("timeout", 5))
                res = {}
            elif op == "serve":
                payload = (hashlib.sha256(b"reach").digest() * (cmd["size"] // 32 + 1))[: cmd["size"]]
                res = {"sha256": hashlib.sha256(payload).hexdigest()}
            elif op == "fetch":
                t0 = time.perf_counter()
                s = await peer.new_stream(cmd["peer"], PROTO)
                conn = s.raw.swarm_conn  # the connection the swarm chose for this stream
                via = {"kind": connection_kind(conn), "addr": str(conn.get_transport_addresses()[0])}
                h, n = hashlib.sha256(), 0
                while chunk := await s.read_some(1 << 20):
                    h.update(chunk)
                    n += len(chunk)
                res = {"size": n, "sha256": h.hexdigest(), "seconds": time.perf_counter() - t0, "via": via}
            elif op == "holepunch":
                res = {"seconds": await dcutr.upgrade(cmd["peer"])}
            elif op == "upgraded":  # seconds each successful hole punch took, by peer
                res = {"upgraded": dict(dcutr.upgraded)}
            elif op == "autonat":
                res = {"reachability": await autonat.check([cmd["server"]])}
            elif op == "conns":
                res = {"conns": await peer.bridge.call(_conns, peer)}
            elif op == "swarm_peers":
                r = await swarm_peers(_Ctx(peer), PeersParams(direction=True))  # type: ignore[arg-type]
                res = _kubo_swarm_peers(r, None)  # type: ignore[arg-type]
            else:
                res = {"error": f"unknown op {op}"}
        except Exception as e:  # noqa: BLE001 - reported to the test
            res = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(res), flush=True)
    await peer.stop()


async def _conns(peer: IPFSLibp2pPeer) -> list:
    return peer_connections(peer)


if __name__ == "__main__":
    asyncio.run(main())
