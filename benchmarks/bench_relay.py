"""Relayed vs direct libp2p on loopback: throughput of one stream, and the time to
open a connection each way (Circuit Relay v2 through a third in-process peer).

    .venv/bin/python benchmarks/bench_relay.py [--mib 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from ipfs_kit_py.p2p.peer import IPFSLibp2pPeer
from ipfs_kit_py.p2p.relay import Relay, RelayLimitSettings

PROTO = "/bench-relay/1.0.0"
CHUNK = 256 << 10


async def main(mib: int, rounds: int) -> None:
    relay = IPFSLibp2pPeer(role="master")
    Relay(relay, hop=True, limits=RelayLimitSettings(data=4 << 30, duration=3600))
    src = IPFSLibp2pPeer(role="worker")
    src_relay = Relay(src)
    dst_direct = IPFSLibp2pPeer(role="leecher")
    dst_relayed = IPFSLibp2pPeer(role="leecher")
    dst_relay = Relay(dst_relayed)
    block = bytes(range(256)) * (CHUNK // 256)

    async def serve(stream) -> None:  # noqa: ANN001
        for _ in range(mib * (1 << 20) // CHUNK):
            await stream.write(block)

    src.register_protocol_handler(PROTO, serve)
    async with relay, src, dst_direct, dst_relayed:
        t0 = time.perf_counter()
        await dst_direct.connect_to_peer(src.get_id(), src.get_addrs()[0])
        direct_connect = time.perf_counter() - t0
        circuit = await src_relay.reserve(relay.get_addrs()[0])
        t0 = time.perf_counter()
        await dst_relay.dial_via(circuit)
        relayed_connect = time.perf_counter() - t0

        async def rate(peer: IPFSLibp2pPeer) -> float:
            t = time.perf_counter()
            s = await peer.new_stream(src.get_id(), PROTO)
            n = 0
            while chunk := await s.read_some(1 << 20):
                n += len(chunk)
            assert n == mib << 20, n
            return n / (time.perf_counter() - t) / 1e6

        direct = [await rate(dst_direct) for _ in range(rounds)]
        relayed = [await rate(dst_relayed) for _ in range(rounds)]
    d, r = statistics.median(direct), statistics.median(relayed)
    print(f"stream of {mib} MiB, median of {rounds}")
    print("| path | MB/s | connect (ms) |\n|---|---|---|")
    print(f"| direct (TCP, Noise, yamux) | {d:.1f} | {direct_connect * 1000:.0f} |")
    print(f"| relayed (Circuit Relay v2, one hop) | {r:.1f} | {relayed_connect * 1000:.0f} |")
    print(f"relayed / direct: {r / d:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    asyncio.run(main(a.mib, a.rounds))
