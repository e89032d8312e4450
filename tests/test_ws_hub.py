"""The WebSocket hub over real sockets against the real server (conftest.start_server)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from conftest import ServerProcess, start_server
from ws_client_helpers import WSClient

from ipfs_kit_py.events import NotificationType

pytestmark = pytest.mark.timeout(60)

ALL_TYPES = [t.value for t in NotificationType]


def unique(tag: str) -> bytes:
    return f"{tag}-{os.urandom(8).hex()}".encode()


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Small per-connection queue, small cat limit, frequent system_status."""
    srv = start_server(tmp_path_factory.mktemp("tight") / "repo", env={
        "IPFS_KIT_WEBSOCKET_QUEUE_SIZE": "8",
        "IPFS_KIT_WEBSOCKET_MAX_CAT_SIZE": str(512 << 10),
        "IPFS_KIT_WEBSOCKET_STATUS_INTERVAL": "0.2",
    })
    try:
        yield srv
    finally:
        srv.stop()


# -- connection basics -------------------------------------------------------------------------
async def test_welcome_and_compression(shared_server: ServerProcess) -> None:
    async with await WSClient.connect(shared_server.host_port, "/ws/notifications") as c:
        w = c.welcome
        assert w["channel"] == "notifications" and w["protocol"] == 1
        assert w["notification_types"] == ALL_TYPES
        assert isinstance(w["last_seq"], int) and w["last_seq"] >= 1  # system_status "started" at least
        assert w["limits"]["max_message"] == 1 << 20
        assert "add" not in w["actions"]
        # permessage-deflate negotiated because the client offered it
        names = [type(e).__name__ for e in c.ws.protocol.extensions]
        assert names == ["PerMessageDeflate"]
        assert c.ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    async with await WSClient.connect(shared_server.host_port, "/ws", compression=None) as c:
        assert c.ws.protocol.extensions == []  # not offered: not used
        assert "add" in c.welcome["actions"] and "cat" in c.welcome["actions"]
        await c.assert_alive()


async def test_subscribe_filter_unsubscribe(shared_server: ServerProcess) -> None:
    hp = shared_server.host_port
    async with (
        await WSClient.connect(hp) as ops,
        await WSClient.connect(hp, "/ws/notifications") as everything,
        await WSClient.connect(hp, "/ws/notifications") as filtered,
    ):
        data_x, data_y = unique("x"), unique("y")
        # the CID is known before adding (only_hash), so the filter can name it
        cid_x = (await ops.call("add", content=base64.b64encode(data_x).decode(), only_hash=True))["cid"]
        conf = await everything.subscribe(["content_added", "no_such_type"])
        assert conf["notification_types"] == ["content_added"] and conf["invalid_types"] == ["no_such_type"]
        conf = await filtered.subscribe(["content_added"], filters={"cid": cid_x})
        assert conf["filters"] == {"cid": cid_x}

        assert await ops.add(data_y, "y.txt") != cid_x
        assert await ops.add(data_x, "x.txt") == cid_x
        got = await everything.events(2)
        assert [e["data"]["name"] for e in got] == ["y.txt", "x.txt"]
        assert [e["type"] for e in got] == ["content_added", "content_added"]
        assert got[1]["seq"] > got[0]["seq"]
        only = await filtered.events(1)
        assert only[0]["data"]["cid"] == cid_x and only[0]["seq"] == got[1]["seq"]
        await filtered.assert_alive()  # the "y" event never reached the filtered client

        await everything.send({"action": "unsubscribe", "id": "u"})
        msg = await everything.recv()
        assert msg == {"type": "unsubscribe_confirmed", "notification_types": [], "id": "u"}
        await ops.add(unique("z"), "z.txt")
        await everything.assert_alive()  # nothing delivered after unsubscribing

        # unsubscribing one type keeps the others
        await filtered.subscribe(["content_added", "pin_status_changed"])
        await filtered.send({"action": "unsubscribe", "notification_types": ["pin_status_changed"]})
        assert (await filtered.recv())["notification_types"] == ["content_added"]
        await ops.add(unique("w"), "w.txt")
        (ev,) = await filtered.events(1)
        assert ev["type"] == "content_added" and ev["data"]["name"] == "w.txt"
        await filtered.assert_alive()


