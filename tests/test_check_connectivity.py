"""The connectivity check against real servers: all green on a healthy one; the broken
channel named, with what to do, and a non-zero exit on one with a channel turned off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, start_server


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipfs_kit_py.tools.check_connectivity", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_healthy_server_passes_every_check(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "repo")  # an empty node: WebRTC uses the built-in pattern
    try:
        out = run_check("--all", "--json", "--url", srv.url)
        report = json.loads(out.stdout)
        assert out.returncode == 0, out.stdout + out.stderr
        assert report["ok"] and [c["name"] for c in report["checks"]] == ["http", "websocket", "webrtc", "libp2p"]
        assert all(c["ok"] and c["latency_ms"] > 0 for c in report["checks"])
        by = {c["name"]: c for c in report["checks"]}
        assert "frames decoded" in by["webrtc"]["detail"] and "ping" in by["libp2p"]["detail"]
        table = subprocess.run([sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(srv.repo), "check", "--http",
                                "--websocket"], capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert table.returncode == 0 and "event round trip" in table.stdout
    finally:
        srv.stop()


def test_broken_channels_are_named(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "repo", env={"IPFS_KIT_LIBP2P_ENABLED": "false", "IPFS_KIT_WEBSOCKET_ENABLED": "false"})
    try:
        out = run_check("--json", "--url", srv.url)
        report = json.loads(out.stdout)
        assert out.returncode == 1 and not report["ok"]
        by = {c["name"]: c for c in report["checks"]}
        assert by["http"]["ok"] and by["webrtc"]["ok"]
        assert not by["libp2p"]["ok"] and "IPFS_KIT_LIBP2P_ENABLED" in by["libp2p"]["advice"]
        assert not by["websocket"]["ok"] and by["websocket"]["advice"]
    finally:
        srv.stop()
    out = run_check("--http", "--url", srv.url)  # nothing listens any more
    assert out.returncode == 1 and "FAILED" in out.stdout and "start the server" in out.stdout
