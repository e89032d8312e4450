"""Streaming: adding and reading a 1 GiB file keeps memory flat."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SCRIPT = """
import asyncio, os, sys
from ipfs_kit_py.model import IPFSModel
from ipfs_kit_py.repo import Repo

path, repo = sys.argv[1], sys.argv[2]
with open(path, "wb") as f:
    block = os.urandom(1 << 20)
    for i in range(1024):
        f.write(block[i:] + block[:i])  # 1 GiB, no two chunks alike
m = IPFSModel(Repo(repo))

async def main():
    res = await m.add_path(path)
    n = 0
    async for piece in m.cat(res[-1].cid):
        n += len(piece)
    return n

n = asyncio.run(main())
# VmHWM: peak RSS of this address space (ru_maxrss would include the parent's peak across exec)
hwm_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(n, hwm_kb // 1024)
"""


def test_add_and_cat_1gib_under_200mb_rss(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "big.bin"), str(tmp_path / "repo")],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    size, rss_mb = map(int, out.stdout.split())
    assert size == 1 << 30
    assert rss_mb < 200, f"peak RSS {rss_mb} MB"
