"""libp2p throughput, each figure against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_libp2p.py [--size-mib 256] [--kubo-mib 64] [--runs 2]

- content: ``/ipfs-kit/content/1.0.0`` push of a ``--size-mib`` file between two
  servers in separate processes (``POST /api/v0/libp2p/transfer``: every block
  read from the sender's blockstore, hashed by the receiver, stored, then the
  DAG pinned) vs a raw py-libp2p stream (pure trio, no bridge) carrying the
  same number of bytes between two processes, 256 KiB writes. Ratio target: 0.8.
- the same push again to the same node: the blocks are already stored, so the
  receiver verifies but writes nothing (the protocol without the disk).
- also the same bytes through ``IPFSLibp2pPeer``/``P2PStream`` on both ends (the
  trio thread + asyncio bridge every ipfs-kit protocol runs on), to separate
  the bridge's cost from the protocol's.
- bitswap from Kubo: our server fetches a ``--kubo-mib`` file Kubo added.
- bitswap to Kubo: Kubo (``Download``) fetches a file our server added.

Everything runs on 127.0.0.1 (Kubo configured for loopback before it starts).
Times are the best of ``--runs``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import start_server, stream_bytes  # noqa: E402
from kubo_helper import KuboProcess  # noqa: E402

# A raw py-libp2p receiver (TCP + Noise + yamux, trio only): counts bytes until EOF
# and answers the count. Prints its address and serves until stdin closes.
RAW_SINK = textwrap.dedent("""
    import sys, trio, multiaddr
    from libp2p import new_host
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.crypto.x25519 import create_new_key_pair as x25519
    from libp2p.network.stream.exceptions import StreamEOF
    from libp2p.security.noise.transport import PROTOCOL_ID, Transport

    async def main():
        kp = create_new_key_pair()
        host = new_host(key_pair=kp, sec_opt={PROTOCOL_ID: Transport(kp, noise_privkey=x25519().private_key)},
                        muxer_preference="YAMUX")
        async def sink(s):
            n = 0
            while True:
                try:
                    n += len(await s.read(1 << 20))
                except StreamEOF:
                    break
            await s.write(str(n).encode())
            await s.close()
        host.set_stream_handler("/bench/sink/1.0.0", sink)
        async with host.run([multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            print(host.get_addrs()[0], flush=True)
            await trio.to_thread.run_sync(sys.stdin.read)
    trio.run(main)
""")

RAW_SOURCE = textwrap.dedent("""
    import sys, time, trio, multiaddr
    from libp2p import new_host
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.crypto.x25519 import create_new_key_pair as x25519
    from libp2p.peer.peerinfo import info_from_p2p_addr
    from libp2p.security.noise.transport import PROTOCOL_ID, Transport

    async def main(addr, total):
        kp = create_new_key_pair()
        host = new_host(key_pair=kp, sec_opt={PROTOCOL_ID: Transport(kp, noise_privkey=x25519().private_key)},
                        muxer_preference="YAMUX")
        async with host.run([multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
            await host.connect(info)
            s = await host.new_stream(info.peer_id, ["/bench/sink/1.0.0"])
            buf = b"x" * (256 * 1024)
            t = time.perf_counter()
            sent = 0
            while sent < total:
                await s.write(buf[: total - sent])
                sent += min(len(buf), total - sent)
            await s.close()
            got = int(await s.read(100))
            dt = time.perf_counter() - t
            assert got == total, (got, total)
            print(dt, flush=True)
    trio.run(main, sys.argv[1], int(sys.argv[2]))
""")


BRIDGED_SINK = textwrap.dedent("""
    import asyncio, sys
    from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer

    async def main():
        peer = IPFSLibp2pPeer(role="master")
        async def sink(stream):
            n = 0
            while data := await stream.read_some(1 << 20):
                n += len(data)
            await stream.write(str(n).encode())
        peer.register_protocol_handler("/bench/sink/1.0.0", sink)
        await peer.start()
        print(peer.get_addrs()[0], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await peer.stop()
    asyncio.run(main())
""")


async def bridged_stream_seconds_async(addr: str, total: int) -> float:
    from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer

    async with IPFSLibp2pPeer() as peer:
        await peer.connect_to_peer(None, addr)
        stream = await peer.new_stream(addr.rsplit("/p2p/", 1)[1], "/bench/sink/1.0.0")
        buf = b"x" * (256 * 1024)
        t = time.perf_counter()
        sent = 0
        while sent < total:
            await stream.write(buf[: total - sent])
            sent += min(len(buf), total - sent)
        await stream.close()
        assert int(await stream.read(100)) == total
        return time.perf_counter() - t


def bridged_stream_seconds(total: int) -> float:
    """The same bytes through IPFSLibp2pPeer/P2PStream (trio thread + asyncio bridge) on both ends."""
    import asyncio

    sink = subprocess.Popen([sys.executable, "-c", BRIDGED_SINK], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        addr = sink.stdout.readline().strip()  # type: ignore[union-attr]
        return asyncio.run(bridged_stream_seconds_async(addr, total))
    finally:
        sink.stdin.close()  # type: ignore[union-attr]
        sink.wait(10)


def raw_stream_seconds(total: int) -> float:
    sink = subprocess.Popen([sys.executable, "-c", RAW_SINK], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        addr = sink.stdout.readline().strip()  # type: ignore[union-attr]
        out = subprocess.run([sys.executable, "-c", RAW_SOURCE, addr, str(total)], capture_output=True,
                             text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        sink.stdin.close()  # type: ignore[union-attr]
        sink.wait(10)


def add_file(url: str, path: Path) -> str:
    with open(path, "rb") as f:
        r = httpx.post(f"{url}/api/v0/add", files={"file": ("f", f)}, timeout=600)
    r.raise_for_status()
    return r.json()["Hash"]


def mbps(n: int, seconds: float) -> float:
    return n / seconds / 1e6


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-libp2p-"))
    try:
        run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--kubo-mib", type=int, default=64)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--no-kubo", action="store_true", help="skip the bitswap/Kubo part")
    args = ap.parse_args()
    size = args.size_mib << 20
    big = work / "big.bin"
    with open(big, "wb") as f:
        for i in range(0, size, 8 << 20):
            f.write(os.urandom(min(8 << 20, size - i)))

    print(f"raw py-libp2p stream, {args.size_mib} MiB, 2 processes ...", flush=True)
    raw = min(raw_stream_seconds(size) for _ in range(args.runs))
    print("the same bytes through our asyncio bridge (P2PStream) ...", flush=True)
    bridged = min(bridged_stream_seconds(size) for _ in range(args.runs))

    print("content protocol push between two servers ...", flush=True)
    a = start_server(work / "a")
    times: list[float] = []
    again: list[float] = []
    try:
        cid = add_file(a.url, big)
        for run in range(args.runs):
            b = start_server(work / f"b{run}", env={"IPFS_KIT_LIBP2P_ACCEPT_PUSH_FROM": "*"})
            try:
                peer_b = httpx.post(f"{b.url}/api/v0/id").json()["Addresses"][0]
                t = time.perf_counter()
                r = httpx.post(f"{a.url}/api/v0/libp2p/transfer", params={"arg": cid, "peer": peer_b}, timeout=600)
                times.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"transfer failed: {r.status_code} {r.text}")
                assert httpx.post(f"{b.url}/api/v0/pin/ls", params={"arg": cid}).status_code == 200
                # the same push again: every block is already on disk, so this isolates the
                # protocol (read, frame, send, verify) from the receiver's block writes
                t = time.perf_counter()
                r = httpx.post(f"{a.url}/api/v0/libp2p/transfer", params={"arg": cid, "peer": peer_b}, timeout=600)
                again.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"transfer failed: {r.status_code} {r.text}")
            finally:
                b.stop()
    finally:
        a.stop()
    content = min(times)
    content_again = min(again)

    print(f"raw py-libp2p stream      {mbps(size, raw):8.1f} MB/s  ({raw:.2f} s)")
    print(f"bridged stream (P2PStream){mbps(size, bridged):8.1f} MB/s  ({bridged:.2f} s)  ratio {raw / bridged:.2f}")
    print(f"content protocol push     {mbps(size, content):8.1f} MB/s  ({content:.2f} s, verify+store+pin)")
    print(f"  ratio to raw stream     {raw / content:8.2f}  (target 0.80)")
    print(f"same push, blocks stored  {mbps(size, content_again):8.1f} MB/s  ({content_again:.2f} s, no block writes)"
          f"  ratio {raw / content_again:.2f}", flush=True)
    if args.no_kubo:
        return
    print(f"bitswap with Kubo, {args.kubo_mib} MiB each way ...", flush=True)
    ksize = args.kubo_mib << 20
    kfile = work / "kubo.bin"
    kfile.write_bytes(os.urandom(ksize))
    ofile = work / "ours.bin"
    ofile.write_bytes(stream_bytes(ksize))
    kubo = KuboProcess(work / "kubo")
    ours = start_server(work / "ours")
    try:
        kcid = kubo.call("add", path=str(kfile))
        t = time.perf_counter()
        r = httpx.post(f"{ours.url}/api/v0/libp2p/bitswap/fetch", params={"arg": kcid, "peer": kubo.addr}, timeout=600)
        from_kubo = time.perf_counter() - t
        r.raise_for_status()
        ocid = add_file(ours.url, ofile)
        assert kubo.call("connect", addr=httpx.post(f"{ours.url}/api/v0/id").json()["Addresses"][0])
        t = time.perf_counter()
        assert kubo.call("download", cid=ocid, dest=str(work / "dl.bin")) is True
        to_kubo = time.perf_counter() - t
        assert (work / "dl.bin").stat().st_size == ksize
    finally:
        ours.stop()
        kubo.stop()

    print(f"bitswap from Kubo         {mbps(ksize, from_kubo):8.1f} MB/s  ({from_kubo:.2f} s)")
    print(f"bitswap to Kubo           {mbps(ksize, to_kubo):8.1f} MB/s  ({to_kubo:.2f} s)")


if __name__ == "__main__":
    main()