async def test_every_content_event_from_its_real_cause(shared_server: ServerProcess) -> None:
    hp = shared_server.host_port
    async with await WSClient.connect(hp) as ops, await WSClient.connect(hp, "/ws/notifications") as sub:
        conf = await sub.subscribe("all")
        assert conf["notification_types"] == ALL_TYPES  # transfer, webrtc, peer types accepted too
        data = unique("events") * 2000  # several chunks
        cid = await ops.add(data, "events.bin")
        pin, added = await sub.events(2)
        assert pin["type"] == "pin_status_changed" and pin["data"] == {
            "cid": cid, "pinned": True, "type": "recursive", "previous": None}
        assert added["type"] == "content_added"
        assert added["data"]["cid"] == cid and added["data"]["size"] == len(data) and added["data"]["pinned"]
        assert added["data"]["name"] == "events.bin"

        await ops.call("pin_rm", cid=cid)
        unpin, removed = await sub.events(2)
        assert unpin["type"] == "pin_status_changed" and unpin["data"]["pinned"] is False
        assert unpin["data"]["previous"] == "recursive"
        assert removed["type"] == "content_removed" and removed["data"] == {"cid": cid, "reason": "unpinned"}

        gc = await ops.call("gc")
        assert gc["removed"]
        (collected,) = await sub.events(1)
        assert collected["type"] == "content_removed" and collected["data"] == {"cid": cid, "reason": "gc"}

        block = await ops.call("block_put", data=base64.b64encode(unique("block")).decode(), pin=True)
        (direct,) = await sub.events(1)
        assert direct["type"] == "pin_status_changed"
        assert direct["data"]["cid"] == block["cid"] and direct["data"]["type"] == "direct"

        # system_status: emitted by the hub when the server started (replayable)
        history = await sub.request("get_history", notification_types=["system_status"], since=0, limit=1000)
        statuses = [e["data"]["status"] for e in history["events"]]
        assert statuses[0] == "started"
        assert history["events"][0]["data"]["uptime"] >= 0


async def test_events_from_http_add_and_car_import(shared_server: ServerProcess) -> None:
    """The same events whichever channel causes the change: HTTP add, CAR export/import."""
    hp, url = shared_server.host_port, shared_server.url
    data = unique("http") * 100
    async with (
        await WSClient.connect(hp) as ops,
        await WSClient.connect(hp, "/ws/notifications") as sub,
        httpx.AsyncClient(timeout=30) as http,
    ):
        cid = (await ops.call("add", content=base64.b64encode(data).decode(), only_hash=True))["cid"]
        await sub.subscribe("all", filters={"cid": cid})
        r = await http.post(f"{url}/api/v0/add", files={"file": ("http.txt", data)})
        assert r.status_code == 200 and json.loads(r.text.splitlines()[-1])["Hash"] == cid
        pin, added = await sub.events(2)
        assert pin["type"] == "pin_status_changed" and added["type"] == "content_added"
        assert added["data"]["name"] == "http.txt" and added["data"]["size"] == len(data)

        car = (await http.post(f"{url}/api/v0/dag/export", params={"arg": cid})).content
        assert (await ops.call("pin_rm", cid=cid))["pins"] == [cid]
        await ops.call("gc")
        assert [e["type"] for e in await sub.events(3)] == ["pin_status_changed", "content_removed",
                                                            "content_removed"]
        r = await http.post(f"{url}/api/v0/dag/import", files={"file": ("x.car", car)})
        assert r.status_code == 200, r.text
        # the HTTP import stores the blocks, then pins each root (as Kubo does) and announces it
        pin, added = await sub.events(2)
        assert pin["type"] == "pin_status_changed" and pin["data"]["pinned"] is True
        assert pin["data"]["cid"] == cid and pin["data"]["previous"] is None
        assert added["type"] == "content_added" and added["data"]["cid"] == cid
        assert added["data"]["size"] == len(data)
        await sub.assert_alive()


async def test_system_status_periodic(tight_server: ServerProcess) -> None:
    hp = tight_server.host_port
    async with await WSClient.connect(hp, "/ws/notifications") as sub, await WSClient.connect(hp) as _other:
        await sub.subscribe(["system_status"])
        (ev,) = await sub.events(1, timeout=5)
        if ev["data"]["subscribers"] == 0:  # counted while the subscription was on its way: the next one counts it
            (ev,) = await sub.events(1, timeout=5)
        assert ev["data"]["status"] == "running"
        assert ev["data"]["connections"] == {"notifications": 1, "general": 1}
        assert ev["data"]["subscribers"] == 1
        assert ev["data"]["repo"]["objects"] >= 0


