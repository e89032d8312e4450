"""A current Kubo daemon (v0.43.1, the binary the lead builds) as a source: our node,
connected to it, reads what Kubo added with the ordinary verbs. Skipped when the
binary is absent. Kubo is configured for loopback before it starts."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import start_server, stream_bytes
from kubo_helper import configure

KUBO = Path(os.environ.get("IPFS_KIT_KUBO_BIN", "/root/.cache/ipfs-kit-kubo/ipfs-0.43.1"))
pytestmark = pytest.mark.skipif(not KUBO.exists(), reason=f"Kubo binary not found at {KUBO}")


class KuboDaemon:
    def __init__(self, repo: Path, *, gateway: bool = False) -> None:
        self.env = {**os.environ, "IPFS_PATH": str(repo)}
        subprocess.run([str(KUBO), "init", "--profile=test"], env=self.env, check=True, capture_output=True,
                       timeout=60)
        configure(repo)  # loopback only, no bootstrap, no mDNS, no NAT mapping, DHT server
        cfg = json.loads((repo / "config").read_text())
        cfg["Addresses"]["API"] = "/ip4/127.0.0.1/tcp/0"
        if gateway:  # its gateway also serves the delegated routing API (/routing/v1)
            cfg["Addresses"]["Gateway"] = "/ip4/127.0.0.1/tcp/0"
            cfg.setdefault("Gateway", {})["ExposeRoutingAPI"] = True
        (repo / "config").write_text(json.dumps(cfg, indent=2))
        self.log = open(repo.parent / "kubo-daemon.log", "wb")
        self.proc = subprocess.Popen([str(KUBO), "daemon"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not (repo / "api").exists():
            assert self.proc.poll() is None, "kubo daemon exited"
            assert time.monotonic() < deadline, "kubo daemon did not start"
            time.sleep(0.1)
        while True:
            ident = self.ipfs("id")
            if ident.returncode == 0:
                break
            assert time.monotonic() < deadline, ident.stderr
            time.sleep(0.1)
        info = json.loads(ident.stdout)
        self.gateway = (repo / "gateway").read_text().strip() if gateway else ""
        self.peer_id = info["ID"]
        self.addr = next(a for a in info["Addresses"] if a.startswith("/ip4/127.0.0.1/tcp/"))

    def ipfs(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(KUBO), *args], env=self.env, capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


@pytest.fixture
def kubo(tmp_path: Path) -> Iterator[KuboDaemon]:
    k = KuboDaemon(tmp_path / "kubo")
    try:
        yield k
    finally:
        k.stop()


def test_we_read_what_kubo_043_added(kubo: KuboDaemon, tmp_path: Path) -> None:
    data = stream_bytes(5_000_000) + b"from kubo 0.43"
    f = tmp_path / "k.bin"
    f.write_bytes(data)
    cid = kubo.ipfs("add", "-Q", "--cid-version=1", str(f)).stdout.strip()
    assert cid.startswith("bafy")
    ours = start_server(tmp_path / "ours")
    try:
        api = f"{ours.url}/api/v0"
        assert httpx.post(f"{api}/cat", params={"arg": cid, "offline": "true"}, timeout=30).status_code == 404
        r = httpx.post(f"{api}/swarm/connect", params={"arg": f"{kubo.addr}/p2p/{kubo.peer_id}"}, timeout=30)
        assert r.status_code == 200, r.text
        assert httpx.post(f"{api}/cat", params={"arg": cid}, timeout=60).content == data
        mid = len(data) // 2
        r = httpx.get(f"{ours.url}/ipfs/{cid}", headers={"Range": f"bytes={mid}-{mid + 99}"}, timeout=60)
        assert r.status_code == 206 and r.content == data[mid:mid + 100]
        r = httpx.post(f"{api}/pin/add", params={"arg": cid}, timeout=60)
        assert r.json() == {"Pins": [cid]}
    finally:
        ours.stop()


def test_kubo_043_fetches_what_we_provide_found_on_the_dht(kubo: KuboDaemon, tmp_path: Path) -> None:
    """Kubo knows only C (ours, without the content); A (ours) announced the content on the
    DHT through C. Kubo's ordinary `ipfs cat` finds A as a provider, dials it, and fetches
    over bitswap. Our bitswap/stat and bitswap/ledger answer with Kubo's own keys."""
    data = stream_bytes(3_000_000) + b"for kubo"
    c = start_server(tmp_path / "c")
    a = start_server(tmp_path / "a")
    try:
        def rpc(srv: Any, path: str, **params: str) -> httpx.Response:
            return httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=60)

        def addr(srv: Any) -> str:
            info = rpc(srv, "id").json()
            return next(x for x in info["Addresses"] if "/127.0.0.1/" in x)

        a_id, c_id = rpc(a, "id").json()["ID"], rpc(c, "id").json()["ID"]
        assert rpc(a, "swarm/connect", arg=addr(c)).status_code == 200
        cid = httpx.post(f"{a.url}/api/v0/add", files={"file": ("f", data)}, timeout=60).json()["Hash"]
        # A's pin was provided to the DHT, whose only other member is C
        deadline = time.monotonic() + 30
        while a_id not in rpc(c, "routing/findprovs", arg=cid).text:
            assert time.monotonic() < deadline, "C never learnt that A provides the content"
            time.sleep(0.2)
        assert kubo.ipfs("swarm", "connect", addr(c)).returncode == 0
        # Kubo was never told about A: its DHT lookup of the CID (through C) names A
        found = kubo.ipfs("routing", "findprovs", "--num-providers=1", cid)
        assert found.returncode == 0 and a_id in found.stdout.split(), found.stderr
        got = subprocess.run([str(KUBO), "cat", cid], env=kubo.env, capture_output=True, timeout=120)
        assert got.returncode == 0, got.stderr
        assert got.stdout == data
        assert a_id in kubo.ipfs("swarm", "peers").stdout
        assert rpc(c, "bitswap/ledger", arg=kubo.peer_id).json()["Sent"] == 0  # C had nothing to give
        ours = rpc(a, "bitswap/ledger", arg=kubo.peer_id).json()
        assert ours["Sent"] >= len(data)
        # the same keys as Kubo's own answers
        kubo_stat = json.loads(kubo.ipfs("bitswap", "stat", "--enc=json").stdout)
        assert set(rpc(a, "bitswap/stat").json()) == set(kubo_stat)
        kubo_ledger = json.loads(kubo.ipfs("bitswap", "ledger", a_id, "--enc=json").stdout)
        assert set(ours) == set(kubo_ledger) and kubo_ledger["Recv"] >= len(data)
        assert c_id != a_id
    finally:
        a.stop()
        c.stop()


