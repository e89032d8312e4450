"""``ipfs-kit routing ...`` and ``ipfs-kit dht ...`` (Kubo's legacy names) as a user runs
them: subprocesses against two real servers on loopback (B bootstraps to A), printing
what Kubo's CLI prints; and ``provide stat``, ``routing reprovide``."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, ServerProcess, start_server, stream_bytes

FAST = {"IPFS_KIT_ROUTING_TIMEOUT": "10"}


def api(srv: ServerProcess, path: str, **params: str) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=60)


def wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def process(srv: ServerProcess | Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """The CLI as a user runs it: a process of its own."""
    repo = srv.repo if isinstance(srv, ServerProcess) else srv
    return subprocess.run([sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(repo), *args], input=input,
                          capture_output=True, cwd=ROOT, timeout=90)


class InProcess:
    """The same entry point (``cli.main``) in this process: the registry is imported once, so the
    many small calls below cost milliseconds instead of a loaded machine's seconds per process.
    Output is captured at the file descriptors (``routing get`` writes bytes to stdout's buffer)."""

    def __init__(self, capfd: pytest.CaptureFixture[bytes]) -> None:
        self.capfd = capfd

    def __call__(self, srv: ServerProcess, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        from ipfs_kit_py.cli import main

        self.capfd.readouterr()
        stdin = sys.stdin
        if input is not None:
            sys.stdin = io.TextIOWrapper(io.BytesIO(input))
        try:
            rc = main(["--repo", str(srv.repo), *args])
        finally:
            sys.stdin = stdin
        sys.stdout.flush()
        out, err = self.capfd.readouterr()
        return subprocess.CompletedProcess(list(args), rc, out, err)


@pytest.fixture
def cli(capfdbinary: pytest.CaptureFixture[bytes]) -> InProcess:
    return InProcess(capfdbinary)


def ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, (p.args, p.returncode, p.stderr.decode())
    return p.stdout.decode()


@dataclass
class Pair:
    a: ServerProcess
    b: ServerProcess
    a_id: str
    b_id: str
    a_key: bytes  # A's public key (libp2p protobuf)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("cli-routing")
    a = start_server(tmp / "a", env=FAST)
    b = None
    try:
        info_a = api(a, "id").json()
        b = start_server(tmp / "b", env={**FAST, "IPFS_KIT_LIBP2P_BOOTSTRAP_PEERS": info_a["Addresses"][0]})
        b_id = api(b, "id").json()["ID"]
        wait_for(lambda: info_a["ID"] in [p["Peer"] for p in api(b, "swarm/peers").json()["Peers"]])
        yield Pair(a, b, info_a["ID"], b_id, base64.b64decode(info_a["PublicKey"]))
    finally:
        if b is not None:
            b.stop()
        a.stop()


def test_findprovs_and_findpeer(pair: Pair, cli: InProcess) -> None:
    r = httpx.post(f"{pair.a.url}/api/v0/add", files={"file": ("f", stream_bytes(100_000) + b"cli routing")},
                   timeout=60)
    cid = r.json()["Hash"]
    wait_for(lambda: pair.a_id in api(pair.b, "routing/findprovs", arg=cid).text)  # A's record reached B
    # Kubo's text: one provider ID a line; -v adds "provider: " and the addresses
    assert ok(process(pair.b, "routing", "findprovs", cid)) == f"{pair.a_id}\n"
    assert ok(cli(pair.b, "dht", "findprovs", "--num-providers", "1", cid)) == f"{pair.a_id}\n"
    lines = ok(cli(pair.b, "routing", "findprovs", "-n", "1", "-v", cid)).splitlines()
    assert lines[0] == f"provider: {pair.a_id}" and lines[1].startswith("\t/ip4/127.0.0.1/tcp/"), lines
    # findpeer: the peer's addresses, one a line
    addrs = ok(cli(pair.b, "routing", "findpeer", pair.a_id)).splitlines()
    assert addrs and all(x.startswith("/ip4/127.0.0.1/tcp/") for x in addrs), addrs
    assert ok(cli(pair.b, "dht", "findpeer", pair.a_id)).splitlines() == addrs
    own = cli(pair.b, "routing", "findpeer", pair.b_id)
    assert own.returncode == 1 and "finding your own node in the DHT is currently not supported" in own.stderr.decode()
    bad = cli(pair.b, "routing", "findprovs", "-n", "0", cid)
    assert bad.returncode == 1 and bad.stderr.decode().startswith("Error: ")


def test_provide_recursive_verbose(pair: Pair, cli: InProcess) -> None:
    r = httpx.post(f"{pair.a.url}/api/v0/add", files={"file": ("f", stream_bytes(700_000) + b"provide me")},
                   timeout=60)
    cid = r.json()["Hash"]  # 3 leaves under a root: 4 blocks
    assert ok(cli(pair.a, "routing", "provide", cid)) == ""  # Kubo prints nothing without -v
    out = ok(cli(pair.a, "routing", "provide", "-r", "-v", cid))
    assert out.splitlines() == [f"sending provider record to peer {pair.b_id}"] * 4, out
    assert ok(cli(pair.a, "dht", "provide", "--recursive", "--verbose", cid)).count(pair.b_id) == 4
    missing = cli(pair.b, "routing", "provide", cid)  # B does not hold it
    assert missing.returncode == 1 and "not found locally" in missing.stderr.decode()


def test_put_and_get_a_value(pair: Pair, tmp_path: Path, cli: InProcess) -> None:
    key = f"/pk/{pair.a_id}"
    value = tmp_path / "pub"
    value.write_bytes(pair.a_key)
    assert ok(cli(pair.a, "routing", "put", key, str(value))) == f"{pair.a_id}\n"  # Kubo prints the key's peer
    # get writes the value itself, bytes untouched (a protobuf public key, not text)
    for got in (process(pair.b, "routing", "get", key), cli(pair.b, "dht", "get", key)):
        assert got.returncode == 0 and got.stdout == pair.a_key, got.stderr.decode()
    assert ok(cli(pair.a, "dht", "put", key, "-", input=pair.a_key)) == f"{pair.a_id}\n"  # from stdin
    bad = cli(pair.a, "routing", "put", key, "-", input=b"not a key")
    assert bad.returncode == 1 and "invalid record" in bad.stderr.decode()
    wrong = cli(pair.b, "routing", "get", "/foo/bar")
    assert wrong.returncode == 1 and "invalid key" in wrong.stderr.decode()


def test_reprovide_and_provide_stat(pair: Pair, cli: InProcess) -> None:
    wait_for(lambda: api(pair.a, "provide/stat").json()["Legacy"]["TotalReprovides"] >= 1)  # the run at start
    before = api(pair.a, "provide/stat").json()["Legacy"]["TotalReprovides"]
    assert ok(cli(pair.a, "routing", "reprovide")) == ""
    stat = ok(cli(pair.a, "provide", "stat"))
    assert f"TotalReprovides:      {before + 1}\n" in stat and "Strategy:             roots" in stat, stat
    assert ok(cli(pair.a, "stats", "provide")) == stat  # Kubo's older name


def test_routing_needs_the_server(tmp_path: Path) -> None:
    """On a repo no server holds there is no libp2p peer: a clear error, not a hang."""
    p = process(tmp_path / "offline", "routing", "findprovs", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
    assert p.returncode == 1 and "routing needs the running server" in p.stderr.decode(), p.stderr.decode()
