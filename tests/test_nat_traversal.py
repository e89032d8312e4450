"""NAT traversal the way it happens in the world: two private networks behind two
NATs (iptables MASQUERADE) and a public segment with a relay node, built from
network namespaces and veth pairs by the test and torn down at the end. The two
NATed nodes cannot dial each other; they reach each other through the relay
(Circuit Relay v2) and move content over the relayed connection.

Every address is private to the test (10.77.0.0/16, 192.168.7x.0/24), and no veth
end lives in the machine's own namespace, so nothing can leave the namespaces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TAG = f"ik{os.getpid() % 10000}"
NS = {n: f"{TAG}-{n}" for n in ("relay", "nata", "natb", "a", "b")}


def _ok() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not shutil.which("ip") or not shutil.which("iptables"):
        return "needs iproute2 and iptables"
    probe = f"{TAG}-probe"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "ip netns is unavailable"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


pytestmark = pytest.mark.skipif(_ok() is not None, reason=str(_ok()))


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=20)


def nsx(ns: str, *cmd: str) -> None:
    sh("ip", "netns", "exec", NS[ns], *cmd)


def build() -> None:
    for n in NS.values():
        sh("ip", "netns", "add", n)
    for n in NS:
        nsx(n, "ip", "link", "set", "lo", "up")
    # public segment: the relay routes between the two NATs' outside addresses
    for side, net in (("a", 1), ("b", 2)):
        sh("ip", "link", "add", f"{TAG}p{side}0", "netns", NS["relay"], "type", "veth",
           "peer", "name", f"{TAG}p{side}1", "netns", NS[f"nat{side}"])
        nsx("relay", "ip", "addr", "add", f"10.77.{net}.1/24", "dev", f"{TAG}p{side}0")
        nsx("relay", "ip", "link", "set", f"{TAG}p{side}0", "up")
        nsx(f"nat{side}", "ip", "addr", "add", f"10.77.{net}.2/24", "dev", f"{TAG}p{side}1")
        nsx(f"nat{side}", "ip", "link", "set", f"{TAG}p{side}1", "up")
        nsx(f"nat{side}", "ip", "route", "add", "default", "via", f"10.77.{net}.1")
        # private side
        sh("ip", "link", "add", f"{TAG}l{side}0", "netns", NS[f"nat{side}"], "type", "veth",
           "peer", "name", f"{TAG}l{side}1", "netns", NS[side])
        nsx(f"nat{side}", "ip", "addr", "add", f"192.168.7{net}.1/24", "dev", f"{TAG}l{side}0")
        nsx(f"nat{side}", "ip", "link", "set", f"{TAG}l{side}0", "up")
        nsx(side, "ip", "addr", "add", f"192.168.7{net}.2/24", "dev", f"{TAG}l{side}1")
        nsx(side, "ip", "link", "set", f"{TAG}l{side}1", "up")
        nsx(side, "ip", "route", "add", "default", "via", f"192.168.7{net}.1")
        nsx(f"nat{side}", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        nsx(f"nat{side}", "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", f"{TAG}p{side}1", "-j", "MASQUERADE")
        # a NAT: nothing from outside is let in unless it answers a connection from inside
        nsx(f"nat{side}", "iptables", "-A", "FORWARD", "-i", f"{TAG}p{side}1", "-m", "conntrack",
            "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
        nsx(f"nat{side}", "iptables", "-A", "FORWARD", "-i", f"{TAG}p{side}1", "-j", "DROP")
    nsx("relay", "sysctl", "-qw", "net.ipv4.ip_forward=1")


def teardown() -> None:
    for n in NS.values():
        subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=20)


class Node:
    def __init__(self, ns: str, role: str, listen: str) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS[ns], sys.executable, str(ROOT / "tests" / "netns_node.py"), role, listen],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        hello = self._line()
        self.id, self.addrs = hello["id"], hello["addrs"]

    def _line(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the node answers every command within its own timeouts
        if not line:
            raise AssertionError(f"node exited with {self.proc.wait(5)}")
        return json.loads(line)

    def cmd(self, **kw: object) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(kw) + "\n")
        self.proc.stdin.flush()
        return self._line()

    def stop(self) -> None:
        try:
            self.cmd(op="quit")
        except Exception:  # noqa: BLE001
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def nat_world() -> Iterator[dict[str, Node]]:
    before = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    nodes: dict[str, Node] = {}
    try:
        build()
        nodes["relay"] = Node("relay", "relay", "/ip4/10.77.1.1/tcp/4001,/ip4/10.77.2.1/tcp/4001")
        nodes["a"] = Node("a", "peer", "/ip4/192.168.71.2/tcp/4001")
        nodes["b"] = Node("b", "peer", "/ip4/192.168.72.2/tcp/4001")
        yield nodes
    finally:
        for n in nodes.values():
            n.stop()
        teardown()
        after = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert TAG not in after and before.count("\n") == after.count("\n"), "the test left interfaces behind"
        assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                    if n.startswith(TAG)]


def test_natted_nodes_reach_each_other_through_the_relay(nat_world: dict[str, Node]) -> None:
    # nothing of the test world is in the machine's own namespace: no route out exists
    root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert TAG not in root_links
    relay, a, b = nat_world["relay"], nat_world["a"], nat_world["b"]
    relay_addr = f"/ip4/10.77.1.1/tcp/4001/p2p/{relay.id}"
    # behind NATs: B cannot dial A's private address, A cannot dial B's
    assert "error" in b.cmd(op="connect", addr=f"/ip4/192.168.71.2/tcp/4001/p2p/{a.id}", timeout=3)
    assert "error" in a.cmd(op="connect", addr=f"/ip4/192.168.72.2/tcp/4001/p2p/{b.id}", timeout=3)
    # AutoNAT: A, behind its NAT, learns it is private; the relay, on the public segment, public
    assert a.cmd(op="connect", addr=relay_addr) == {}
    assert a.cmd(op="autonat", server=relay.id) == {"reachability": "private"}
    assert relay.cmd(op="autonat", server=a.id) == {"reachability": "public"}
    # A reserves a slot on the relay; the relay sees A from its NAT's outside address
    circuit = a.cmd(op="reserve", relay=relay_addr)
    assert "error" not in circuit, circuit
    assert circuit["addr"] == f"{relay_addr}/p2p-circuit/p2p/{a.id}"
    seen_by_relay = {c["peer"]: c for c in relay.cmd(op="conns")["conns"]}
    assert seen_by_relay[a.id]["addrs"][0].startswith("/ip4/10.77.1.2/tcp/")  # masqueraded
    # B dials A through the relay (B reaches the relay on its own side, 10.77.2.1)
    via = f"/ip4/10.77.2.1/tcp/4001/p2p/{relay.id}/p2p-circuit/p2p/{a.id}"
    assert b.cmd(op="dial_via", addr=via) == {}
    conns = {c["peer"]: c for c in b.cmd(op="conns")["conns"]}
    assert conns[a.id]["kind"] == "relayed" and "/p2p-circuit/" in conns[a.id]["addrs"][0]
    assert conns[relay.id]["kind"] == "direct" and conns[relay.id]["addrs"][0].startswith("/ip4/10.77.2.1/tcp/4001")
    # content moves over the relayed connection, intact
    want = a.cmd(op="serve", size=2 << 20)
    got = b.cmd(op="fetch", peer=a.id)
    assert got.get("size") == 2 << 20 and got["sha256"] == want["sha256"], got
