"""Two private networks behind two NATs (iptables MASQUERADE) and a public segment with a
relay, built from network namespaces and veth pairs, for tests/test_nat_traversal.py and
benchmarks/bench_nat.py (root only).

    relay ns: 10.77.1.1 (towards nata), 10.77.2.1 (towards natb), routes between them
    nata ns:  10.77.1.2 outside, 192.168.71.1 inside, MASQUERADE  ->  a ns: 192.168.71.2
    natb ns:  10.77.2.2 outside, 192.168.72.1 inside, MASQUERADE  ->  b ns: 192.168.72.2

Every address is private to the world, and no veth end lives in the machine's own
namespace, so nothing can leave the namespaces. Each NAT lets in only what answers a
connection from inside, and drops (never answers) the rest, as a home router does.
:class:`Node` runs tests/netns_node.py in a namespace and speaks its JSON lines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
TAG = f"ik{os.getpid() % 10000}"
NS = {n: f"{TAG}-{n}" for n in ("relay", "nata", "natb", "a", "b")}


def unavailable() -> str | None:
    """Why the world cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not shutil.which("ip") or not shutil.which("iptables"):
        return "needs iproute2 and iptables"
    probe = f"{TAG}-probe"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "ip netns is unavailable"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


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
        # a NAT: nothing from outside is let in unless it answers a connection from inside ...
        nsx(f"nat{side}", "iptables", "-A", "FORWARD", "-i", f"{TAG}p{side}1", "-m", "conntrack",
            "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
        nsx(f"nat{side}", "iptables", "-A", "FORWARD", "-i", f"{TAG}p{side}1", "-j", "DROP")
        # ... and the NAT box itself drops what nobody asked for, as a home router does (a
        # RST for an unsolicited SYN would abort the other side's hole-punching dial)
        nsx(f"nat{side}", "iptables", "-A", "INPUT", "-i", f"{TAG}p{side}1", "-m", "conntrack",
            "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
        nsx(f"nat{side}", "iptables", "-A", "INPUT", "-i", f"{TAG}p{side}1", "-j", "DROP")
    nsx("relay", "sysctl", "-qw", "net.ipv4.ip_forward=1")


def teardown() -> None:
    for n in NS.values():
        subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=20)


def root_links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def leftover_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [n for n in out.split() if n.startswith(TAG)]


class Node:
    """tests/netns_node.py in namespace ``ns`` (``opts``: its OPTIONS)."""

    def __init__(self, ns: str, role: str, listen: str, opts: dict[str, Any] | None = None,
                 stderr: IO[str] | int = subprocess.DEVNULL) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS[ns], sys.executable, str(ROOT / "tests" / "netns_node.py"), role, listen,
             json.dumps(opts or {})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT,
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
