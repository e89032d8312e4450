"""Pubsub delivery latency between two nodes (gossipsub), ours and Kubo's.

    .venv/bin/python benchmarks/bench_pubsub.py [--messages 60] [--rate 5]

Two of our servers (separate processes), and, when Kubo 0.43.1 is built
(scripts/kubo.sh), two Kubo daemons with ``Pubsub.Enabled``; all four connected on
127.0.0.1. For each (publisher, subscriber) pair the subscriber streams
``/api/v0/pubsub/sub`` and the publisher gets ``--messages`` messages through
``/api/v0/pubsub/pub`` at ``--rate`` per second (under our nodes' per-peer
``pubsub.max_rate`` of 10/s). Latency: from just before the publish request is sent
to the moment the subscriber's line is read, both in this process (so it includes
the two HTTP hops: the figure a client of the API sees). Kubo to Kubo is the
baseline in the same run.
"""

from __future__ import annotations

import argparse
import base64
import json
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import start_server  # noqa: E402
from kubo_daemon import KUBO, KuboDaemon  # noqa: E402

TOPIC = "ipfs-kit-bench"


def mb(raw: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unmb(text: str) -> bytes:
    return base64.urlsafe_b64decode(text[1:] + "=" * (-len(text[1:]) % 4))


class Subscriber:
    """``pubsub/sub`` streamed in a thread; (arrival time, message) pairs land in ``got``."""

    def __init__(self, api: str) -> None:
        self.got: queue.Queue[tuple[float, dict]] = queue.Queue()
        self.client = httpx.Client(timeout=httpx.Timeout(30, read=None))
        threading.Thread(target=self._run, args=(api,), daemon=True).start()

    def _run(self, api: str) -> None:
        try:
            with self.client.stream("POST", f"{api}/pubsub/sub", params={"arg": mb(TOPIC.encode())}) as r:
                for line in r.iter_lines():
                    if line.strip():
                        self.got.put((time.perf_counter(), json.loads(line)))
        except Exception:  # noqa: BLE001 - closed by close()
            pass

    def close(self) -> None:
        self.client.close()


class Endpoint:
    def __init__(self, name: str, api: str) -> None:
        self.name, self.api = name, api
        self.http = httpx.Client(timeout=30)  # one keep-alive connection, as a real client would
        self.id = self.http.post(f"{api}/id").json()["ID"]

    def peers(self) -> list[str]:
        return self.http.post(f"{self.api}/pubsub/peers", params={"arg": mb(TOPIC.encode())}).json()["Strings"] or []

    def pub(self, data: bytes) -> None:
        r = self.http.post(f"{self.api}/pubsub/pub", params={"arg": mb(TOPIC.encode())}, files={"data": ("d", data)})
        r.raise_for_status()


def wait_for(cond, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {what}")
        time.sleep(0.1)


def measure(src: Endpoint, dst: Endpoint, sub: Subscriber, n: int, rate: float) -> tuple[list[float], list[float]]:
    wait_for(lambda: src.id in dst.peers() and dst.id in src.peers(), 60, f"{src.name} and {dst.name} on the topic")
    while not sub.got.empty():  # earlier pairs' messages
        sub.got.get_nowait()
    sent: dict[bytes, float] = {}
    lat: list[float] = []
    calls: list[float] = []  # the publish request alone
    tag = f"{src.name}->{dst.name}".encode()
    for i in range(n):
        payload = tag + b" " + str(i).encode()
        sent[payload] = t = time.perf_counter()
        src.pub(payload)
        calls.append(time.perf_counter() - t)
        time.sleep(1 / rate)
        while not sub.got.empty():
            at, m = sub.got.get_nowait()
            d = unmb(m["data"])
            if m.get("from") == src.id and d in sent:
                lat.append(at - sent.pop(d))
    deadline = time.monotonic() + 10
    while sent and time.monotonic() < deadline:
        try:
            at, m = sub.got.get(timeout=0.5)
        except queue.Empty:
            continue
        d = unmb(m["data"])
        if m.get("from") == src.id and d in sent:
            lat.append(at - sent.pop(d))
    if sent:
        print(f"  {src.name} -> {dst.name}: {len(sent)} of {n} messages never arrived", flush=True)
    return lat, calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=60)
    ap.add_argument("--rate", type=float, default=5.0, help="messages per second")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-pubsub-"))
    servers, kubos, subs = [], [], []
    try:
        servers = [start_server(base / f"ours{i}", timeout=180) for i in range(2)]
        eps = [Endpoint(f"ours{i}", f"{s.url}/api/v0") for i, s in enumerate(servers)]
        if KUBO is not None:
            kubos = [KuboDaemon(base / f"kubo{i}", config={("Pubsub", "Enabled"): True}) for i in range(2)]
            eps += [Endpoint(f"kubo{i}", k.api) for i, k in enumerate(kubos)]
            addrs = [k.full_addr for k in kubos]
        else:
            addrs = []
        ours1_addr = next(a for a in httpx.post(f"{eps[1].api}/id", timeout=30).json()["Addresses"] if "/127.0.0.1/" in a)
        for target in [ours1_addr, *addrs]:
            httpx.post(f"{eps[0].api}/swarm/connect", params={"arg": target}, timeout=30).raise_for_status()
        for a in addrs:
            httpx.post(f"{eps[1].api}/swarm/connect", params={"arg": a}, timeout=30).raise_for_status()
        if kubos:
            kubos[0].rpc("swarm/connect", arg=kubos[1].full_addr).raise_for_status()
        subs = [Subscriber(e.api) for e in eps]
        by_name = {e.name: (e, sub) for e, sub in zip(eps, subs, strict=True)}
        pairs = [("ours0", "ours1"), ("ours1", "ours0")]
        if kubos:
            pairs += [("ours0", "kubo0"), ("kubo0", "ours0"), ("kubo0", "kubo1")]
        rows = []
        for s, d in pairs:
            lat, calls = measure(by_name[s][0], by_name[d][0], by_name[d][1], args.messages, args.rate)
            lat_ms = sorted(x * 1000 for x in lat)
            p50 = statistics.median(lat_ms)
            p99 = lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))]
            pub = statistics.median(calls) * 1000
            rows.append((s, d, len(lat_ms), p50, p99, max(lat_ms), pub))
            print(f"{s} -> {d}: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(lat_ms)} of {args.messages}); "
                  f"publish call p50 {pub:.1f} ms", flush=True)
    finally:
        for sub in subs:
            sub.close()
        for srv in servers:
            srv.stop()
        for k in kubos:
            k.stop()
        shutil.rmtree(base, ignore_errors=True)
    print("\n| publisher -> subscriber | delivered | p50 | p99 | max | the publish call alone, p50 |")
    print("|---|---|---|---|---|---|")
    for s, d, n, p50, p99, mx, pub in rows:
        print(f"| {s} -> {d} | {n}/{args.messages} | {p50:.1f} ms | {p99:.1f} ms | {mx:.1f} ms | {pub:.1f} ms |")


if __name__ == "__main__":
    main()
