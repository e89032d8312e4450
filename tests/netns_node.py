"""A libp2p node for tests/test_nat_traversal.py, run inside a network namespace
(``ip netns exec NS python tests/netns_node.py ROLE LISTEN``). It prints one JSON
line per command it reads from stdin (one JSON object a line):
``{"op": "reserve", "relay": ADDR}``, ``{"op": "dial_via", "addr": CIRCUIT}``,
``{"op": "connect", "addr": A}``, ``{"op": "autonat", "server": ID}``, ``{"op": "serve", "size": N}`` (serve N test bytes
on /reach-test/1.0.0), ``{"op": "fetch", "peer": ID}``, ``{"op": "conns"}``, ``{"op": "quit"}``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time

from ipfs_kit_py.p2p.autonat import AutoNAT
from ipfs_kit_py.p2p.peer import IPFSLibp2pPeer
from ipfs_kit_py.p2p.relay import Relay, peer_connections

PROTO = "/reach-test/1.0.0"


async def main() -> None:
    role, listen = sys.argv[1], sys.argv[2]
    peer = IPFSLibp2pPeer(role="master" if role == "relay" else "worker", listen_addrs=listen.split(","))
    relay = Relay(peer, hop=role == "relay")
    autonat = AutoNAT(peer, serve=True)
    await peer.start()
    payload = b""

    async def serve(stream) -> None:  # noqa: ANN001
        await stream.write(payload)

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
                data = await s.read()
                res = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "seconds": time.perf_counter() - t0}
            elif op == "autonat":
                res = {"reachability": await autonat.check([cmd["server"]])}
            elif op == "conns":
                res = {"conns": await peer.bridge.call(_conns, peer)}
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
