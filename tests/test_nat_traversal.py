"""NAT traversal the way it happens in the world: two private networks behind two
NATs (iptables MASQUERADE) and a public segment with a relay node, built from
network namespaces and veth pairs by the test and torn down at the end
(tests/netns_world.py). The two NATed nodes cannot dial each other; they reach each
other through the relay (Circuit Relay v2), move content over the relayed
connection, then hole-punch (DCUtR) and continue over a direct connection.

Every address is private to the test (10.77.0.0/16, 192.168.7x.0/24), and no veth
end lives in the machine's own namespace, so nothing can leave the namespaces."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from netns_world import TAG, Node, build, leftover_namespaces, root_links, teardown, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

# hole punching as configured by default (auto: start it once AutoNAT says we are behind a NAT);
# the relayed connection is closed 1 s after the upgrade (default 10 s) so the test sees it go
OPTS = {"hole_punching": "auto", "relay_grace": 1.0}


@pytest.fixture
def nat_world() -> Iterator[dict[str, Node]]:
    before = root_links()
    nodes: dict[str, Node] = {}
    try:
        build()
        nodes["relay"] = Node("relay", "relay", "/ip4/10.77.1.1/tcp/4001,/ip4/10.77.2.1/tcp/4001", OPTS)
        nodes["a"] = Node("a", "peer", "/ip4/192.168.71.2/tcp/4001", OPTS)
        nodes["b"] = Node("b", "peer", "/ip4/192.168.72.2/tcp/4001", OPTS)
        yield nodes
    finally:
        for n in nodes.values():
            n.stop()
        teardown()
        after = root_links()
        assert TAG not in after and before.count("\n") == after.count("\n"), "the test left interfaces behind"
        assert not leftover_namespaces()


def wait_for(what: str, fn: Callable[[], dict], ok: Callable[[dict], bool], timeout: float = 20.0) -> dict:
    """Poll ``fn`` until ``ok`` holds (every node command answers within its own timeouts)."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if ok(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {got}")
        time.sleep(0.1)


def entries(node: Node, peer: str) -> list[dict]:
    """swarm/peers' entries (Kubo's shape, the server's operation) for ``peer``."""
    return sorted((p for p in node.cmd(op="swarm_peers")["Peers"] if p["Peer"] == peer), key=lambda p: p["Addr"])


def test_natted_nodes_go_through_the_relay_then_hole_punch_to_a_direct_connection(
        nat_world: dict[str, Node]) -> None:
    # nothing of the test world is in the machine's own namespace: no route out exists
    assert TAG not in root_links()
    relay, a, b = nat_world["relay"], nat_world["a"], nat_world["b"]
    relay_addr = f"/ip4/10.77.1.1/tcp/4001/p2p/{relay.id}"
    # behind NATs: B cannot dial A's private address, A cannot dial B's
    assert "error" in b.cmd(op="connect", addr=f"/ip4/192.168.71.2/tcp/4001/p2p/{a.id}", timeout=3)
    assert "error" in a.cmd(op="connect", addr=f"/ip4/192.168.72.2/tcp/4001/p2p/{b.id}", timeout=3)
    # the relay, on the public segment, learns from A (AutoNAT) that it is public
    assert a.cmd(op="connect", addr=relay_addr) == {}
    assert relay.cmd(op="autonat", server=a.id) == {"reachability": "public"}
    # A reserves a slot on the relay; the relay sees A from its NAT's outside address
    circuit = a.cmd(op="reserve", relay=relay_addr)
    assert "error" not in circuit, circuit
    assert circuit["addr"] == f"{relay_addr}/p2p-circuit/p2p/{a.id}"
    seen_by_relay = {c["peer"]: c for c in relay.cmd(op="conns")["conns"]}
    assert seen_by_relay[a.id]["addrs"][0].startswith("/ip4/10.77.1.2/tcp/")  # masqueraded

    # 1. relayed: B dials A through the relay (B reaches the relay on its own side, 10.77.2.1)
    via = f"/ip4/10.77.2.1/tcp/4001/p2p/{relay.id}/p2p-circuit/p2p/{a.id}"
    assert b.cmd(op="dial_via", addr=via) == {}
    (at_b,) = entries(b, a.id)
    assert at_b["Relayed"] is True and at_b["Addr"].endswith(f"/p2p/{relay.id}/p2p-circuit")
    assert at_b["Direction"] == 2  # outbound
    (at_a,) = entries(a, b.id)
    assert at_a["Relayed"] is True and at_a["Addr"].endswith("/p2p-circuit") and at_a["Direction"] == 1
    (relay_at_b,) = entries(b, relay.id)
    assert "Relayed" not in relay_at_b and relay_at_b["Addr"] == "/ip4/10.77.2.1/tcp/4001"
    # content moves over the relayed connection, intact
    want = a.cmd(op="serve", size=2 << 20)
    got = b.cmd(op="fetch", peer=a.id)
    assert got.get("size") == 2 << 20 and got["sha256"] == want["sha256"], got
    assert got["via"]["kind"] == "relayed" and "/p2p-circuit" in got["via"]["addr"]

    # 2. hole punch: A learns (AutoNAT) that it is behind a NAT, and being the side that
    # received the relayed connection it starts DCUtR: both dial from their listen port
    # 4001 at the other's NAT, which MASQUERADE maps port-preserving
    assert a.cmd(op="autonat", server=relay.id) == {"reachability": "private"}
    wait_for("a direct connection at B", lambda: {"e": entries(b, a.id)},
             lambda g: any("Relayed" not in e for e in g["e"]))
    # while the relayed connection lives out its grace, both are listed, each as what it is
    direct_at_b = wait_for("B's view", lambda: {"e": entries(b, a.id)},
                           lambda g: [e for e in g["e"] if "Relayed" not in e] != [])["e"]
    (d,) = [e for e in direct_at_b if "Relayed" not in e]
    assert d["Addr"] == "/ip4/10.77.1.2/tcp/4001"  # A's NAT, A's listen port: no relay in the path
    (d,) = [e for e in entries(a, b.id) if "Relayed" not in e]
    assert d["Addr"] == "/ip4/10.77.2.2/tcp/4001"

    # 3. direct: new streams take the direct connection; content moves over it, intact
    want = a.cmd(op="serve", size=4 << 20)
    got = b.cmd(op="fetch", peer=a.id)
    assert got.get("size") == 4 << 20 and got["sha256"] == want["sha256"], got
    assert got["via"] == {"kind": "direct", "addr": f"/ip4/10.77.1.2/tcp/4001/p2p/{a.id}"} or \
        got["via"] == {"kind": "direct", "addr": "/ip4/10.77.1.2/tcp/4001"}, got
    # the relayed connection is closed after its grace: only the direct one is left
    (only,) = wait_for("the relayed connection closed", lambda: {"e": entries(b, a.id)},
                       lambda g: len(g["e"]) == 1)["e"]
    assert only == {**only, "Addr": "/ip4/10.77.1.2/tcp/4001"} and "Relayed" not in only
    (only,) = wait_for("the relayed connection closed at A", lambda: {"e": entries(a, b.id)},
                       lambda g: len(g["e"]) == 1)["e"]
    assert only["Addr"] == "/ip4/10.77.2.2/tcp/4001" and "Relayed" not in only
    got = b.cmd(op="fetch", peer=a.id)
    assert got["sha256"] == want["sha256"] and got["via"]["kind"] == "direct"
