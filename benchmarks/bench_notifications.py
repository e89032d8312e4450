"""Notifications to many subscribers: the WebSocket hub vs a bare ``websockets`` broadcast.

    .venv/bin/python benchmarks/bench_notifications.py [--subscribers 1000] [--rate 100]
        [--seconds 5] [--burst 1000]

Two servers, each in its own process on 127.0.0.1, with the same subscribers:

- **hub**: the real server (``ipfs_kit_py.mcp.server.serve``: uvicorn, the WebSocket
  hub, its per-connection queues); events are published with ``emit_event``.
- **baseline**: a bare ``websockets`` server that sends the same JSON messages with
  ``websockets.broadcast`` to every connection (no subscriptions, no queues).

Phases, same for both: (1) ``--rate`` events/s for ``--seconds``: delivered events/s
and latency from the moment each event was due (its place in the schedule; the
same as its emit time while the publisher keeps pace) to receipt; (2) a burst of ``--burst`` events emitted as fast as possible: delivered
events/s until every subscriber has all of them.

Subscribers are light raw-socket WebSocket clients (no compression offered, frames
parsed by hand) in this process, so the servers, not the clients, are measured;
one in ten parses every message for its latency. Both servers and the clients share
this machine's cores: the ratio is the figure to read.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# -- the servers (child processes) -----------------------------------------------------------------
def rates(args: argparse.Namespace) -> list[float]:
    return [float(r) for r in args.rates.split(",")]


def event_data(phase: str, i: int, sched: float) -> dict[str, object]:
    # sched: when the event was due (wall clock); latency is measured from it, so a
    # publisher that falls behind its schedule is not hidden (no coordinated omission)
    return {"transfer_id": f"bench-{phase}", "phase": phase, "i": i, "bytes": i * 262144, "total": 1 << 30,
            "sched": sched}


async def emit_phases(emit, subscribers: int, connected, rates: list[float], seconds: float,  # noqa: ANN001
                      burst: int) -> None:
    while connected() < subscribers:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    for rate in rates:
        start, wall = time.monotonic(), time.time()
        for i in range(int(rate * seconds)):  # paced: the i-th event at start + i/rate
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            emit(f"r{rate:g}", i, wall + i / rate)
        await asyncio.sleep(3.0)
    wall = time.time()
    for i in range(burst):
        emit("burst", i, wall)
        if i % 20 == 19:
            await asyncio.sleep(0)  # let the writers run, as a real publisher would
    print("EMITTED", flush=True)


async def run_hub(args: argparse.Namespace) -> None:
    from ipfs_kit_py.config import load_settings
    from ipfs_kit_py.events import NotificationType, emit_event
    from ipfs_kit_py.mcp.server import serve
    from ipfs_kit_py.node import Node

    repo = Path(tempfile.mkdtemp(prefix="bench-ws-"))
    settings = load_settings(repo, {"server": {"port": 0}, "websocket": {"status_interval": 0},
                                    "libp2p": {"enabled": False}, "webrtc": {"enabled": False}})
    node = Node(repo, settings)
    ready = asyncio.Event()
    server = asyncio.create_task(serve(node, ready=ready))
    await ready.wait()
    print("READY", node.api_url.rsplit(":", 1)[1], flush=True)
    manager = node.services["websocket"]

    def connected() -> int:
        return sum(1 for c in manager.connections.values() if c.sub is not None)

    def emit(phase: str, i: int, sched: float) -> None:
        emit_event(NotificationType.TRANSFER_PROGRESS, event_data(phase, i, sched))

    await emit_phases(emit, args.subscribers, connected, rates(args), args.seconds, args.burst)
    await server


async def run_baseline(args: argparse.Namespace) -> None:
    import websockets
    from websockets.asyncio.server import broadcast, serve

    clients: set = set()
    seq = 0

    async def handler(ws) -> None:  # noqa: ANN001
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    def emit(phase: str, i: int, sched: float) -> None:
        nonlocal seq
        seq += 1
        msg = {"type": "transfer_progress", "seq": seq, "timestamp": time.time(),
               "data": event_data(phase, i, sched)}
        broadcast(clients, json.dumps(msg, separators=(",", ":")))

    async with serve(handler, "127.0.0.1", 0, max_size=1 << 20, ping_interval=20) as server:
        print("READY", server.sockets[0].getsockname()[1], flush=True)
        assert websockets
        await emit_phases(emit, args.subscribers, lambda: len(clients), rates(args), args.seconds, args.burst)
        await asyncio.Future()


# -- the subscribers (this process) --------------------------------------------------------------------
class Subscriber(asyncio.Protocol):
    """A minimal WebSocket client: handshake, one subscribe message, frames parsed by hand."""

    def __init__(self, hub: bool, sample: bool, stats: Stats) -> None:
        self.hub = hub
        self.sample = sample
        self.stats = stats
        self.buf = bytearray()
        self.handshaken = False
        self.ready = asyncio.get_running_loop().create_future()
        self.counts: dict[str, int] = collections.defaultdict(int)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        path = "/ws/notifications" if self.hub else "/"
        self.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def send_text(self, text: str, opcode: int = 0x1) -> None:
        data = text.encode()
        assert len(data) < 126
        # masked with a zero key: the payload is unchanged
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(data)]) + b"\0\0\0\0" + data)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.handshaken:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            assert self.buf.startswith(b"HTTP/1.1 101"), bytes(self.buf[:200])
            del self.buf[: end + 4]
            self.handshaken = True
            if self.hub:
                self.send_text('{"action":"subscribe","notification_types":["transfer_progress"]}')
            else:
                self.ready.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buf = self.buf
        pos = 0
        now = time.time()
        while len(buf) - pos >= 2:
            opcode = buf[pos] & 0x0F
            n = buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if len(buf) - pos < head + n:
                break
            payload = bytes(buf[pos + head : pos + head + n])
            pos += head + n
            if opcode == 0x9:  # ping -> pong
                self.transport.write(bytes([0x8A, 0x80 | n]) + b"\0\0\0\0" + payload)  # type: ignore[union-attr]
            elif opcode == 0x1:
                self._message(payload, now)
        del buf[:pos]

    def _message(self, payload: bytes, now: float) -> None:
        if not payload.startswith(b'{"type":"transfer_progress"'):
            if not self.ready.done() and b'"subscription_confirmed"' in payload:
                self.ready.set_result(None)
            return
        at = payload.find(b'"phase":"') + 9
        phase = payload[at : payload.find(b'"', at)].decode()
        self.counts[phase] += 1
        self.stats.last[phase] = now
        if self.sample:
            sched = json.loads(payload)["data"]["sched"]
            self.stats.latency[phase].append(now - sched)
            if self.stats.first[phase] is None or sched < self.stats.first[phase]:
                self.stats.first[phase] = sched


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.first: dict[str, float | None] = collections.defaultdict(lambda: None)
        self.last: dict[str, float] = collections.defaultdict(float)


async def measure(kind: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    cmd = [sys.executable, __file__, "--role", kind, "--subscribers", str(args.subscribers), "--rates",
           args.rates, "--seconds", str(args.seconds), "--burst", str(args.burst)]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()  # type: ignore[union-attr]
        assert line.startswith("READY"), line
        port = int(line.split()[1])
        loop = asyncio.get_running_loop()
        stats = Stats()
        subs: list[Subscriber] = []
        for i in range(args.subscribers):
            _, sub = await loop.create_connection(lambda i=i: Subscriber(kind == "hub", i % 10 == 0, stats),
                                                  "127.0.0.1", port)
            subs.append(sub)
        await asyncio.wait_for(asyncio.gather(*(s.ready for s in subs)), 60)
        phases = {f"r{r:g}": int(r * args.seconds) for r in rates(args)} | {"burst": args.burst}
        deadline = time.monotonic() + (args.seconds + 3) * len(phases) + args.wait
        while time.monotonic() < deadline:
            if all(s.counts["burst"] >= args.burst for s in subs):
                break
            await asyncio.sleep(0.05)
        for s in subs:
            s.transport.close()  # type: ignore[union-attr]
        out: dict[str, dict[str, float]] = {}
        for phase, n in phases.items():
            delivered = sum(min(s.counts[phase], n) for s in subs)
            span = stats.last[phase] - (stats.first[phase] or stats.last[phase])
            lat = sorted(stats.latency[phase])
            out[phase] = {
                "delivered": delivered / (n * args.subscribers),
                "eps": delivered / span if span > 0 else float("nan"),
                "p50_ms": statistics.median(lat) * 1000 if lat else float("nan"),
                "p99_ms": lat[int(len(lat) * 0.99)] * 1000 if lat else float("nan"),
            }
        return out
    finally:
        proc.terminate()
        await proc.wait()


async def main(args: argparse.Namespace) -> None:
    base = await measure("baseline", args)
    hub = await measure("hub", args)
    print(f"\n{args.subscribers} subscribers on 127.0.0.1; paced phases of {args.seconds:g} s at "
          f"{args.rates} events/s, then a burst of {args.burst} events; os.cpu_count()={os.cpu_count()}\n")
    print("| phase | measure | bare websockets broadcast | ipfs_kit_py hub | hub / baseline |")
    print("|---|---|---|---|---|")
    rows = [("delivered", "{:.1%}"), ("eps", "{:,.0f}"), ("p50_ms", "{:.1f}"), ("p99_ms", "{:.1f}")]
    names = {"delivered": "delivered", "eps": "events/s delivered", "p50_ms": "p50 latency (ms)",
             "p99_ms": "p99 latency (ms)"}
    for phase in base:
        label = "burst" if phase == "burst" else f"{phase[1:]} events/s"
        for key, fmt in rows:
            b, h = base[phase][key], hub[phase][key]
            ratio = h / b if b else float("nan")
            print(f"| {label} | {names[key]} | {fmt.format(b)} | {fmt.format(h)} | {ratio:.2f}x |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--rates", default="10,100", help="comma-separated paced rates (events/s)")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each paced phase")
    p.add_argument("--burst", type=int, default=200)
    p.add_argument("--wait", type=float, default=30.0, help="extra seconds to wait for late deliveries")
    p.add_argument("--role", choices=["hub", "baseline"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.role == "hub":
        asyncio.run(run_hub(a))
    elif a.role == "baseline":
        asyncio.run(run_baseline(a))
    else:
        asyncio.run(main(a))
