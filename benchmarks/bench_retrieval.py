"""Retrieval from the network: our node against Kubo 0.43.1, same providers, same run.

    .venv/bin/python benchmarks/bench_retrieval.py [--size-mib 256] [--video-mib 100] [--runs 3] [--ttfb-only]

- fetch: three providers (our servers, separate processes) hold the same
  ``--size-mib`` file; a fresh node of ours connected to 1, 2 then 3 of them
  cats it (``/api/v0/cat``, streamed, bytes discarded); a Kubo 0.43.1 daemon,
  connected to the same providers, runs ``ipfs cat`` of the same CID. Each
  ``--runs`` times, ours and Kubo's alternating, each after a ``repo gc`` (the
  fetched blocks are unpinned: nothing is left to read locally); the median
  aggregate MB/s, and the share each provider sent over the runs (bitswap/ledger).
- time to first byte of a ``--video-mib`` file only provider 1 holds, through
  the gateway (``GET /ipfs/<cid>``), then of a seek to its middle (``Range:
  bytes=<mid>-``) on the same node, then of that seek with the repo emptied
  first (cold: the first leaf, for type sniffing, is missing too), against
  Kubo's gateway doing the same. Both repos are emptied before each node's turn,
  so neither can serve the other; one HTTP client for all requests (its set-up
  is not measured); median of ``--runs``.

Everything on 127.0.0.1; Kubo is configured for loopback before it starts.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import ServerProcess, start_server, stream_bytes  # noqa: E402
from test_retrieval_kubo import KUBO, KuboDaemon  # noqa: E402

MB = 1e6


def rpc(srv: ServerProcess, path: str, timeout: float = 600, **params: str) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=timeout)


def addr(srv: ServerProcess) -> str:
    return next(a for a in rpc(srv, "id").json()["Addresses"] if "/127.0.0.1/" in a)


def add(srv: ServerProcess, data: bytes) -> str:
    r = httpx.post(f"{srv.url}/api/v0/add", files={"file": ("f", data)}, timeout=600)
    r.raise_for_status()
    return r.json()["Hash"]


def ttfb(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> float:
    """Seconds from sending the request to the first body bytes; the client then goes away."""
    t = time.perf_counter()
    with client.stream("GET", url, headers=headers or {}) as r:
        assert r.status_code in (200, 206), r.status_code
        next(r.iter_raw())
        return time.perf_counter() - t


def ttfb_table(args: argparse.Namespace, provider: ServerProcess, kubo: KuboDaemon, tmp: Path,
               servers: list[ServerProcess]) -> None:
    """Time to first byte of a remote video, of a seek to its middle, and of that seek cold."""
    video = b"v" + stream_bytes(args.video_mib << 20)  # shifted: no block shared with the file above
    vcid = add(provider, video)
    mid = len(video) // 2
    seek = {"Range": f"bytes={mid}-"}
    b = start_server(tmp / "bv", timeout=180)
    servers.append(b)
    rpc(b, "swarm/connect", arg=addr(provider)).raise_for_status()

    def empty() -> None:  # neither node may serve the other
        rpc(b, "repo/gc").raise_for_status()
        assert kubo.ipfs("repo", "gc").returncode == 0

    ours: dict[str, list[float]] = {"first": [], "seek": [], "cold": []}
    theirs: dict[str, list[float]] = {"first": [], "seek": [], "cold": []}
    with httpx.Client(timeout=120) as client:
        for _ in range(args.runs):
            for gateway, out in ((b.url, ours), (kubo.gateway, theirs)):
                empty()
                out["first"].append(ttfb(client, f"{gateway}/ipfs/{vcid}"))
                out["seek"].append(ttfb(client, f"{gateway}/ipfs/{vcid}", seek))
                empty()
                out["cold"].append(ttfb(client, f"{gateway}/ipfs/{vcid}", seek))
    ms = lambda xs: f"{statistics.median(xs) * 1000:.0f} ms"  # noqa: E731
    print(f"\ntime to first byte, {args.video_mib} MiB remote file through the gateway (median of {args.runs})")
    print("| request | ipfs-kit gateway | Kubo 0.43.1 gateway |")
    print("|---|---|---|")
    print(f"| `GET /ipfs/<cid>` | {ms(ours['first'])} | {ms(theirs['first'])} |")
    print(f"| then a seek: `Range: bytes={mid}-` | {ms(ours['seek'])} | {ms(theirs['seek'])} |")
    print(f"| the seek alone (repo emptied first) | {ms(ours['cold'])} | {ms(theirs['cold'])} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--video-mib", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ttfb-only", action="store_true", help="skip the fetch rates (time to first byte only)")
    args = ap.parse_args()
    if not KUBO.exists():
        raise SystemExit(f"Kubo 0.43.1 not found at {KUBO}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    servers: list[ServerProcess] = []
    kubo: KuboDaemon | None = None
    try:
        providers = [start_server(tmp / f"p{i}", timeout=180) for i in ((1,) if args.ttfb_only else (1, 2, 3))]
        servers += providers
        kubo = KuboDaemon(tmp / "kubo", gateway=True)
        if args.ttfb_only:
            assert kubo.ipfs("swarm", "connect", addr(providers[0])).returncode == 0
            ttfb_table(args, providers[0], kubo, tmp, servers)
            return
        data = stream_bytes(args.size_mib << 20)
        cids = {add(p, data) for p in providers}
        assert len(cids) == 1
        cid = cids.pop()
        del data
        ids = [rpc(p, "id").json()["ID"] for p in providers]
        size = args.size_mib << 20
        print(f"fetch {args.size_mib} MiB (CID {cid})")
        print(f"median of {args.runs} runs each, ours and Kubo's alternating (slowest-fastest in brackets)")
        print("| providers | ipfs-kit cat | share per provider | Kubo 0.43.1 `ipfs cat` | ratio |")
        print("|---|---|---|---|---|")

        def rates(times: list[float]) -> str:
            return (f"{size / statistics.median(times) / MB:.1f} MB/s "
                    f"({size / max(times) / MB:.1f}-{size / min(times) / MB:.1f})")

        for n in (1, 2, 3):
            b = start_server(tmp / f"b{n}", timeout=180)
            servers.append(b)
            for p in providers[:n]:
                rpc(b, "swarm/connect", arg=addr(p)).raise_for_status()
            assert kubo.ipfs("swarm", "connect", addr(providers[n - 1])).returncode == 0
            ours: list[float] = []
            theirs: list[float] = []
            for _ in range(args.runs):
                rpc(b, "repo/gc").raise_for_status()  # fetched blocks are unpinned: all go
                t = time.perf_counter()
                got = 0
                with httpx.stream("POST", f"{b.url}/api/v0/cat", params={"arg": cid}, timeout=600) as r:
                    for chunk in r.iter_raw():
                        got += len(chunk)
                ours.append(time.perf_counter() - t)
                assert got == size, got
                kubo.ipfs("repo", "gc")
                t = time.perf_counter()
                out = subprocess.run([str(KUBO), "cat", cid], env=kubo.env, stdout=subprocess.PIPE, timeout=900)
                theirs.append(time.perf_counter() - t)
                assert out.returncode == 0 and len(out.stdout) == size
            shares = [rpc(b, "bitswap/ledger", arg=i).json()["Recv"] for i in ids[:n]]
            total = sum(shares) or 1
            b.stop()
            servers.remove(b)
            shutil.rmtree(b.repo, ignore_errors=True)
            print(f"| {n} | {rates(ours)} | {' / '.join(f'{s / total:.0%}' for s in shares)} "
                  f"| {rates(theirs)} | {statistics.median(theirs) / statistics.median(ours):.2f} |", flush=True)

        ttfb_table(args, providers[0], kubo, tmp, servers)
    finally:
        for s in servers:
            s.stop()
        if kubo is not None:
            kubo.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
