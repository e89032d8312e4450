"""Pubsub bridged to the live channels (issue 15): a /ws subscription to
``pubsub_message`` with a ``topic`` filter receives the topic's gossipsub messages
as events, and ``pubsub_pub`` on /ws reaches libp2p peers: between two of our
nodes, and with a current Kubo daemon (Pubsub.Enabled). Real servers, real sockets."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ServerProcess, start_server
from kubo_daemon import KUBO, KuboDaemon
from test_pubsub_kubo import Subscriber, mb, unmb
from ws_client_helpers import WSClient

TOPIC = "ipfs-kit-live"


def api(srv: ServerProcess, path: str, **params: Any) -> Any:
    r = httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def peer_id(srv: ServerProcess) -> str:
    return api(srv, "id")["ID"]


def libp2p_addr(srv: ServerProcess) -> str:
    info = api(srv, "id")
    return next(a for a in info["Addresses"] if a.startswith("/ip4/127.0.0.1/"))


async def wait_for(cond: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(cond):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


def sees_on_topic(srv: ServerProcess, other: str) -> bool:
    return other in api(srv, "pubsub/peers", arg=mb(TOPIC))["Strings"]


async def next_message(ws: WSClient, timeout: float = 30) -> dict[str, Any]:
    """The next pubsub_message event (other messages are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.recv(max(0.1, deadline - time.monotonic()))
        if msg.get("type") == "pubsub_message":
            return msg["data"]


async def subscribe_topic(ws: WSClient, topic: str = TOPIC) -> None:
    await ws.subscribe(["pubsub_message"], filters={"topic": topic})


@pytest.fixture
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    base = tmp_path_factory.mktemp("pubsub-ws")
    a = start_server(base / "a", timeout=120)
    b = start_server(base / "b", timeout=120)
    try:
        api(b, "swarm/connect", arg=libp2p_addr(a))
        yield a, b
    finally:
        a.stop()
        b.stop()


async def test_ws_subscribers_on_two_nodes_exchange_messages(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = nodes
    a_id, b_id = peer_id(a), peer_id(b)
    async with await WSClient.connect(a.host_port) as wa, await WSClient.connect(b.host_port) as wb:
        assert api(a, "pubsub/ls") == {"Strings": []}
        await subscribe_topic(wa)
        await subscribe_topic(wb)
        # the subscription subscribed the node itself (Kubo's pubsub/ls sees it)
        assert api(a, "pubsub/ls") == {"Strings": [mb(TOPIC)]}
        await wait_for(lambda: sees_on_topic(a, b_id) and sees_on_topic(b, a_id), "the nodes never met on the topic")

        reply = await wa.call("pubsub_pub", topic=TOPIC, data=base64.b64encode(b"from a over /ws").decode())
        assert reply == {"topic": TOPIC, "size": 15}
        got = await next_message(wb)
        assert got["topic"] == TOPIC and got["from"] == a_id and base64.b64decode(got["data"]) == b"from a over /ws"
        assert got["topics"] == [TOPIC] and len(bytes.fromhex(got["seqno"])) == 8
        mine = await next_message(wa)  # the publisher's own subscription sees its message too, once
        assert mine["from"] == a_id and mine["seqno"] == got["seqno"]

        await wb.call("pubsub_pub", topic=TOPIC, data=base64.b64encode(b"\x00\xffbinary").decode())
        got = await next_message(wa)
        assert got["from"] == b_id and base64.b64decode(got["data"]) == b"\x00\xffbinary"

        # a message on another topic is not delivered to this subscription
        await wb.call("pubsub_pub", topic="elsewhere", data=base64.b64encode(b"x").decode())
        await wb.call("pubsub_pub", topic=TOPIC, data=base64.b64encode(b"after").decode())
        assert base64.b64decode((await next_message(wa))["data"]) == b"after"

        # unsubscribing releases the topic: the node leaves it
        await wa.send({"action": "unsubscribe", "id": 9})
        while (await wa.recv()).get("id") != 9:
            pass
        assert api(a, "pubsub/ls") == {"Strings": []}
    # closing the connection releases it too
    await wait_for(lambda: api(b, "pubsub/ls") == {"Strings": []}, "b kept the topic after its /ws closed")


@pytest.fixture
def server(tmp_path: Any) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path / "repo", timeout=120)
    try:
        yield srv
    finally:
        srv.stop()


async def test_topic_limits_and_bad_requests(server: ServerProcess) -> None:
    async with await WSClient.connect(server.host_port) as ws, await WSClient.connect(server.host_port) as other:
        await ws.send({"action": "subscribe", "id": 1, "notification_types": ["pubsub_message"],
                       "filters": {"topic": [f"t{i}" for i in range(33)]}})
        msg = await ws.recv()
        assert msg["type"] == "error" and msg["code"] == "limit_exceeded" and "max_pubsub_topics" in msg["message"]
        assert api(server, "pubsub/ls") == {"Strings": []}  # refused whole: no topic left held
        # two connections holding one topic: it stays subscribed until both let go
        await subscribe_topic(ws, "shared")
        await subscribe_topic(other, "shared")
        assert api(server, "pubsub/ls") == {"Strings": [mb("shared")]}
        await other.subscribe(["content_added"])  # replaces its subscription: releases its hold
        assert api(server, "pubsub/ls") == {"Strings": [mb("shared")]}
        reply = await ws.request("pubsub_pub", topic="shared", data="not base64!")
        assert reply["type"] == "error" and reply["code"] == "invalid_argument"
    await wait_for(lambda: api(server, "pubsub/ls") == {"Strings": []}, "the topic outlived its subscribers")


@pytest.mark.skipif(KUBO is None, reason="Kubo binary not found (scripts/kubo.sh builds it)")
async def test_ws_and_kubo_exchange_messages(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("pubsub-ws-kubo")
    kubo = KuboDaemon(base / "kubo", config={("Pubsub", "Enabled"): True})
    ours = start_server(base / "ours", timeout=120)
    kubo_sub: Subscriber | None = None
    try:
        api(ours, "swarm/connect", arg=kubo.full_addr)
        our_id = peer_id(ours)
        kubo_sub = Subscriber(kubo.api, TOPIC)
        async with await WSClient.connect(ours.host_port) as ws:
            await subscribe_topic(ws)
            await wait_for(lambda: sees_on_topic(ours, kubo.peer_id), "we never saw Kubo on the topic")
            await wait_for(lambda: our_id in (kubo.rpc("pubsub/peers", arg=mb(TOPIC)).json().get("Strings") or []),
                           "Kubo never saw us on the topic")
            # Kubo -> our /ws
            r = await asyncio.to_thread(kubo.rpc, "pubsub/pub", arg=mb(TOPIC), files={"data": ("d", b"hi from kubo")})
            assert r.status_code == 200, r.text
            got = await next_message(ws)
            assert got["from"] == kubo.peer_id and base64.b64decode(got["data"]) == b"hi from kubo"
            # our /ws -> Kubo
            await ws.call("pubsub_pub", topic=TOPIC, data=base64.b64encode(b"hi from /ws").decode())
            m = await asyncio.to_thread(kubo_sub.get)
            if m["from"] == kubo.peer_id:  # Kubo's own message reaches its own subscriber first
                m = await asyncio.to_thread(kubo_sub.get)
            assert m["from"] == our_id and unmb(m["data"]) == b"hi from /ws"
    finally:
        if kubo_sub is not None:
            kubo_sub.close()
        ours.stop()
        kubo.stop()
