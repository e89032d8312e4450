"""The Python client over HTTP against the same operations in-process, same file, same run.

    .venv/bin/python benchmarks/bench_client.py [--size-mib 256] [--runs 3]

- add: ``HTTPClient.add_path`` (streamed multipart upload to a local server) vs
  ``LocalClient.add_path`` (IPFSModel in this process, no HTTP) on the same file,
  each into its own fresh repo
- cat: ``HTTPClient.cat`` vs ``LocalClient.cat`` of the stored file
- peak Python allocations of the client during the HTTP add (tracemalloc)

Times are the best of ``--runs``. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import start_server  # noqa: E402

from ipfs_kit_py.client import HTTPClient, LocalClient  # noqa: E402
from ipfs_kit_py.model import AddOptions  # noqa: E402


async def add_time(client: HTTPClient | LocalClient, path: Path) -> tuple[float, str]:
    t = time.perf_counter()
    results = await client.add_path(path, AddOptions(pin=False))
    return time.perf_counter() - t, results[-1].cid


async def cat_time(client: HTTPClient | LocalClient, cid: str) -> float:
    t = time.perf_counter()
    n = 0
    async for chunk in client.cat(cid):
        n += len(chunk)
    return time.perf_counter() - t


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    size = args.size_mib << 20
    tmp = Path(tempfile.mkdtemp(prefix="bench-client-"))
    try:
        f = tmp / "data.bin"
        with open(f, "wb") as out:
            for _ in range(args.size_mib):
                out.write(os.urandom(1 << 20))
        server = start_server(tmp / "server-repo", env={"IPFS_KIT_LIBP2P_ENABLED": "false",
                                                         "IPFS_KIT_WEBRTC_ENABLED": "false"})
        try:
            http = HTTPClient(server.url)
            local = LocalClient(tmp / "local-repo")
            try:
                http_add, local_add, http_cat, local_cat = [], [], [], []
                for _ in range(args.runs):
                    t, cid_h = await add_time(http, f)
                    http_add.append(t)
                    t, cid_l = await add_time(local, f)
                    local_add.append(t)
                    assert cid_h == cid_l, (cid_h, cid_l)
                    http_cat.append(await cat_time(http, cid_h))
                    local_cat.append(await cat_time(local, cid_l))
                tracemalloc.start()
                await http.add_path(f, AddOptions(pin=False))
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            finally:
                await http.close()
                await local.close()
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mib = size / (1 << 20)
    ha, la, hc, lc = min(http_add), min(local_add), min(http_cat), min(local_cat)
    print(f"file: {args.size_mib} MiB, best of {args.runs}")
    print(f"add  HTTP client {mib / ha:7.1f} MiB/s   in-process {mib / la:7.1f} MiB/s   ratio {la / ha:.2f}x")
    print(f"cat  HTTP client {mib / hc:7.1f} MiB/s   in-process {mib / lc:7.1f} MiB/s   ratio {lc / hc:.2f}x")
    print(f"client peak Python allocations during the HTTP add: {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
