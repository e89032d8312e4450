"""IPFSLibp2pPeer: two peers in separate processes over TCP + Noise + yamux on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer, PeerError, StreamResetError

ROOT = Path(__file__).resolve().parent.parent

# A peer in its own process: echoes the sha256 of what it reads, prints its
# first address, and stops when its stdin closes.
CHILD = textwrap.dedent("""
    import asyncio, hashlib, sys
    from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer

    async def main():
        peer = IPFSLibp2pPeer(role="master", identity_dir=sys.argv[1])

        async def digest(stream):
            data = await stream.read()
            await stream.write(hashlib.sha256(data).hexdigest().encode() + b" " + str(len(data)).encode())

        peer.register_protocol_handler("/test/digest/1.0.0", digest)
        await peer.start()
        print(peer.get_addrs()[0], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await peer.stop()

    asyncio.run(main())
""")


class Child:
    def __init__(self, identity: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, str(identity)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
        if not line:
            self.stop()
            raise RuntimeError("child peer did not start")
        self.addr = line
        self.peer_id = line.rsplit("/p2p/", 1)[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Child]:
    c = Child(tmp_path / "child-id")
    try:
        yield c
    finally:
        c.stop()


async def test_stream_between_processes(child: Child) -> None:
    peer = IPFSLibp2pPeer(role="leecher")  # the host starts on first use, as in the seed
    try:
        async with asyncio.timeout(30):
            await peer.connect_to_peer(child.peer_id, child.addr)
            assert child.peer_id in peer.get_connected_peers()
            payload = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4: several yamux frames
            stream = await peer.new_stream(child.peer_id, "/test/digest/1.0.0")
            # one write of 768 KiB: three times the initial window, so the writer waits for
            # credit (compat.yamux wakes it when credit comes); then 256 KiB writes
            await stream.write(payload[:768 * 1024])
            for i in range(768 * 1024, len(payload), 256 * 1024):
                await stream.write(payload[i:i + 256 * 1024])
            await stream.close()
            answer = await stream.read(1000)
            assert answer == hashlib.sha256(payload).hexdigest().encode() + f" {len(payload)}".encode()
            assert await stream.read(10) == b""  # EOF after the answer
    finally:
        await peer.stop()


async def test_unknown_protocol_and_unreachable_peer(child: Child) -> None:
    async with IPFSLibp2pPeer(role="leecher") as peer, asyncio.timeout(30):
        await peer.connect_to_peer(None, child.addr)  # the ID may come from the /p2p/ suffix
        with pytest.raises(PeerError):
            await peer.new_stream(child.peer_id, "/test/nobody-speaks-this/1.0.0")
        # the connection survives a refused protocol
        stream = await peer.new_stream(child.peer_id, "/test/digest/1.0.0")
        await stream.write(b"x")
        await stream.close()
        assert (await stream.read(1000)).endswith(b" 1")
        port = child.addr.split("/tcp/")[1].split("/")[0]
        child.stop()
        other = IPFSLibp2pPeer(role="leecher")
        with pytest.raises(PeerError):
            await other.connect_to_peer(other.get_id(), f"/ip4/127.0.0.1/tcp/{port}", timeout=5)
        await other.stop()


async def test_identity_survives_restart(tmp_path: Path) -> None:
    ident = tmp_path / "id"
    first = Child(ident)
    first.stop()
    second = Child(ident)
    second.stop()
    assert first.peer_id == second.peer_id
    assert (ident / "libp2p_identity.key").stat().st_mode & 0o077 == 0
    assert IPFSLibp2pPeer(identity_dir=ident).get_id() == first.peer_id
    assert IPFSLibp2pPeer().get_id() != first.peer_id


async def test_handler_error_resets_only_that_stream(tmp_path: Path) -> None:
    server = IPFSLibp2pPeer(role="worker")

    async def broken(stream):  # noqa: ANN001
        await stream.read_some()
        raise RuntimeError("handler bug")

    async def ok(stream):  # noqa: ANN001
        await stream.write(await stream.read())

    server.register_protocol_handler("/test/broken/1", broken)
    server.register_protocol_handler("/test/ok/1", ok)
    client = IPFSLibp2pPeer(role="leecher")
    try:
        async with asyncio.timeout(30):
            await server.start()
            await client.connect_to_peer(server.get_id(), server.get_addrs()[0])
            bad = await client.new_stream(server.get_id(), "/test/broken/1")
            await bad.write(b"hello")
            try:
                leftover = await bad.read()
            except StreamResetError:
                leftover = b""
            assert leftover == b""  # no answer: the stream was reset
            good = await client.new_stream(server.get_id(), "/test/ok/1")
            await good.write(b"still fine")
            await good.close()
            assert await good.read() == b"still fine"
    finally:
        await client.stop()
        await server.stop()


def test_roles_are_checked() -> None:
    with pytest.raises(ValueError):
        IPFSLibp2pPeer(role="boss")


def test_seed_server_snippet_from_sync_code() -> None:
    # the seed's initialize_libp2p(): plain calls, no event loop of its own
    peer = IPFSLibp2pPeer(role="master", bootstrap_peers=[])
    peer.start_discovery()

    async def handle_mcp_protocol(stream):  # noqa: ANN001
        await stream.write(b"hello " + await stream.read())

    peer.register_protocol_handler("/ipfs-kit/mcp/1.0.0", handle_mcp_protocol)
    assert peer.get_id().startswith("12D3KooW") and peer.get_addrs()

    async def client() -> bytes:
        async with IPFSLibp2pPeer() as other:
            await other.connect_to_peer(peer.get_id(), peer.get_addrs()[0])
            stream = await other.new_stream(peer.get_id(), "/ipfs-kit/mcp/1.0.0")
            await stream.write(b"sync")
            await stream.close()
            return await stream.read()

    try:
        assert asyncio.run(asyncio.wait_for(client(), 30)) == b"hello sync"
    finally:
        peer.stop_blocking()
