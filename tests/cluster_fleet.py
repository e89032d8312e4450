"""A fleet for the IPFS Cluster test and benchmark: N of our nodes (separate server
processes and repos), each driven by its own real ``ipfs-cluster-service`` peer
through the ipfshttp connector (our Kubo-compatible /api/v0), CRDT consensus with a
secret generated per run. Everything listens on 127.0.0.1 only; cluster mDNS is off
and nothing bootstraps outside the fleet (a cluster secret also keeps strangers out).

``CLUSTER`` is (service, ctl) from ``$IPFS_KIT_CLUSTER`` (the two paths
scripts/cluster.sh prints, joined by ':') or the default cache; None: skip."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from conftest import ServerProcess, start_server


def _find() -> tuple[Path, Path] | None:
    env = os.environ.get("IPFS_KIT_CLUSTER", "")
    cands = [env.split(":", 1)] if ":" in env else []
    default = Path.home() / ".cache/ipfs-kit-cluster/1.1.6"
    cands.append([str(default / "ipfs-cluster-service"), str(default / "ipfs-cluster-ctl")])
    for service, ctl in cands:
        if all(Path(p).is_file() and os.access(p, os.X_OK) for p in (service, ctl)):
            return Path(service), Path(ctl)
    return None


CLUSTER = _find()


def blob(label: str, n: int) -> bytes:
    """``n`` deterministic bytes of their own for ``label`` (a SHA-256 counter stream)."""
    seed = label.encode()
    return b"".join(hashlib.sha256(seed + i.to_bytes(8, "big")).digest() for i in range((n + 31) // 32))[:n]


def free_port() -> int:
    """A port free now (another process may take it before ours binds it: a small race,
    taken because a cluster peer's addresses must be known before it starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def json_values(text: str) -> list[Any]:
    """The JSON values ``ipfs-cluster-ctl --enc json`` prints one after another (indented)."""
    dec, out, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        value, i = dec.raw_decode(text, i)
        out.append(value)


class ClusterPeer:
    """One ``ipfs-cluster-service`` beside one of our nodes."""

    def __init__(self, base: Path, index: int, node_port: int, secret: str) -> None:
        assert CLUSTER is not None
        self.service, self.ctl_bin = CLUSTER
        self.index = index
        self.dir = base / f"cluster{index}"
        env = {**os.environ, "CLUSTER_SECRET": secret}
        subprocess.run([str(self.service), "--config", str(self.dir), "init", "--consensus", "crdt",
                        "--datastore", "leveldb"], env=env, check=True, capture_output=True, timeout=60)
        self.peer_id: str = json.loads((self.dir / "identity.json").read_text())["id"]
        self.port = free_port()
        self.api_port = free_port()
        cfg = json.loads((self.dir / "service.json").read_text())
        c = cfg["cluster"]
        c["peername"] = f"node{index}"
        c["listen_multiaddress"] = [f"/ip4/127.0.0.1/tcp/{self.port}"]
        c["mdns_interval"] = "0s"  # no LAN discovery: the fleet knows its peers
        c["enable_relay_hop"] = False
        c["monitor_ping_interval"] = "2s"
        c["peer_watch_interval"] = "1s"
        c["connection_manager"]["grace_period"] = "1m0s"
        c["pubsub"]["heartbeat_interval"] = "1s"  # gossipsub meshes form on heartbeats: a small fleet converges fast
        cfg["api"] = {"restapi": {**cfg["api"]["restapi"],
                                  "http_listen_multiaddress": f"/ip4/127.0.0.1/tcp/{self.api_port}"}}
        conn = cfg["ipfs_connector"]["ipfshttp"]
        conn["node_multiaddress"] = f"/ip4/127.0.0.1/tcp/{node_port}"
        # once our node answers, the connector swarm-connects it to the other peers' daemons (once):
        # the cluster peers start first and find each other while our nodes boot
        conn["connect_swarms_delay"] = "2s"
        conn["pin_timeout"] = "1m0s"
        cfg["monitor"]["pubsubmon"]["check_interval"] = "2s"
        # CRDT heads are rebroadcast this often (default 1 min): a peer back from a restart
        # learns pins it missed at the next rebroadcast
        cfg["consensus"]["crdt"]["rebroadcast_interval"] = "2s"
        for informer in cfg["informer"].values():
            informer["metric_ttl"] = "10s"
        cfg["pin_tracker"]["stateless"]["priority_pin_max_age"] = "1h0m0s"
        cfg["observations"]["metrics"]["prometheus_endpoint"] = "/ip4/127.0.0.1/tcp/0"
        self.cfg = cfg
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = base / f"cluster{index}.log"

    @property
    def addr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.port}/p2p/{self.peer_id}"

    def start(self, peers: list[ClusterPeer]) -> None:
        self.cfg["cluster"]["peer_addresses"] = [p.addr for p in peers if p is not self]
        (self.dir / "service.json").write_text(json.dumps(self.cfg, indent=2))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(self.service), "--config", str(self.dir), "daemon"],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    def ctl(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        """``ipfs-cluster-ctl --enc json`` against this peer's REST API."""
        r = subprocess.run([str(self.ctl_bin), "--host", f"/ip4/127.0.0.1/tcp/{self.api_port}", "--enc", "json",
                            *args], capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"ipfs-cluster-ctl {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def rest(self, path: str, method: str = "GET", timeout: float = 30, **params: Any) -> httpx.Response:
        return httpx.request(method, f"http://127.0.0.1:{self.api_port}{path}", params=params, timeout=timeout)

    def alive(self) -> bool:
        try:
            return self.rest("/id", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Fleet:
    """``n`` nodes of ours, each with its cluster peer; start(), then stop() in a finally."""

    def __init__(self, base: Path, n: int = 3, node_env: dict[str, str] | None = None) -> None:
        self.base = base
        self.secret = secrets.token_hex(32)  # the cluster's pre-shared key, new every run
        self.node_env = node_env or {}
        self.nodes: list[ServerProcess] = []
        self.peers: list[ClusterPeer] = []
        self.n = n

    def start(self, timeout: float = 90) -> Fleet:
        """Our nodes side by side, then the cluster peers; returns when every cluster peer
        sees the whole fleet, every peer's freespace metric has spread, and the connectors
        have meshed our nodes. (A connector asks its node's ``id`` 10 times, a second apart,
        then gives up on it: a node that took longer to start on a loaded machine left its
        peer reporting no pins.)"""
        try:
            self.node_ports = [free_port() for _ in range(self.n)]
            self.peers = [ClusterPeer(self.base, i, port, self.secret) for i, port in enumerate(self.node_ports)]
            with ThreadPoolExecutor(self.n) as pool:
                futures = [pool.submit(self._start_node, i, timeout) for i in range(self.n)]
                errors = []
                for fut in futures:  # keep every node that started, so stop() ends them all
                    try:
                        self.nodes.append(fut.result())
                    except Exception as e:  # noqa: BLE001 - reported below, after the others are kept
                        errors.append(e)
            if errors:
                raise errors[0]
            for p in self.peers:
                p.start(self.peers)
            t = time.monotonic()
            self.wait_ready(range(self.n), timeout)
            self.converged_s = time.monotonic() - t
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, i: int, timeout: float) -> ServerProcess:
        return start_server(self.base / f"node{i}", port=self.node_ports[i], env=self.node_env, timeout=timeout)

    def wait_ready(self, indexes: Iterable[int], timeout: float = 90) -> None:
        for i in indexes:
            wait_until(self.peers[i].alive, timeout, f"cluster peer {i}'s REST API")
        wait_until(lambda: all(len(self.cluster_peers(p)) == self.n for p in self.peers), timeout,
                   "every cluster peer to see the whole fleet with its IPFS daemon")
        wait_until(lambda: all(len(json_values(p.ctl("health", "metrics", "freespace"))[0]) == self.n
                               for p in self.peers), timeout, "every peer's freespace metric to spread")
        ids = [self.rpc(i, "id").json()["ID"] for i in range(self.n)]
        for i in range(self.n):
            wait_until(lambda i=i: set(ids) - {ids[i]} <= self.swarm_peers(i), timeout,
                       f"the cluster to swarm-connect our node {i} to the others")

    def rpc(self, i: int, path: str, timeout: float = 60, **params: str) -> httpx.Response:
        return httpx.post(f"{self.nodes[i].url}/api/v0/{path}", params=params, timeout=timeout)

    def swarm_peers(self, i: int) -> set[str]:
        return {p["Peer"] for p in self.rpc(i, "swarm/peers").json()["Peers"]}

    def take_down(self, i: int) -> None:
        """Stop node ``i``: its cluster peer and our server (the repo stays)."""
        self.peers[i].stop()
        self.nodes[i].stop()

    def bring_back(self, i: int, timeout: float = 90) -> None:
        """Start node ``i`` again on its repo and port, then its cluster peer, as in start()."""
        self.nodes[i] = self._start_node(i, timeout)
        self.peers[i].start(self.peers)
        self.wait_ready([i], timeout)

    def cluster_peers(self, p: ClusterPeer) -> list[dict[str, Any]]:
        """Peers ``p`` knows whose IPFS daemon (our node) answered the connector's ``id``."""
        return [info for info in json_values(p.ctl("peers", "ls"))
                if not info.get("error") and not info.get("ipfs", {}).get("error") and info["ipfs"].get("id")]

    def status(self, cid: str, via: int = 0) -> dict[str, str]:
        """peer name -> status of ``cid`` on every peer, as ``ipfs-cluster-ctl status`` reports it."""
        values = json_values(self.peers[via].ctl("status", cid))
        if not values:
            return {}
        info = values[0]
        return {v["peername"]: v["status"] for v in info.get("peer_map", {}).values()}

    def wait_status(self, cid: str, want: str, timeout: float = 60, via: int = 0) -> dict[str, str]:
        def check() -> dict[str, str] | None:
            st = self.status(cid, via)
            return st if len(st) == self.n and set(st.values()) == {want} else None

        return wait_until(check, timeout, f"{cid} {want} on all {self.n} peers", interval=0.3)

    def stop(self) -> None:
        with ThreadPoolExecutor(2 * self.n) as pool:  # side by side: each may take seconds
            list(pool.map(lambda x: x.stop(), [*self.peers, *self.nodes]))
