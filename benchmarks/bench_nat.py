"""Relayed vs direct libp2p between two nodes behind two NATs, and the time hole punching
(DCUtR) takes to turn the relayed connection into a direct one. The world is the one of
tests/test_nat_traversal.py (network namespaces, veth pairs, iptables MASQUERADE; needs
root; nothing leaves the namespaces): A behind NAT a, B behind NAT b, a relay between.

    sudo .venv/bin/python benchmarks/bench_nat.py [--mib 64] [--rounds 3] [--worlds 3]

Per world: A reserves a slot on the relay, B dials A through it (timed), B fetches --mib
MiB from A --rounds times over the relayed connection; then A learns from AutoNAT that it
is behind a NAT, which starts DCUtR (hole_punching=auto); timed from that verdict until B
holds a direct connection; then the same fetches over the direct connection. The direct
connection is the baseline of the relayed throughput (ratio in the same run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from netns_world import Node, build, leftover_namespaces, teardown, unavailable  # noqa: E402

OPTS = {"hole_punching": "auto", "relay_grace": 1.0}


def one_world(mib: int, rounds: int) -> dict[str, list[float] | float]:
    build()
    nodes: list[Node] = []
    try:
        relay = Node("relay", "relay", "/ip4/10.77.1.1/tcp/4001,/ip4/10.77.2.1/tcp/4001", OPTS)
        a = Node("a", "peer", "/ip4/192.168.71.2/tcp/4001", OPTS)
        b = Node("b", "peer", "/ip4/192.168.72.2/tcp/4001", OPTS)
        nodes = [relay, a, b]
        relay_addr = f"/ip4/10.77.1.1/tcp/4001/p2p/{relay.id}"
        assert "error" not in a.cmd(op="reserve", relay=relay_addr)
        assert b.cmd(op="connect", addr=f"/ip4/10.77.2.1/tcp/4001/p2p/{relay.id}") == {}
        t0 = time.perf_counter()
        assert b.cmd(op="dial_via", addr=f"/ip4/10.77.2.1/tcp/4001/p2p/{relay.id}/p2p-circuit/p2p/{a.id}") == {}
        relayed_dial = time.perf_counter() - t0
        want = a.cmd(op="serve", size=mib << 20)["sha256"]

        def fetch(kind: str) -> float:
            got = b.cmd(op="fetch", peer=a.id)
            assert got["sha256"] == want and got["via"]["kind"] == kind, got
            return (mib << 20) / got["seconds"] / 1e6

        relayed = [fetch("relayed") for _ in range(rounds)]
        assert a.cmd(op="autonat", server=relay.id) == {"reachability": "private"}
        t0 = time.perf_counter()
        deadline = t0 + 60
        while not any(c["peer"] == a.id and c["kind"] == "direct" for c in b.cmd(op="conns")["conns"]):
            assert time.perf_counter() < deadline, "no direct connection within 60 s"
            time.sleep(0.01)
        to_direct = time.perf_counter() - t0
        while b.id not in (done := a.cmd(op="upgraded")["upgraded"]):  # A returns after verifying it
            assert time.perf_counter() < deadline, "the initiator did not finish within 60 s"
            time.sleep(0.01)
        punch = done[b.id]  # the initiator's DCUtR exchange, dials included
        direct = [fetch("direct") for _ in range(rounds)]
        return {"relayed": relayed, "direct": direct, "to_direct": to_direct, "punch": punch,
                "relayed_dial": relayed_dial}
    finally:
        for n in nodes:
            n.stop()
        teardown()
        assert not leftover_namespaces()


def main(mib: int, rounds: int, worlds: int) -> None:
    why = unavailable()
    if why:
        sys.exit(f"bench_nat: {why}")
    runs = [one_world(mib, rounds) for _ in range(worlds)]
    relayed = statistics.median(x for r in runs for x in r["relayed"])  # type: ignore[union-attr]
    direct = statistics.median(x for r in runs for x in r["direct"])  # type: ignore[union-attr]
    to_direct = [float(r["to_direct"]) * 1000 for r in runs]  # type: ignore[arg-type]
    punch = [float(r["punch"]) * 1000 for r in runs]  # type: ignore[arg-type]
    dial = [float(r["relayed_dial"]) * 1000 for r in runs]  # type: ignore[arg-type]
    print(f"{worlds} NAT worlds, stream of {mib} MiB, median of {rounds * worlds} fetches each way")
    print("| path | MB/s |\n|---|---|")
    print(f"| direct after hole punching (TCP, Noise, yamux) | {direct:.1f} |")
    print(f"| relayed (Circuit Relay v2, one hop) | {relayed:.1f} |")
    print(f"relayed / direct: {relayed / direct:.2f}")
    print("| step | median ms | min-max ms |\n|---|---|---|")
    for name, xs in (("relayed dial (B through the relay to A)", dial),
                     ("AutoNAT verdict -> direct connection at B", to_direct),
                     ("DCUtR at the initiator (stream, CONNECT/SYNC, dials)", punch)):
        print(f"| {name} | {statistics.median(xs):.0f} | {min(xs):.0f}-{max(xs):.0f} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--worlds", type=int, default=3)
    x = ap.parse_args()
    main(x.mib, x.rounds, x.worlds)
