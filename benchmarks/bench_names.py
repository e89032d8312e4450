"""IPNS publish and resolve times over the DHT, ours and Kubo's, in the same run.

    .venv/bin/python benchmarks/bench_names.py [--runs 10]

Two of our servers and, when Kubo 0.43.1 is built (scripts/kubo.sh), one Kubo
daemon, connected to each other on 127.0.0.1 (they speak the LAN DHT,
``/ipfs/lan/kad/1.0.0``). Each run publishes a new value (a higher sequence) and
then resolves it with ``nocache=true`` (a fresh DHT lookup):

- ours0 ``name/publish`` (signs, stores, PUTs to the closest peers); ours1 and Kubo
  ``name/resolve`` it;
- Kubo ``name/publish`` with its own key (the baseline); ours1 and ours0 resolve it.

Times are those of the RPC call as a client sees it (median and max of ``--runs``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import ServerProcess, start_server  # noqa: E402
from kubo_daemon import KUBO, KuboDaemon  # noqa: E402
from test_ipns_kubo import wait_dht  # noqa: E402

HTTP = httpx.Client(timeout=300)  # keep-alive connections, as a real client (a new one per call adds tens of ms)


def call(api: str, path: str, **params: str) -> dict:
    r = HTTP.post(f"{api}/{path}", params=params)
    if r.status_code != 200:
        raise SystemExit(f"{api}/{path} {params}: {r.status_code} {r.text[:300]}")
    return r.json()


def timed(fn: Callable[..., dict], *args: str, **params: str) -> tuple[float, dict]:
    t = time.perf_counter()
    out = fn(*args, **params)
    return time.perf_counter() - t, out


def kubo_call(kubo: KuboDaemon, path: str, **params: str) -> dict:
    return call(kubo.api, path, **params)


def add(api: str, data: bytes) -> str:
    r = httpx.post(f"{api}/add", files={"f": ("f", data)}, timeout=60)
    r.raise_for_status()
    return r.json()["Hash"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-names-"))
    servers: list[ServerProcess] = []
    kubo: KuboDaemon | None = None
    times: dict[str, list[float]] = {}
    try:
        servers = [start_server(base / f"ours{i}", timeout=180) for i in range(2)]
        apis = [f"{s.url}/api/v0" for s in servers]
        addr1 = next(a for a in call(apis[1], "id")["Addresses"] if "/127.0.0.1/" in a)
        call(apis[0], "swarm/connect", arg=addr1)
        if KUBO is not None:
            kubo = KuboDaemon(base / "kubo")
            for s, api in zip(servers, apis, strict=True):
                call(api, "swarm/connect", arg=kubo.full_addr)
                wait_dht(kubo, s)
            assert kubo.rpc("key/gen", arg="bench").status_code == 200
        for run in range(args.runs):
            cid = add(apis[0], f"ours, version {run}".encode())
            dt, out = timed(call, apis[0], "name/publish", arg=f"/ipfs/{cid}", ttl="1s")
            times.setdefault("ours0 publish", []).append(dt)
            name = out["Name"]
            dt, out = timed(call, apis[1], "name/resolve", arg=name, nocache="true")
            assert out["Path"] == f"/ipfs/{cid}", out
            times.setdefault("ours1 resolves ours0's name", []).append(dt)
            if kubo is not None:
                dt, out = timed(kubo_call, kubo, "name/resolve", arg=name, nocache="true")
                assert out.get("Path") == f"/ipfs/{cid}", out
                times.setdefault("Kubo resolves ours0's name", []).append(dt)
                kcid = kubo.rpc("add", files={"f": ("f", f"kubo, version {run}".encode())}).json()["Hash"]
                dt, out = timed(kubo_call, kubo, "name/publish", arg=f"/ipfs/{kcid}", key="bench", ttl="1s")
                times.setdefault("Kubo publish (baseline)", []).append(dt)
                kname = out["Name"]
                for i in (1, 0):
                    dt, out = timed(call, apis[i], "name/resolve", arg=kname, nocache="true")
                    assert out["Path"] == f"/ipfs/{kcid}", out
                    times.setdefault(f"ours{i} resolves Kubo's name", []).append(dt)
            print(f"run {run + 1}/{args.runs} done", flush=True)
    finally:
        for s in servers:
            s.stop()
        if kubo is not None:
            kubo.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"\n| operation ({args.runs} runs) | median | max |\n|---|---|---|")
    for what, xs in times.items():
        print(f"| {what} | {statistics.median(xs) * 1000:.0f} ms | {max(xs) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
