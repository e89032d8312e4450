"""Acceptance: the npm ``kubo-rpc-client``, unchanged, against the real server.

Runs ``node tests/js/kubo_client_check.mjs URL`` (add, cat, ls, pin add/rm/ls,
block get/put/stat, dag export/import, id, version). Needs ``npm ci --prefix tests/js``
first; skipped only when ``tests/js/node_modules`` is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, ServerProcess

JS = ROOT / "tests" / "js"


def test_kubo_rpc_client_works_unchanged(server: ServerProcess, tmp_path: Path) -> None:
    if not (JS / "node_modules" / "kubo-rpc-client").is_dir():
        pytest.skip("tests/js/node_modules is absent: run `npm ci --prefix tests/js`")
    node = shutil.which("node")
    assert node, "node is required to run the kubo-rpc-client check"
    proc = subprocess.run([node, str(JS / "kubo_client_check.mjs"), server.url], cwd=JS,
                          capture_output=True, text=True, timeout=180)
    print(proc.stdout)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    m = re.search(r"(\d+)/(\d+) checks passed", proc.stdout)
    assert m and m.group(1) == m.group(2) and int(m.group(1)) >= 11, proc.stdout
