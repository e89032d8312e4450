"""``ipfs-kit key``, ``name`` and ``pubsub`` as a user runs them (subprocesses): keys on
a repo with no server (in-process, as Kubo works offline) and through a real server;
IPNS names and pubsub through real servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import select
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, ServerProcess, start_server


def ipfs_kit(repo: Path, *args: str | Path, input: bytes | None = None, ok: bool = True,
             cwd: Path = ROOT) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(repo), *map(str, args)]
    p = subprocess.run(cmd, input=input, capture_output=True, cwd=cwd, timeout=60)
    if ok:
        assert p.returncode == 0, f"{cmd} -> {p.returncode}\n{p.stderr.decode()}"
    return p


def out(repo: Path, *args: str | Path, input: bytes | None = None) -> str:
    return ipfs_kit(repo, *args, input=input).stdout.decode()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    base = tmp_path_factory.mktemp("names-cli")
    srvs = [start_server(base / "a"), start_server(base / "b")]
    try:
        yield srvs
    finally:
        for s in srvs:
            s.stop()


def test_key_commands_through_the_server(servers: list[ServerProcess], tmp_path: Path) -> None:
    repo = servers[0].repo  # the CLI goes over HTTP to the server holding the repo
    gen = out(repo, "key", "gen", "alice").strip()
    assert gen.startswith("k51")
    rsa = out(repo, "key", "gen", "bob", "--type", "rsa", "--size", "2048").strip()
    listed = dict(line.split(" ", 1)[::-1] for line in out(repo, "key", "list").splitlines())
    assert listed["alice"] == gen and listed["bob"] == rsa and "self" in listed
    # export: to stdout, or to a new file only its owner reads (never over an existing one)
    key = ipfs_kit(repo, "key", "export", "alice").stdout
    ipfs_kit(repo, "key", "export", "alice", "-o", tmp_path / "alice.key")
    assert (tmp_path / "alice.key").read_bytes() == key and len(key) > 32
    assert stat.S_IMODE(os.stat(tmp_path / "alice.key").st_mode) == 0o600
    refused = ipfs_kit(repo, "key", "export", "alice", "-o", tmp_path / "alice.key", ok=False)
    assert refused.returncode == 1 and (tmp_path / "alice.key").read_bytes() == key
    # sign a file, verify it and a tampered copy (stdin)
    (tmp_path / "msg").write_bytes(b"signed by alice\n")
    signed = json.loads(out(repo, "key", "sign", "--key", "alice", tmp_path / "msg"))
    assert signed["Key"]["Id"] == gen
    sig = signed["Signature"]
    assert json.loads(out(repo, "key", "verify", "--key", gen, "--signature", sig, tmp_path / "msg"))["SignatureValid"]
    bad = json.loads(out(repo, "key", "verify", "--key", "alice", "--signature", sig, "-", input=b"signed by mallory\n"))
    assert bad["SignatureValid"] is False
    # rename, rm
    assert out(repo, "key", "rename", "bob", "carol").strip() == f"Key {rsa} renamed to carol"
    assert out(repo, "key", "rm", "carol", "alice").split() == ["carol", "alice"]
    assert "alice" not in out(repo, "key", "list")
    missing = ipfs_kit(repo, "key", "rm", "alice", ok=False)
    assert missing.returncode == 1 and "alice" in missing.stderr.decode()


def test_key_commands_with_no_server(tmp_path: Path) -> None:
    """As Kubo's key commands work offline: the repo's keystore, opened in-process."""
    repo, other = tmp_path / "repo", tmp_path / "other"
    gen = out(repo, "key", "gen", "dave").strip()
    ipfs_kit(repo, "key", "export", "dave", "-o", tmp_path / "dave.key")
    assert stat.S_IMODE(os.stat(tmp_path / "dave.key").st_mode) == 0o600
    assert out(other, "key", "import", "imported", tmp_path / "dave.key").strip() == gen
    signed = json.loads(out(repo, "key", "sign", "--key", "dave", "-", input=b"offline\n"))
    ok = json.loads(out(other, "key", "verify", "--key", "imported", "--signature", signed["Signature"], "-",
                        input=b"offline\n"))
    assert ok == {"Key": {"Name": "imported", "Id": gen}, "SignatureValid": True}
    assert stat.S_IMODE(os.stat(other / "keystore").st_mode) == 0o700


def test_name_commands(servers: list[ServerProcess], tmp_path: Path) -> None:
    a = servers[0].repo
    cid = httpx.post(f"{servers[0].url}/api/v0/add", files={"f": ("n.txt", b"named content\n")},
                     timeout=30).json()["Hash"]
    line = out(a, "name", "publish", "--allow-offline", f"/ipfs/{cid}").strip()
    assert line.startswith("Published to k51") and line.endswith(f": /ipfs/{cid}")
    name = line.split()[2].rstrip(":")
    assert out(a, "name", "resolve", name).strip() == f"/ipfs/{cid}"
    assert out(a, "name", "resolve").strip() == f"/ipfs/{cid}"  # our own name by default
    # the signed record: out, inspected (and verified against the name), back in
    record = ipfs_kit(a, "name", "get", name).stdout
    (tmp_path / "rec").write_bytes(record)
    inspected = json.loads(out(a, "name", "inspect", "--verify", name, tmp_path / "rec"))
    assert inspected["Entry"]["Value"] == f"/ipfs/{cid}" and inspected["Validation"]["Valid"] is True
    put = out(a, "name", "put", "--force", "--allow-offline", name, "-", input=record).strip()
    assert put == f"Published to {name}: /ipfs/{cid}"
    # no server: a clear error, exit 1
    offline = ipfs_kit(tmp_path / "empty", "name", "publish", f"/ipfs/{cid}", ok=False)
    assert offline.returncode == 1 and offline.stderr.decode().startswith("Error: ")


def test_pubsub_commands(servers: list[ServerProcess]) -> None:
    a, b = servers
    b_info = httpx.post(f"{b.url}/api/v0/id", timeout=30).json()
    addr = next(x for x in b_info["Addresses"] if "/127.0.0.1/" in x)
    assert httpx.post(f"{a.url}/api/v0/swarm/connect", params={"arg": addr}, timeout=30).status_code == 200
    topic = "cli topic/with spaces"
    sub = subprocess.Popen([sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(b.repo), "pubsub", "sub", topic],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while topic not in out(b.repo, "pubsub", "ls").splitlines() or \
                b_info["ID"] not in out(a.repo, "pubsub", "peers", topic).split():
            assert sub.poll() is None, sub.stderr.read().decode() if sub.stderr else ""
            assert time.monotonic() < deadline, "the subscription never reached the other node"
            time.sleep(0.2)
        assert out(a.repo, "pubsub", "pub", topic, "-", input=b"hello from the cli") == ""
        assert sub.stdout is not None
        ready, _, _ = select.select([sub.stdout], [], [], 30)
        assert ready, "no message arrived"
        assert sub.stdout.readline() == b"hello from the cli\n"
    finally:
        sub.kill()  # pubsub sub streams until interrupted, as Kubo's
        sub.wait(10)
