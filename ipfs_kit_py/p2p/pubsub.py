"""Pubsub over libp2p gossipsub (py-libp2p's GossipSub + Pubsub), as Kubo speaks it.

Protocols ``/meshsub/1.1.0`` and ``/meshsub/1.0.0`` (Kubo's go-libp2p-pubsub
offers both); every message is signed and every received message must carry a
valid signature (``strict_signing``); message IDs are Kubo's default (from ‖
seqno), seen IDs are dropped (de-duplication); inbound RPC frames are capped
(``pubsub.max_message``) and each peer's messages are rate-limited per topic
(gossipsub's spam protection, ``pubsub.max_rate``).

Received messages fan out to asyncio subscribers (:meth:`subscribe`), each with
a bounded queue: a subscriber that does not keep up loses messages, never blocks
the node.

The live channels reach topics through the event bus: :meth:`bridge` (reference
counted, one per WebSocket subscription naming the topic) subscribes the node to a
topic and publishes each of its messages as a ``pubsub_message`` event
(:func:`event_data`), which the bus delivers, filtered by ``topic``, to every
channel. Publishing is the registry operation ``pubsub_pub`` on every channel.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service.context import background_trio_service

from ..errors import LimitExceeded
from ..events import NotificationType

if TYPE_CHECKING:
    from .peer import IPFSLibp2pPeer

log = logging.getLogger(__name__)

QUEUE = 256  # messages queued per asyncio subscriber


@dataclass(frozen=True, slots=True)
class Message:
    from_peer: str
    data: bytes
    seqno: bytes
    topics: list[str]


class _GossipSub(GossipSub):
    """GossipSub that reports each peer joining a topic (go-libp2p-pubsub's ``PeerJoin``
    event) to ``join_listeners``, called on the trio thread with (topic, peer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.join_listeners: list[Callable[[str, ID], None]] = []

    async def on_peer_subscribed(self, peer_id: ID, topic: str) -> None:
        for listener in list(self.join_listeners):
            try:
                listener(topic, peer_id)
            except Exception:  # noqa: BLE001 - a listener's bug must not break the router
                log.exception("pubsub join listener failed")
        await super().on_peer_subscribed(peer_id, topic)


def event_data(m: Message, topic: str) -> dict[str, Any]:
    """A message as a ``pubsub_message`` event's data (bytes as standard base64)."""
    return {"topic": topic, "from": m.from_peer, "data": base64.b64encode(m.data).decode("ascii"),
            "seqno": m.seqno.hex(), "topics": m.topics}


class PubsubService:
    def __init__(self, peer: IPFSLibp2pPeer, *, max_message: int = 1 << 20, max_rate: float = 10.0,
                 bus: Any = None, max_bridged: int = 256) -> None:
        self.peer = peer
        self.max_message = max_message
        self.bus = bus
        self.max_bridged = max_bridged
        self._bridges: dict[str, tuple[int, asyncio.Task[None] | None]] = {}  # topic -> (holders, task)
        self.router = _GossipSub(protocols=[PROTOCOL_ID_V11, PROTOCOL_ID], degree=6, degree_low=4, degree_high=12,
                                heartbeat_interval=1, heartbeat_initial_delay=0.1,
                                max_messages_per_topic_per_second=max_rate)
        self.pubsub: Pubsub | None = None
        self._subs: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Message]]]] = {}
        self._readers: dict[str, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        peer.add_trio_service(self._run)

    async def _run(self, host: Any, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.pubsub = Pubsub(host, self.router, strict_signing=True, max_inbound_rpc_size=self.max_message + 4096)
        async with background_trio_service(self.pubsub), background_trio_service(self.router):
            await self.pubsub.wait_until_ready()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()

    # -- trio side ------------------------------------------------------------------------------
    async def _read(self, topic: str, sub: Any, scope: trio.CancelScope) -> None:
        with scope:
            while True:
                msg = await sub.get()
                m = Message(ID(msg.from_id).to_base58(), bytes(msg.data), bytes(msg.seqno), list(msg.topicIDs))
                for loop, q in list(self._subs.get(topic, ())):
                    loop.call_soon_threadsafe(_offer, q, m)

    async def _subscribe(self, topic: str) -> None:
        assert self.pubsub is not None and self._nursery is not None
        if topic in self._readers:
            return
        sub = await self.pubsub.subscribe(topic)
        scope = trio.CancelScope()
        self._readers[topic] = scope
        self._nursery.start_soon(self._read, topic, sub, scope)

    async def _unsubscribe(self, topic: str) -> None:
        assert self.pubsub is not None
        scope = self._readers.pop(topic, None)
        if scope is not None:
            scope.cancel()
            await self.pubsub.unsubscribe(topic)

    # -- asyncio API ----------------------------------------------------------------------------
    async def publish(self, topic: str, data: bytes) -> None:
        if len(data) > self.max_message:
            raise LimitExceeded(f"message of {len(data)} bytes exceeds pubsub.max_message ({self.max_message})")

        async def run() -> None:
            assert self.pubsub is not None
            await self.pubsub.publish(topic, data)

        await self.peer.bridge.call(run)

    async def subscribe(self, topic: str) -> AsyncIterator[Message]:
        """Messages of ``topic`` until the caller stops iterating."""
        entry = await self._attach(topic)
        try:
            while True:
                yield await entry[1].get()
        finally:
            await self._detach(topic, entry)

    async def _attach(self, topic: str) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Message]]:
        """A queue that receives ``topic``'s messages from now on (the node subscribed)."""
        q: asyncio.Queue[Message] = asyncio.Queue(QUEUE)
        entry = (asyncio.get_running_loop(), q)
        self._subs.setdefault(topic, set()).add(entry)
        try:
            await self.peer.bridge.call(self._subscribe, topic)
        except BaseException:
            await self._detach(topic, entry)
            raise
        return entry

    async def _detach(self, topic: str, entry: tuple[asyncio.AbstractEventLoop, asyncio.Queue[Message]]) -> None:
        subs = self._subs.get(topic, set())
        subs.discard(entry)
        if not subs:
            self._subs.pop(topic, None)
            try:
                await self.peer.bridge.call(self._unsubscribe, topic)
            except Exception:  # noqa: BLE001 - the host may be stopping
                pass

    # -- the bus bridge ---------------------------------------------------------------------------
    async def bridge(self, topic: str) -> None:
        """Hold ``topic`` bridged to the bus (``pubsub_message`` events) until :meth:`unbridge`;
        returns once the node is subscribed (messages published after that arrive)."""
        held = self._bridges.get(topic)
        if held is not None:
            self._bridges[topic] = (held[0] + 1, held[1])
            return  # (a holder arriving while the first still subscribes may see messages a moment late)
        if self.bus is None:
            raise LimitExceeded("pubsub has no event bus to bridge to")
        if len(self._bridges) >= self.max_bridged:
            raise LimitExceeded(f"already {len(self._bridges)} topics bridged to the live channels "
                                f"(pubsub.max_bridged_topics)")
        self._bridges[topic] = (1, None)  # reserved while subscribing
        try:
            entry = await self._attach(topic)
        except BaseException:
            self._bridges.pop(topic, None)
            raise
        task = asyncio.create_task(self._pump(topic, entry), name=f"pubsub-bridge:{topic}")
        holders = self._bridges.get(topic, (0, None))[0]
        self._bridges[topic] = (holders, task)
        if holders == 0:  # released while we subscribed
            await self.unbridge(topic)

    async def unbridge(self, topic: str) -> None:
        held = self._bridges.get(topic)
        if held is None:
            return
        holders, task = held
        if holders > 1 or task is None:  # still held, or still subscribing (bridge() finishes the job)
            self._bridges[topic] = (holders - 1, task)
            return
        del self._bridges[topic]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    def bridged(self) -> list[str]:
        return sorted(self._bridges)

    async def _pump(self, topic: str, entry: tuple[asyncio.AbstractEventLoop, asyncio.Queue[Message]]) -> None:
        try:
            while True:
                m = await entry[1].get()
                self.bus.publish(NotificationType.PUBSUB_MESSAGE, event_data(m, topic))
        finally:
            await self._detach(topic, entry)

    async def topics(self) -> list[str]:
        async def run() -> list[str]:
            assert self.pubsub is not None
            return sorted(self.pubsub.topic_ids)

        return await self.peer.bridge.call(run)

    async def peers(self, topic: str | None = None) -> list[str]:
        async def run() -> list[str]:
            assert self.pubsub is not None
            out: set[str] = set()
            for t, ps in self.pubsub.peer_topics.items():
                if topic is None or t == topic:
                    out.update(p.to_base58() for p in ps)
            return sorted(out)

        return await self.peer.bridge.call(run)


def _offer(q: asyncio.Queue[Message], m: Message) -> None:
    try:
        q.put_nowait(m)
    except asyncio.QueueFull:
        log.debug("pubsub subscriber too slow: message dropped")


def register(node: Any) -> None:
    """Attach pubsub to the node's libp2p peer (before it starts): ``node.services["pubsub"]``."""
    svc = node.services.get("libp2p")
    if svc is None:
        return
    ps = node.settings.pubsub
    node.add_service("pubsub", PubsubService(svc.peer, max_message=ps.max_message, max_rate=ps.max_rate,
                                             bus=node.bus, max_bridged=ps.max_bridged_topics))
