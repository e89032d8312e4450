"""Shared fixtures: a real server process on 127.0.0.1 with its own repo, and the same server's
app in this process (tests/inproc.py) for HTTP tests where a socket adds nothing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from inproc import InProcessServer

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT.parent / "shared" / "vectors" / "cids.json"
SEED = b"ipfs-cid-oracle-v1"

# Every test stays on loopback: ICE gathers only 127.0.0.1, libp2p listens on
# loopback with no bootstrap peers and no mDNS.
LOOPBACK_ENV = {
    "IPFS_KIT_WEBRTC_ICE_HOSTS": "127.0.0.1",
    "IPFS_KIT_LIBP2P_LISTEN_ADDRS": "/ip4/127.0.0.1/tcp/0",
    "IPFS_KIT_LIBP2P_BOOTSTRAP_PEERS": "",
    "IPFS_KIT_LIBP2P_MDNS": "false",
}
os.environ.update(LOOPBACK_ENV)


def stream_bytes(n: int) -> bytes:
    """The vectors' generator: SHA-256 counter-mode stream, first n bytes."""
    return b"".join(hashlib.sha256(SEED + i.to_bytes(8, "big")).digest() for i in range((n + 31) // 32))[:n]


@dataclass
class ServerProcess:
    url: str
    repo: Path
    proc: subprocess.Popen
    log: Path

    @property
    def host_port(self) -> str:
        return self.url.split("://", 1)[1]

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start_server(repo: Path, *, port: int = 0, env: dict[str, str] | None = None,
                 args: list[str] | None = None, timeout: float = 90) -> ServerProcess:
    """Start ``python -m ipfs_kit_py.mcp.server`` on 127.0.0.1 and wait until it answers (a start
    takes 3-4 s of CPU; the bound is generous for parallel workers on a loaded machine)."""
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "api").unlink(missing_ok=True)
    log = repo.parent / f"{repo.name}-server.log"
    full_env = {**os.environ, **LOOPBACK_ENV, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipfs_kit_py.mcp.server", "--host", "127.0.0.1", "--port", str(port),
         "--repo", str(repo), *(args or [])],
        stdout=open(log, "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env, cwd=ROOT,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        api = repo / "api"
        if api.exists() and api.read_text().strip():
            url = api.read_text().strip()
            try:
                if httpx.post(f"{url}/api/v0/version", timeout=2).status_code == 200:
                    return ServerProcess(url, repo, proc, log)
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start within {timeout}s:\n{log.read_text()[-4000:]}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path / "repo")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for a whole test module (faster when tests do not need isolation)."""
    srv = start_server(tmp_path_factory.mktemp("shared") / "repo")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[InProcessServer]:
    """The server's app in this process over its own repo (libp2p off), reached through httpx's
    ASGI transport as a loopback client: ``app_server.client.post("/api/v0/...")``."""
    from inproc import inprocess  # imported on use: it imports the whole server

    yield from inprocess(tmp_path / "repo")


@pytest.fixture(scope="module")
def shared_app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """One in-process app for a whole test module."""
    from inproc import inprocess

    yield from inprocess(tmp_path_factory.mktemp("shared-app") / "repo")