async def test_get_history_and_ping(shared_server: ServerProcess) -> None:
    async with await WSClient.connect(shared_server.host_port) as c:
        cid = await c.add(unique("hist"), "hist.txt")
        h = await c.request("get_history", notification_types=["content_added"], filters={"cid": cid}, limit=10)
        assert h["type"] == "history" and [e["data"]["cid"] for e in h["events"]] == [cid]
        assert h["last_seq"] >= h["events"][0]["seq"] >= h["oldest_seq"]
        h2 = await c.request("get_history", since=h["events"][0]["seq"], notification_types=["content_added"],
                             filters={"cid": cid})
        assert h2["events"] == []
        pong = await c.request("ping")
        assert pong["type"] == "pong" and abs(pong["timestamp"] - time.time()) < 5


# -- the general channel ------------------------------------------------------------------------
async def test_general_channel_operations(shared_server: ServerProcess) -> None:
    async with await WSClient.connect(shared_server.host_port) as c:
        data = os.urandom(600_000)  # three binary frames of at most 256 KiB
        cid = await c.add(data, "blob.bin")
        st = await c.call("stat", cid=cid)
        assert st["cid"] == cid and st["size"] == len(data) and st["type"] == "file"  # the registry's typed shape

        await c.send({"id": "cat-1", "action": "cat", "cid": cid})
        head = await c.recv()
        assert head == {"type": "content", "id": "cat-1", "action": "cat", "cid": cid, "size": len(data)}
        got = b""
        while len(got) < len(data):
            frame = await c.recv_raw()
            assert isinstance(frame, bytes)
            got += frame
        assert got == data
        assert await c.recv() == {"type": "result", "action": "cat", "result": {"cid": cid, "size": len(data)},
                                  "id": "cat-1"}
        # a range, and the inline (base64) form shared with libp2p
        await c.send({"id": 2, "action": "cat", "cid": cid, "offset": 10, "length": 5})
        assert (await c.recv())["size"] == 5
        assert await c.recv_raw() == data[10:15]
        assert (await c.recv())["type"] == "result"
        content = await c.call("get_content", cid=cid)
        assert base64.b64decode(content["content"]) == data and content["size"] == len(data)

        assert (await c.call("pin_ls", cid=cid))["pins"] == [{"cid": cid, "type": "recursive", "name": ""}]
        md = await c.call("metadata_set", cid=cid, values={"title": "blob"})
        assert md["user"] == {"title": "blob"} and md["name"] == "blob.bin"
        assert (await c.call("metadata_get", cid=cid))["user"] == {"title": "blob"}
        assert (await c.call("ls", cid=cid))["links"]  # a chunked file has links
        blk = await c.call("block_put", data=base64.b64encode(b"raw block").decode())
        assert base64.b64decode((await c.call("block_get", cid=blk["cid"]))["data"]) == b"raw block"
        assert (await c.call("version"))["version"]
        assert "pin_add" in (await c.call("id"))["operations"]

        # operation errors carry the request id and keep the connection
        err = await c.request("stat", cid="not-a-cid")
        assert err["type"] == "error" and err["code"] == "invalid_cid"
        err = await c.request("stat", cid="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
        assert err["type"] == "error" and err["code"] in ("not_found", "block_not_found")
        err = await c.request("pin_rm", cid=blk["cid"])
        assert err["code"] == "not_found"
        err = await c.request("add", content="***")
        assert err["code"] == "invalid_argument" and "base64" in err["message"]
        await c.assert_alive()


async def test_cat_size_limit(tight_server: ServerProcess) -> None:
    async with await WSClient.connect(tight_server.host_port) as c:
        cid = await c.add(os.urandom((512 << 10) + 1), "big.bin")
        err = await c.request("cat", cid=cid)
        assert err["type"] == "error" and err["code"] == "limit_exceeded"
        await c.assert_alive()


# -- bad input -----------------------------------------------------------------------------------
BAD_MESSAGES = [
    ("{not json", "invalid_json"),
    ("[1, 2]", "invalid_message"),
    ('"subscribe"', "invalid_message"),
    ('{"id": 1}', "invalid_message"),
    ('{"action": 5}', "invalid_message"),
    ('{"action": "subscribe", "id": {"a": 1}}', "invalid_message"),
    ('{"action": "fly_to_the_moon", "id": 7}', "unknown_action"),
    ('{"action": "subscribe", "notification_types": ["nope"]}', "invalid_types"),
    ('{"action": "subscribe", "notification_types": 5}', "invalid_message"),
    ('{"action": "subscribe", "since": "yesterday"}', "invalid_message"),
    ('{"action": "subscribe", "since": -1}', "invalid_message"),
    ('{"action": "subscribe", "since": true}', "invalid_message"),
    ('{"action": "subscribe", "filters": ["cid"]}', "invalid_message"),
    ('{"action": "subscribe", "filters": {"cid": {"$ne": 1}}}', "invalid_message"),
    ('{"action": "subscribe", "colour": "red"}', "invalid_message"),
    ('{"action": "unsubscribe", "notification_types": ["nope"]}', "invalid_types"),
    ('{"action": "get_history", "limit": 0}', "invalid_message"),
    ('{"action": "get_history", "limit": "ten"}', "invalid_message"),
    ('{"action": "ping", "extra": 1}', "invalid_message"),
    ('{"action": "stat", "id": 3, "cid": 42}', "invalid_argument"),
    ('{"action": "stat", "id": 4, "cid": "QmX", "depth": 2}', "invalid_argument"),
    ('{"action": "add", "id": 5}', "invalid_argument"),
]


async def test_bad_input_gets_error_and_connection_stays(shared_server: ServerProcess) -> None:
    async with await WSClient.connect(shared_server.host_port) as c:
        for text, code in BAD_MESSAGES:
            await c.send(text)
            msg = await c.recv()
            assert msg["type"] == "error" and msg["code"] == code, (text, msg)
            assert msg["message"]
            sent = json.loads(text) if code != "invalid_json" else None
            if isinstance(sent, dict) and isinstance(sent.get("id"), int):
                assert msg["id"] == sent["id"]
        await c.send(b"\x00binary")
        assert (await c.recv())["code"] == "invalid_message"
        await c.assert_alive()
    # operations are not offered on the notifications route
    async with await WSClient.connect(shared_server.host_port, "/ws/notifications") as n:
        err = await n.request("stat", cid="QmX")
        assert err["code"] == "unknown_action" and "/ws" in err["message"]
        await n.assert_alive()


async def test_message_size_limit_closes_with_1009(shared_server: ServerProcess) -> None:
    limit = 1 << 20
    async with await WSClient.connect(shared_server.host_port, max_size=None) as c:
        # exactly at the limit: accepted (and answered: the field is unknown)
        pad = "x" * (limit - len('{"action":"ping","pad":""}'))
        await c.send('{"action":"ping","pad":"' + pad + '"}')
        assert (await c.recv())["code"] == "invalid_message"
        await c.assert_alive()
        # one byte over: closed with 1009 (message too big)
        await c.send('{"action":"ping","pad":"' + pad + 'x"}')
        with pytest.raises(websockets.ConnectionClosed):
            await c.recv()
        assert c.ws.close_code == 1009
    # the server is fine afterwards
    async with await WSClient.connect(shared_server.host_port) as c:
        await c.assert_alive()


async def test_client_vanishing_mid_send_leaves_nothing(tight_server: ServerProcess) -> None:
    hp = tight_server.host_port
    async with await WSClient.connect(hp, "/ws/notifications") as watcher:
        async with await WSClient.connect(hp) as ops:
            cid = await ops.add(os.urandom(500_000), "vanish.bin")
        for _ in range(5):
            c = await WSClient.connect(hp)
            await c.subscribe("all")
            await c.send({"id": 1, "action": "cat", "cid": cid})
            await c.send({"id": 2, "action": "get_content", "cid": cid})
            await asyncio.sleep(0.01)
            c.ws.transport.abort()  # gone without a close frame, mid-reply
        await watcher.subscribe(["system_status"])
        deadline = time.monotonic() + 10
        while True:
            (ev,) = await watcher.events(1)
            if ev["data"]["connections"] == {"notifications": 1}:
                assert ev["data"]["subscribers"] == 1
                break
            assert time.monotonic() < deadline, ev
    log = tight_server.log.read_text()
    assert "Exception in ASGI application" not in log and "Traceback" not in log


# -- slow subscribers ------------------------------------------------------------------------------
async def _stalled_client(hp: str) -> websockets.ClientConnection:
    """A client that subscribes and then never reads: tiny receive buffer, no compression."""
    host, port = hp.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    ws = await websockets.connect(f"ws://{hp}/ws/notifications", sock=sock, compression=None, max_queue=1)
    assert json.loads(await ws.recv())["type"] == "welcome"
    await ws.send(json.dumps({"action": "subscribe", "notification_types": ["content_added"]}))
    assert json.loads(await ws.recv())["type"] == "subscription_confirmed"
    return ws


async def test_stalled_subscriber_does_not_delay_healthy_one(tight_server: ServerProcess) -> None:
    hp = tight_server.host_port
    stalled = await _stalled_client(hp)
    n = 300
    long_name = "n" * 16000  # ~16 KB per event: fills the stalled socket's buffers quickly
    added_at: dict[str, float] = {}
    received_at: dict[str, float] = {}
    try:
        async with await WSClient.connect(hp, "/ws/notifications") as healthy, await WSClient.connect(hp) as ops:
            await healthy.subscribe(["content_added"])

            async def read_healthy() -> list[int]:
                seqs = []
                while len(seqs) < n:
                    msg = await healthy.recv()
                    if msg["type"] == "content_added":
                        received_at[msg["data"]["cid"]] = time.monotonic()
                        seqs.append(msg["seq"])
                    else:
                        assert msg["type"] != "lagged", msg
                return seqs

            reader = asyncio.create_task(read_healthy())
            for i in range(n):
                cid = await ops.add(f"stall-{i}-{os.urandom(4).hex()}".encode(), f"{long_name}{i}")
                added_at[cid] = time.monotonic()
            seqs = await asyncio.wait_for(reader, 20)
            assert seqs == sorted(seqs) and len(set(seqs)) == n
            delays = sorted(received_at[c] - added_at[c] for c in added_at)
            assert delays[-1] < 1.0, f"healthy subscriber delayed up to {delays[-1]:.3f}s"

        # the stalled one now reads: some events, then `lagged` with the first missed seq
        got: list[int] = []
        lag = None
        while lag is None:
            try:
                msg = json.loads(await asyncio.wait_for(stalled.recv(), 5))
            except TimeoutError:
                raise AssertionError(f"no lagged after {len(got)} events") from None
            if msg["type"] == "lagged":
                lag = msg
            else:
                assert msg["type"] == "content_added"
                got.append(msg["seq"])
        assert lag["queue_size"] == 8 and lag["first_missed_seq"] > (got[-1] if got else 0)
        assert len(got) < n
        # it resumes from there (replayed in batches of at most queue_size, each ending with lagged)
        since = lag["first_missed_seq"] - 1
        await stalled.send(json.dumps({"action": "subscribe", "notification_types": ["content_added"],
                                       "since": since}))
        while len(got) < n:
            msg = json.loads(await asyncio.wait_for(stalled.recv(), 10))
            if msg["type"] == "lagged":
                await stalled.send(json.dumps({"action": "subscribe", "notification_types": ["content_added"],
                                               "since": got[-1]}))
            elif msg["type"] == "content_added":
                got.append(msg["seq"])
        assert got == seqs  # every event exactly once, in order
    finally:
        stalled.transport.abort()


# -- resumption ----------------------------------------------------------------------------------------
async def test_resume_after_dropped_connection(shared_server: ServerProcess) -> None:
    hp = shared_server.host_port
    names = [f"resume-{i}-{os.urandom(4).hex()}" for i in range(6)]
    flt = {"name": names}
    async with await WSClient.connect(hp) as ops:
        sub = await WSClient.connect(hp, "/ws/notifications")
        await sub.subscribe(["content_added"], filters=flt)
        await ops.add(names[0].encode(), names[0])
        await ops.add(names[1].encode(), names[1])
        first = await sub.events(2)
        sub.ws.transport.abort()  # the connection drops
        for name in names[2:5]:
            await ops.add(name.encode(), name)
        sub = await WSClient.connect(hp, "/ws/notifications")
        await sub.subscribe(["content_added"], filters=flt, since=first[-1]["seq"])
        missed = await sub.events(3)
        assert [e["data"]["name"] for e in missed] == names[2:5]
        await ops.add(names[5].encode(), names[5])
        (live,) = await sub.events(1)
        assert live["data"]["name"] == names[5]
        seqs = [e["seq"] for e in first + missed + [live]]
        assert seqs == sorted(set(seqs))
        await sub.assert_alive()  # no duplicates queued
        await sub.close()


async def test_resume_gap_when_buffer_too_small(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "repo", env={"IPFS_KIT_EVENTS_REPLAY_SIZE": "5",
                                               "IPFS_KIT_WEBSOCKET_STATUS_INTERVAL": "0"})
    try:
        async with await WSClient.connect(srv.host_port) as ops:
            start = ops.welcome["last_seq"]
            for i in range(6):  # 12 events: 6 pins + 6 content_added
                await ops.add(f"gap-{i}".encode(), f"gap-{i}")
            async with await WSClient.connect(srv.host_port, "/ws/notifications") as sub:
                assert sub.welcome["oldest_seq"] == start + 12 - 5 + 1
                await sub.subscribe("all", since=start)
                gap = await sub.recv()
                assert gap == {"type": "resume_gap", "since": start, "first_available_seq": start + 8,
                               "missed_from_seq": start + 1, "missed_to_seq": start + 7, "last_seq": start + 12}
                replay = await sub.events(5)
                assert [e["seq"] for e in replay] == list(range(start + 8, start + 13))
                # within the buffer: no gap message
                await sub.subscribe("all", since=start + 10)
                assert [e["seq"] for e in await sub.events(2)] == [start + 11, start + 12]
                await sub.assert_alive()
    finally:
        srv.stop()


async def test_client_that_stops_reading_is_dropped_after_send_timeout(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "repo", env={"IPFS_KIT_WEBSOCKET_QUEUE_SIZE": "8",
                                               "IPFS_KIT_WEBSOCKET_SEND_TIMEOUT": "1",
                                               "IPFS_KIT_WEBSOCKET_STATUS_INTERVAL": "0.3"})
    stalled = await _stalled_client(srv.host_port)
    try:
        async with await WSClient.connect(srv.host_port) as ops:
            async with await WSClient.connect(srv.host_port, "/ws/notifications") as watcher:
                await watcher.subscribe(["system_status"])
                for i in range(300):  # enough ~16 KB events to fill every buffer on the way
                    await ops.add(os.urandom(8), "d" * 16000 + str(i))
                deadline = time.monotonic() + 15
                while True:
                    (ev,) = await watcher.events(1)
                    if ev["data"]["connections"] == {"general": 1, "notifications": 1}:
                        break  # the stalled connection is gone from the hub
                    assert time.monotonic() < deadline, ev
                await ops.assert_alive()
        # when it reads again it gets what was already sent, then the stream ends without a close frame
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(stalled.recv(), 10)
        assert stalled.close_code == 1006
        assert "Exception in ASGI application" not in srv.log.read_text()
    finally:
        stalled.transport.abort()
        srv.stop()


async def test_protocol_keepalive_pings_and_drops_silent_client(tmp_path: Path) -> None:
    """The server pings; a client that never answers gets close code 1011."""
    srv = start_server(tmp_path / "repo", env={"IPFS_KIT_WEBSOCKET_PING_INTERVAL": "0.2",
                                               "IPFS_KIT_WEBSOCKET_PING_TIMEOUT": "0.5"})
    try:
        host, port = srv.host_port.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(f"GET /ws/notifications HTTP/1.1\r\nHost: {srv.host_port}\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101")
        opcodes = []
        while True:  # read frames (server frames are unmasked), never answering pings
            b0, b1 = await asyncio.wait_for(reader.readexactly(2), 5)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            payload = await reader.readexactly(n)
            opcodes.append(b0 & 0x0F)
            if b0 & 0x0F == 0x8:
                break
        assert opcodes[0] == 0x1 and 0x9 in opcodes  # welcome (text), then a ping
        assert int.from_bytes(payload[:2], "big") == 1011
        writer.close()
    finally:
        srv.stop()


def test_seed_websocket_manager_without_arguments(tmp_path, monkeypatch) -> None:
    """The seed's initialize_websockets() writes WebSocketManager(): it opens the default repo."""
    from ipfs_kit_py.mcp.ws_hub import WebSocketManager

    monkeypatch.setenv("IPFS_KIT_PATH", str(tmp_path / "default-repo"))
    manager = WebSocketManager()
    try:
        assert manager.node.repo.path == tmp_path / "default-repo" and manager.connections == {}
        assert manager.status()["connections"] == {}
    finally:
        manager.node.close()