def test_delegated_router_kubo_043_finds_our_provider(tmp_path: Path) -> None:
    """B (ours) has no peer and no DHT neighbour; its retrieval.routers is Kubo's /routing/v1,
    whose DHT knows that A (ours) provides the content: B dials A and fetches over bitswap."""
    data = stream_bytes(1_500_000) + b"routed"
    kubo = KuboDaemon(tmp_path / "kubo", gateway=True)
    a = start_server(tmp_path / "a")
    b = start_server(tmp_path / "b", env={"IPFS_KIT_RETRIEVAL_ROUTERS": kubo.gateway,
                                          "IPFS_KIT_RETRIEVAL_PROVIDER_SEARCH_DELAY": "0.2"})
    try:
        a_info = httpx.post(f"{a.url}/api/v0/id", timeout=30).json()
        a_addr = next(x for x in a_info["Addresses"] if "/127.0.0.1/" in x)
        assert kubo.ipfs("swarm", "connect", a_addr).returncode == 0
        cid = httpx.post(f"{a.url}/api/v0/add", files={"file": ("f", data)}, timeout=60).json()["Hash"]
        deadline = time.monotonic() + 30
        while a_info["ID"] not in httpx.get(f"{kubo.gateway}/routing/v1/providers/{cid}", timeout=30).text:
            assert time.monotonic() < deadline, "Kubo's router never learnt that A provides the content"
            time.sleep(0.3)
        assert httpx.post(f"{b.url}/api/v0/swarm/peers", timeout=30).json()["Peers"] == []
        r = httpx.post(f"{b.url}/api/v0/cat", params={"arg": cid}, timeout=60)
        assert r.status_code == 200 and r.content == data
        led = httpx.post(f"{b.url}/api/v0/bitswap/ledger", params={"arg": a_info["ID"]}, timeout=30).json()
        assert led["Recv"] >= len(data)
    finally:
        b.stop()
        a.stop()
        kubo.stop()
