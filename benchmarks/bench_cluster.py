"""IPFS Cluster driving three of our nodes: pin-to-pinned time of a large file.

    .venv/bin/python benchmarks/bench_cluster.py                 # the issue's size: 1 GiB
    .venv/bin/python benchmarks/bench_cluster.py --size-mib 256

Three of our servers (separate processes and repos), each beside a real
``ipfs-cluster-service`` 1.1.6 peer (CRDT, secret per run; tests/cluster_fleet.py
sets them up, all on 127.0.0.1). The file is generated deterministically and
streamed (SHAKE-256 in counter mode, 1 MiB at a time: never held in memory) into
node 0 with ``add?pin=false``. Then:

- cluster: ``ipfs-cluster-ctl pin add`` through peer 1, timed until
  ``ipfs-cluster-ctl status`` says pinned on all three (nodes 1 and 2 fetch the whole
  DAG over our bitswap retrieval, from node 0 and from each other);
- baseline, same run, same nodes: ``pin/add`` sent straight to nodes 1 and 2 at once
  (the same fetch, no cluster);
- the cluster pin again (the first fetch of a DAG runs slower than later ones).
  Between rounds the pins are removed and nodes 1 and 2 emptied (``repo/gc``);
- if Kubo 0.43.1 is built (scripts/kubo.sh): a Kubo daemon connected to node 0 pins
  the same CID (``ipfs pin add``), for scale.

The bytes node 2 ends up with are hashed (streamed ``cat ?offline=true``) and compared
with the generator's.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cluster_fleet import CLUSTER, Fleet, wait_until  # noqa: E402
from kubo_daemon import KUBO, KuboDaemon  # noqa: E402

CHUNK = 1 << 20
MB = 1e6


class Generated:
    """A deterministic byte stream of ``size`` bytes read like a file (``read(n)``):
    chunk i is SHAKE-256(label || i) stretched to 1 MiB. Holds one chunk at a time."""

    def __init__(self, size: int, label: bytes = b"ipfs-kit bench_cluster") -> None:
        self.size, self.label, self.pos = size, label, 0
        self.buf, self.buf_at = b"", 0
        self.sha = hashlib.sha256()

    def chunk(self, i: int) -> bytes:
        return hashlib.shake_256(self.label + i.to_bytes(8, "big")).digest(CHUNK)

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.size:
            return b""
        n = min(CHUNK if n is None or n < 0 else n, self.size - self.pos)
        i, off = divmod(self.pos, CHUNK)
        if self.buf_at != i or not self.buf:
            self.buf, self.buf_at = self.chunk(i), i
        out = self.buf[off:off + n]
        self.pos += len(out)
        self.sha.update(out)
        return out


def rpc(url: str, path: str, timeout: float = 3600, **params: str) -> httpx.Response:
    r = httpx.post(f"{url}/api/v0/{path}", params=params, timeout=timeout)
    r.raise_for_status()
    return r


def streamed_sha256(url: str, cid: str) -> str:
    h = hashlib.sha256()
    with httpx.stream("POST", f"{url}/api/v0/cat", params={"arg": cid, "offline": "true"}, timeout=3600) as r:
        r.raise_for_status()
        for piece in r.iter_bytes(CHUNK):
            h.update(piece)
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--no-kubo", action="store_true", help="skip the Kubo reference pin")
    args = ap.parse_args()
    if CLUSTER is None:
        sys.exit("IPFS Cluster is not built: bash scripts/cluster.sh")
    size = args.size_mib << 20
    base = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    # nodes wait for content the way Kubo does (docs/scaling.md)
    fleet = Fleet(base, node_env={"IPFS_KIT_RETRIEVAL_PIN_WAIT": "300"})
    results: dict[str, Any] = {}
    try:
        t = time.perf_counter()
        fleet.start(timeout=180)
        print(f"fleet of 3 up in {time.perf_counter() - t:.1f} s", flush=True)
        urls = [n.url for n in fleet.nodes]
        gen = Generated(size)
        t = time.perf_counter()
        r = httpx.post(f"{urls[0]}/api/v0/add", params={"pin": "false"}, files={"file": ("big.bin", gen)},
                       timeout=3600)
        r.raise_for_status()
        cid = r.json()["Hash"]
        add_s = time.perf_counter() - t
        print(f"added {args.size_mib} MiB on node 0: {cid} in {add_s:.1f} s ({size / add_s / MB:.0f} MB/s)",
              flush=True)
        want = gen.sha.hexdigest()

        def cluster_round() -> float:
            first: dict[str, float] = {}
            t = time.perf_counter()
            fleet.peers[1].ctl("pin", "add", "--name", "bench", cid)

            def all_pinned() -> bool:
                st = fleet.status(cid)
                now = time.perf_counter() - t
                for peer, s in st.items():
                    if s == "pinned":
                        first.setdefault(peer, now)
                return len(st) == 3 and set(st.values()) == {"pinned"}

            wait_until(all_pinned, 3600, "the cluster pin", interval=0.5)
            dt = time.perf_counter() - t
            print(f"cluster pin -> pinned on all 3: {dt:.1f} s "
                  f"({', '.join(f'{k} {v:.1f} s' for k, v in sorted(first.items()))})", flush=True)
            got = streamed_sha256(urls[2], cid)
            assert got == want, f"node 2 holds different bytes: {got} != {want}"
            fleet.peers[0].ctl("pin", "rm", cid)
            fleet.wait_status(cid, "unpinned", timeout=300)
            empty_fetchers()
            return dt

        def direct_round() -> float:
            times: dict[str, float] = {}

            def pin(u: str) -> None:
                t0 = time.perf_counter()
                rpc(u, "pin/add", arg=cid)
                times[u] = time.perf_counter() - t0

            t = time.perf_counter()
            threads = [threading.Thread(target=pin, args=(u,)) for u in urls[1:]]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            dt = time.perf_counter() - t
            print(f"direct pin/add on nodes 1 and 2 at once: {dt:.1f} s "
                  f"({', '.join(f'{v:.1f} s' for v in times.values())})", flush=True)
            for u in urls[1:]:
                rpc(u, "pin/rm", arg=cid)
            empty_fetchers()
            return dt

        def empty_fetchers() -> None:
            for u in urls[1:]:
                rpc(u, "repo/gc")
                gone = httpx.post(f"{u}/api/v0/block/stat", params={"arg": cid, "offline": "true"}, timeout=30)
                assert gone.status_code == 404, "the gc left the file on a node"

        # the first fetch of a DAG runs slower than later ones (nothing measured about the peers
        # yet), so the cluster goes first and last, the direct pins in between
        results["cluster"] = cluster_round()
        results["direct"] = direct_round()
        results["cluster, again"] = cluster_round()

        # -- Kubo, for scale --
        if KUBO is not None and not args.no_kubo:
            kubo = KuboDaemon(base / "kubo")
            try:
                addr = next(a for a in rpc(urls[0], "id").json()["Addresses"] if "/127.0.0.1/" in a)
                kubo.rpc("swarm/connect", arg=addr).raise_for_status()
                t = time.perf_counter()
                r = kubo.ipfs("pin", "add", cid, timeout=3600)
                assert r.returncode == 0, r.stderr
                results["kubo"] = time.perf_counter() - t
                print(f"Kubo 0.43.1 pin add from node 0: {results['kubo']:.1f} s", flush=True)
            finally:
                kubo.stop()
    finally:
        fleet.stop()
        shutil.rmtree(base, ignore_errors=True)
    mib = args.size_mib
    print(f"\n| what | {mib} MiB | MB/s per fetching node |\n|---|---|---|")
    print(f"| add on node 0 (streamed, generated) | {add_s:.1f} s | {size / add_s / MB:.0f} |")
    for key, label in (("cluster", "cluster: `pin add` -> pinned on all 3 (first fetch)"),
                       ("direct", "baseline: `pin/add` on nodes 1 and 2 at once, no cluster"),
                       ("cluster, again", "cluster: `pin add` -> pinned on all 3 (again)"),
                       ("kubo", "Kubo 0.43.1 `pin add` from node 0 (one node)")):
        if key in results:
            print(f"| {label} | {results[key]:.1f} s | {size / results[key] / MB:.1f} |")
    if "direct" in results:
        print(f"\ncluster (again) / direct: {results['cluster, again'] / results['direct']:.2f}x")


if __name__ == "__main__":
    main()
