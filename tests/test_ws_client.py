"""The resuming notification client (ipfs_kit_py.client.notifications) and the seed's
snippet, against the real server over real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from conftest import ServerProcess, start_server
from ws_client_helpers import WSClient

from ipfs_kit_py.client.notifications import NotificationSubscription, subscribe, ws_url
from ipfs_kit_py.errors import ChannelUnavailable, InvalidArgument

pytestmark = pytest.mark.timeout(90)


# The seed's client snippet, verbatim (shared/seed: "Client-side WebSocket connection example")
async def connect_to_notifications(mcp_url):
    async with websockets.connect(f"ws://{mcp_url}/ws/notifications") as websocket:
        # Subscribe to specific notification types
        await websocket.send(json.dumps({
            "action": "subscribe",
            "notification_types": ["content_added", "content_removed", "transfer_progress"]
        }))

        # Receive notifications
        async for message in websocket:
            notification = json.loads(message)
            print(f"Received notification: {notification['type']}")
            # Process notification...


class Proxy:
    """A TCP relay on 127.0.0.1 whose connections the test can cut, like a network drop."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.accepting = True

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


async def wait_for(cond: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def assert_exactly_once(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gaps or duplicates: {seqs}"


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("tightq") / "repo",
                       env={"IPFS_KIT_WEBSOCKET_QUEUE_SIZE": "4", "IPFS_KIT_WEBSOCKET_STATUS_INTERVAL": "0"})
    try:
        yield srv
    finally:
        srv.stop()


def test_ws_url_forms() -> None:
    assert ws_url("http://localhost:8000") == "ws://localhost:8000/ws/notifications"
    assert ws_url("https://example.org/base/") == "wss://example.org/base/ws/notifications"
    assert ws_url("127.0.0.1:8000", "/ws") == "ws://127.0.0.1:8000/ws"
    with pytest.raises(InvalidArgument):
        ws_url("ftp://x")
    with pytest.raises(InvalidArgument):
        NotificationSubscription("ws://x", print, ["content_added", "no_such_type"])


async def test_seed_snippet_works_as_written(shared_server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(connect_to_notifications(shared_server.host_port))
    try:
        await wait_for(lambda: "subscription_confirmed" in capsys.readouterr().out or task.done(), 10)
        async with await WSClient.connect(shared_server.host_port) as ops:
            cid = await ops.add(os.urandom(100), "seed.txt")
            await ops.call("pin_rm", cid=cid)
        out = ""

        def seen() -> bool:
            nonlocal out
            out += capsys.readouterr().out
            return "content_removed" in out

        await wait_for(seen, 10)
        assert "Received notification: content_added\n" in out
        assert "Received notification: content_removed\n" in out
        assert "pin_status_changed" not in out  # not subscribed
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_exactly_once_across_dropped_connections(shared_server: ServerProcess) -> None:
    proxy = Proxy(shared_server.host_port)
    via = await proxy.start()
    got: list[dict[str, Any]] = []
    names = {f"drop-{i}-{os.urandom(4).hex()}": i for i in range(12)}
    sub = await subscribe(f"http://{via}", got.append, ["content_added"], {"name": list(names)},
                          min_backoff=0.05, max_backoff=0.2)
    try:
        async with await WSClient.connect(shared_server.host_port) as ops:
            for i, name in enumerate(names):
                await ops.add(name.encode(), name)
                if i % 4 == 3:
                    proxy.cut()  # the network drops; events keep happening
                    proxy.accepting = i != 7  # one reconnect attempt is refused as well
                    await asyncio.sleep(0.1)
                    proxy.accepting = True
            await wait_for(lambda: len(got) >= len(names))
        await asyncio.sleep(0.3)  # nothing more arrives (no duplicates)
        assert [e["data"]["name"] for e in got] == list(names)
        assert sub.connects >= 3 and sub.gaps == []
        assert sub.last_seq == got[-1]["seq"]
    finally:
        await sub.stop()
        await proxy.close()
    assert not sub.running


async def test_exactly_once_across_server_restart(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    srv = start_server(repo)
    port = int(srv.host_port.rsplit(":", 1)[1])
    got: list[dict[str, Any]] = []
    sub = await subscribe(srv.url, got.append, "all", min_backoff=0.05, max_backoff=0.3)
    try:
        async with await WSClient.connect(srv.host_port) as ops:
            first = await ops.add(b"before restart", "a")
        await wait_for(lambda: any(e["data"].get("cid") == first for e in got))
        srv.stop()  # clean stop: the node saves its replay buffer and sequence number
        srv = start_server(repo, port=port)
        async with await WSClient.connect(srv.host_port) as ops:
            second = await ops.add(b"after restart", "b")
        await wait_for(lambda: any(e["data"].get("cid") == second and e["type"] == "content_added" for e in got))
        assert_exactly_once(got)  # subscribed to everything: consecutive sequence numbers
        statuses = [e["data"]["status"] for e in got if e["type"] == "system_status"]
        assert statuses == ["stopping", "started"]  # "stopping" was replayed after the restart
        assert sub.connects == 2 and sub.gaps == []
    finally:
        await sub.stop()
        srv.stop()


async def test_gap_reported_after_crash(tmp_path: Path) -> None:
    """A killed server saves nothing: sequence numbers jump past the reserved block and a
    client resuming from before the crash is told about the gap."""
    repo = tmp_path / "repo"
    srv = start_server(repo)
    port = int(srv.host_port.rsplit(":", 1)[1])
    gaps: list[dict[str, Any]] = []
    got: list[dict[str, Any]] = []
    sub = await subscribe(srv.url, got.append, ["content_added"], on_gap=gaps.append,
                          min_backoff=0.05, max_backoff=0.3)
    try:
        async with await WSClient.connect(srv.host_port) as ops:
            await ops.add(b"before crash", "a")
        await wait_for(lambda: len(got) == 1)
        srv.proc.kill()
        srv.proc.wait(10)
        srv = start_server(repo, port=port)
        async with await WSClient.connect(srv.host_port) as ops:
            assert ops.welcome["last_seq"] > got[0]["seq"] + 500  # no number is ever reused
            await ops.add(b"after crash", "b")
        await wait_for(lambda: len(got) == 2)
        assert len(gaps) == 1 and gaps[0]["missed_from_seq"] == got[0]["seq"] + 1
        assert got[1]["seq"] > gaps[0]["missed_to_seq"]
    finally:
        await sub.stop()
        srv.stop()


async def test_stalled_callback_resumes_after_lagged(tight_server: ServerProcess) -> None:
    got: list[dict[str, Any]] = []
    gate = asyncio.Event()

    async def stalled_then_ok(event: dict[str, Any]) -> None:
        await gate.wait()  # the application stops consuming for a while
        got.append(event)

    sub = await subscribe(tight_server.url, stalled_then_ok, ["content_added"])
    n = 100
    try:
        async with await WSClient.connect(tight_server.host_port) as ops:
            # ~200 KB events: far more than the socket buffers and the server's
            # 4-event queue for this client hold
            for i in range(n):
                await ops.add(os.urandom(16), f"{i:04d}" + os.urandom(100_000).hex())
        gate.set()
        await wait_for(lambda: len(got) >= n)
        await asyncio.sleep(0.2)
        assert [int(e["data"]["name"][:4]) for e in got] == list(range(n))  # exactly once, in order
        assert sub.lags >= 1 and sub.connects == 1  # it lagged, and recovered on the same connection
    finally:
        await sub.stop()


async def test_stop_ends_delivery_and_start_fails_cleanly(shared_server: ServerProcess) -> None:
    got: list[dict[str, Any]] = []
    sub = await subscribe(shared_server.url, got.append, ["content_added"])
    await sub.stop()
    assert not sub.running
    async with await WSClient.connect(shared_server.host_port) as ops:
        await ops.add(os.urandom(32), "after-stop")
        await ops.assert_alive()
    await asyncio.sleep(0.2)
    assert got == []
    # nothing listening: a clear error, no background task left running
    with pytest.raises(ChannelUnavailable):
        await subscribe("http://127.0.0.1:9", print, open_timeout=0.5)


async def test_high_level_api_subscribe_to_notifications(shared_server: ServerProcess,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from ipfs_kit_py.high_level_api import IPFSSimpleAPI

    # the seed's lines, as written
    api = IPFSSimpleAPI(mcp_url=shared_server.url)
    await api.subscribe_to_notifications(callback=print)

    got: list[dict[str, Any]] = []
    sub = await api.subscribe_to_notifications(got.append, ["content_added"], {"name": "hl.txt"})
    async with await WSClient.connect(shared_server.host_port) as ops:
        cid = await ops.add(os.urandom(64), "hl.txt")
        await ops.add(os.urandom(64), "other.txt")
    await wait_for(lambda: len(got) == 1)
    assert got[0]["type"] == "content_added" and got[0]["data"]["cid"] == cid
    out = ""

    def printed() -> bool:
        nonlocal out
        out += capsys.readouterr().out
        return cid in out and "'content_added'" in out

    await wait_for(printed)
    await sub.stop()
    await api.close()  # ends the print subscription too
    assert not sub.running
