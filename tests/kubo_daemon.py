"""A current Kubo daemon (the binary scripts/kubo.sh builds, or $IPFS_KIT_KUBO) for
interop tests, configured for loopback BEFORE it starts: no bootstrap, no mDNS,
no NAT mapping or relays, TCP only, DHT server (its LAN DHT is the one our nodes
speak on loopback). ``KUBO`` is None when the binary is absent: skip then."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from kubo_helper import configure


def _find() -> Path | None:
    for cand in (os.environ.get("IPFS_KIT_KUBO"), os.environ.get("IPFS_KIT_KUBO_BIN"),
                 str(Path.home() / ".cache/ipfs-kit-kubo/ipfs-0.43.1")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return Path(cand)
    return None


KUBO = _find()


class KuboDaemon:
    def __init__(self, repo: Path, config: dict[tuple[str, ...], Any] | None = None, timeout: float = 60) -> None:
        assert KUBO is not None
        self.repo = repo
        self.env = {**os.environ, "IPFS_PATH": str(repo)}
        subprocess.run([str(KUBO), "init", "--profile=test"], env=self.env, check=True, capture_output=True,
                       timeout=60)
        configure(repo)
        cfg = json.loads((repo / "config").read_text())
        cfg["Addresses"]["API"] = "/ip4/127.0.0.1/tcp/0"
        for path, value in (config or {}).items():
            d = cfg
            for k in path[:-1]:
                d = d.setdefault(k, {})
            d[path[-1]] = value
        (repo / "config").write_text(json.dumps(cfg, indent=2))
        self.log = open(repo.parent / f"{repo.name}-kubo.log", "wb")
        args = [str(KUBO), "daemon"]
        if cfg.get("Pubsub", {}).get("Enabled"):
            args.append("--enable-pubsub-experiment")
        self.proc = subprocess.Popen(args, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not (repo / "api").exists():
            assert self.proc.poll() is None, "kubo daemon exited"
            assert time.monotonic() < deadline, "kubo daemon did not start"
            time.sleep(0.1)
        api = (repo / "api").read_text().strip()  # /ip4/127.0.0.1/tcp/PORT
        self.api = f"http://127.0.0.1:{api.rsplit('/', 1)[1]}/api/v0"
        while True:
            try:
                r = httpx.post(f"{self.api}/id", timeout=5)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "kubo API did not answer"
            time.sleep(0.1)
        info = r.json()
        self.peer_id: str = info["ID"]
        self.addr = next(a for a in info["Addresses"] if a.startswith("/ip4/127.0.0.1/tcp/"))

    @property
    def full_addr(self) -> str:
        return self.addr if "/p2p/" in self.addr else f"{self.addr}/p2p/{self.peer_id}"

    def rpc(self, path: str, *, files: Any = None, timeout: float = 120, **params: Any) -> httpx.Response:
        return httpx.post(f"{self.api}/{path}", params=params, files=files, timeout=timeout)

    def ipfs(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert KUBO is not None
        return subprocess.run([str(KUBO), *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
