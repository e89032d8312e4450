"""Acceptance: the npm ``kubo-rpc-client``, unchanged, against the real server.

Runs ``node tests/js/kubo_client_check.mjs URL PEER`` (add, cat, ls, pin add/rm/ls and names,
block get/put/stat, dag put/get/resolve/export/import, files, config, swarm, ping, stats,
id, version; PEER: a second node's multiaddr). Needs ``npm ci --prefix tests/js``
first; skipped only when ``tests/js/node_modules`` is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, ServerProcess, start_server

JS = ROOT / "tests" / "js"


def test_kubo_rpc_client_works_unchanged(server: ServerProcess, tmp_path: Path) -> None:
    if not (JS / "node_modules" / "kubo-rpc-client").is_dir():
        pytest.skip("tests/js/node_modules is absent: run `npm ci --prefix tests/js`")
    node = shutil.which("node")
    assert node, "node is required to run the kubo-rpc-client check"
    other = start_server(tmp_path / "peer")  # a second node, for the swarm, ping and bandwidth checks
    try:
        peer = httpx.post(f"{other.url}/api/v0/id", timeout=30).json()["Addresses"][0]
        proc = subprocess.run([node, str(JS / "kubo_client_check.mjs"), server.url, peer], cwd=JS,
                              capture_output=True, text=True, timeout=180)
    finally:
        other.stop()
    print(proc.stdout)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    m = re.search(r"(\d+)/(\d+) checks passed", proc.stdout)
    assert m and m.group(1) == m.group(2) and int(m.group(1)) >= 11, proc.stdout
