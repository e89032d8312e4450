"""The WebSocket hub: live notifications and the general request channel.

Routes (registered by :func:`register`):

- ``/ws/notifications``: subscribe / unsubscribe / get_history / ping.
- ``/ws``: the same, plus every operation of the registry (:mod:`ipfs_kit_py.registry`)
  (request ``{"id", "action", ...params}`` -> ``result`` (the typed result as a JSON
  object) or ``error`` with the same ``id``; operations with a streamed result
  (``cat``, ``get``, ``dag_export``) send it as binary frames between a
  ``content`` header and the ``result``; ``dag_import`` reads its CAR from
  binary frames after the request).
- pubsub: a subscription with the type ``pubsub_message`` and a ``topic`` filter
  (a string or a list) subscribes the node to those gossipsub topics for as long
  as the subscription names them (``p2p/pubsub.py``: ``bridge``); their messages
  arrive as ``pubsub_message`` events. ``pubsub_pub`` publishes to libp2p peers.

Who may connect and what they may run: the server's access guard
(``server/guard.py``) checks Origin, Host and token at the handshake and leaves
the :class:`~ipfs_kit_py.access.Caller` in the scope; operations are
authorized against it (``operations.call``); a handshake without the read
scope is refused (403).

The wire format lives in :mod:`.ws_protocol` and ``docs/protocols.md (WebSocket)``.

How events travel: :class:`WebSocketManager` holds ONE subscription on the
event bus. ``EventBus.publish`` may run in any thread; the callback only hands
the event to the event loop (``call_soon_threadsafe``). On the loop the event
is put, in sequence order, on the bounded :class:`~.ws_protocol.SendQueue` of
every connection whose subscription matches, serialised once for all of them;
each connection has one writer task that drains its queue. A slow client only
fills its own queue: then it gets ``lagged`` and its subscription pauses until
it subscribes again with ``since``. A client that stops reading altogether (one
send pending longer than ``websocket.send_timeout``) is dropped by a watchdog.

Other WebSocket routes (``/ws/webrtc``, owned by ``ipfs_kit_py.webrtc.signaling``)
join the same manager so connections are counted and cleaned up in one place::

    manager = node.services["websocket"]
    async with manager.connection(websocket, "webrtc") as conn:  # after websocket.accept()
        conn.id                        # connection id (str)
        await conn.send({"type": ...})  # ordered, bounded send through the writer task
        manager.subscribe(conn, {NotificationType.WEBRTC_ERROR}, {"session_id": sid})  # optional
        ...                            # receive with websocket.receive_text() as usual
    # leaving the block stops the writer and forgets the connection; a stalled
    # connection is ended by cancelling the block (the code after it still runs)

``manager.count(kind)`` / ``manager.stats()`` report the connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI, WebSocket

from .. import __version__, access, registry
from ..errors import Forbidden, InvalidCAR, IPFSKitError, LimitExceeded, public_message
from ..events import Event, NotificationType
from ..node import Node
from . import ws_protocol as proto
from .uploads import BodyTooLarge, UploadLimits, UploadTimeout, bounded

log = logging.getLogger(__name__)

GENERAL, NOTIFICATIONS = "general", "notifications"


class Connection:
    """One accepted WebSocket: its subscription, send queue and writer task."""

    def __init__(self, conn_id: str, kind: str, websocket: WebSocket, queue_size: int) -> None:
        self.id = conn_id
        self.kind = kind
        self.websocket = websocket
        self.queue = proto.SendQueue(queue_size)
        self.sub: proto.Subscription | None = None
        self.topics: set[str] = set()  # pubsub topics this connection holds bridged to the bus
        self.caller = access.caller_of(getattr(websocket, "scope", {"type": "websocket"}))  # set by the guard
        self.created = time.time()
        self.closed = False
        self.stalled = False  # dropped because one send waited longer than send_timeout
        self.sending_since: float | None = None  # monotonic time the current send started
        self.next_text: str | None = None  # a request that cut an upload short: handled next
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._writer: asyncio.Task[None] | None = None

    # -- sending (every message goes through the queue, so order is kept) ----------------
    def send_nowait(self, message: Mapping[str, Any] | bytes) -> None:
        self.queue.push_control(message)
        self._wake.set()

    async def wait_room(self) -> None:
        """Wait while the queue holds too many replies (backpressure on this client only)."""
        while self.queue.full() and not self.closed:
            self._room.clear()
            await self._room.wait()
        if self.closed:
            raise ConnectionError("connection closed")

    async def send(self, message: Mapping[str, Any] | bytes) -> None:
        """Queue a reply or binary frame, in order with everything else sent."""
        await self.wait_room()
        self.send_nowait(message)

    def offer(self, event: Event, text: str) -> None:
        sub = self.sub
        if sub is not None and (self.queue.offer_event(sub, event.seq, text) or sub.paused):  # offered when subscribed
            self._wake.set()

    async def _write_loop(self) -> None:
        ws_send = self.websocket.send
        queue = self.queue
        try:
            while True:
                while not queue:
                    self._wake.clear()
                    await self._wake.wait()
                kind, payload = queue.pop()
                if not queue.full():
                    self._room.set()
                self.sending_since = time.monotonic()
                if kind == proto.BINARY:
                    await ws_send({"type": "websocket.send", "bytes": payload})
                else:
                    await ws_send({"type": "websocket.send", "text": payload})
                self.sending_since = None
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the client went away mid-send: the reader sees the disconnect
            log.debug("connection %s: send failed: %r", self.id, e)
        finally:
            self.closed = True
            self._room.set()


class WebSocketManager:
    """Owns every WebSocket connection of the server and routes events to them."""

    def __init__(self, node: Node | None = None) -> None:
        # the seed writes WebSocketManager(): with no node, the default repo's, as the server opens it
        node = node if node is not None else Node()
        self.node = node
        self.bus = node.bus
        self.model = node.model
        self.settings = node.settings.websocket
        self.connections: dict[str, Connection] = {}
        self._ids = itertools.count(1)
        self._prefix = os.urandom(3).hex()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: int | None = None
        self._dispatched = 0  # last event sequence number handed to the connections
        self._status_task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._owners: dict[str, asyncio.Task[Any]] = {}  # connection id -> task serving it

    # -- service lifecycle (Node.start / Node.stop) -------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._token = self.bus.subscribe(self._on_event)
        # read after subscribing: every later sequence number reaches _on_event
        self._dispatched = self.bus.last_seq
        self.emit_status("started")
        if self.settings.status_interval > 0:
            self._status_task = asyncio.create_task(self._status_loop())
        if self.settings.send_timeout > 0:
            self._watchdog = asyncio.create_task(self._watch_stalls())

    async def stop(self) -> None:
        for task in (self._status_task, self._watchdog):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.emit_status("stopping")
        if self._token is not None:
            self.bus.unsubscribe(self._token)
            self._token = None
        for conn in list(self.connections.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.websocket.close(proto.CLOSE_GOING_AWAY), 1)

    # -- system_status ---------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "uptime": round(time.time() - self.node.started_at, 3),
            "version": __version__,
            "connections": self.count_by_kind(),
            "subscribers": sum(1 for c in self.connections.values() if c.sub is not None),
            "last_seq": self.bus.last_seq,
            "reachability": getattr(self.node.services.get("libp2p"), "reachability", "unknown"),  # AutoNAT
        }

    def emit_status(self, status: str, **extra: Any) -> None:
        self.bus.publish(NotificationType.SYSTEM_STATUS, {"status": status, **self.status(), **extra})

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.status_interval)
            count, size = await asyncio.to_thread(self.model.store.stat)
            self.emit_status("running", repo={"objects": count, "size": size})

    async def _watch_stalls(self) -> None:
        """Drop connections whose client stopped reading: one send waiting longer than
        send_timeout. No close frame can reach such a client; when it reads again it
        gets what was already written, then the end of the TCP stream (1006)."""
        limit = self.settings.send_timeout
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = time.monotonic()
            for conn in list(self.connections.values()):
                since = conn.sending_since
                if since is not None and now - since > limit and not conn.stalled:
                    log.info("connection %s (%s): client stopped reading for %.0fs, dropping it",
                             conn.id, conn.kind, now - since)
                    conn.stalled = True
                    owner = self._owners.get(conn.id)
                    if owner is not None:
                        owner.cancel()

    # -- connection registry ---------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def connection(self, websocket: WebSocket, kind: str) -> AsyncIterator[Connection]:
        """Track an accepted WebSocket for the duration of the block (see module doc).
        A stalled connection is ended by cancelling the block; the cancellation stops
        at this context manager, so the code after the block runs normally."""
        conn = Connection(f"{self._prefix}-{next(self._ids)}", kind, websocket, self.settings.queue_size)
        self.connections[conn.id] = conn
        owner = asyncio.current_task()
        if owner is not None:
            self._owners[conn.id] = owner
        conn._writer = asyncio.create_task(conn._write_loop())
        try:
            yield conn
        except asyncio.CancelledError:
            if not conn.stalled or owner is None:
                raise
            owner.uncancel()
        finally:
            self._owners.pop(conn.id, None)
            self.connections.pop(conn.id, None)
            conn.closed = True
            conn.sub = None
            with contextlib.suppress(Exception):
                await self._hold_topics(conn, set())
            conn._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await conn._writer
            conn.queue.items.clear()

    def count(self, kind: str | None = None) -> int:
        return sum(1 for c in self.connections.values() if kind is None or c.kind == kind)

    def count_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.connections.values():
            out[c.kind] = out.get(c.kind, 0) + 1
        return out

    def stats(self) -> dict[str, Any]:
        return {**self.status(), "queued_events": sum(c.queue.events for c in self.connections.values())}

    # -- events: any thread -> loop -> connections -------------------------------------------------
    def _on_event(self, event: Event) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._dispatch, event)
        except RuntimeError:  # loop closed during shutdown
            pass

    def _dispatch(self, event: Event) -> None:
        if event.seq <= self._dispatched:
            return  # already delivered while filling a gap
        if event.seq > self._dispatched + 1:
            # another thread published an earlier event whose callback has not run yet;
            # it is already in the bus's buffer, so deliver it (and any between) first
            for earlier in self.bus.history(since=self._dispatched):
                if earlier.seq >= event.seq:
                    break
                self._deliver(earlier)
        self._deliver(event)

    def _deliver(self, event: Event) -> None:
        self._dispatched = event.seq
        text: str | None = None
        for conn in self.connections.values():
            sub = conn.sub
            if sub is not None and sub.wants(event):
                if text is None:
                    text = proto.event_text(event)
                conn.offer(event, text)

    def subscribe(self, conn: Connection, types: frozenset[NotificationType] | set[NotificationType] | None,
                  filters: Mapping[str, Any] | None = None, since: int | None = None) -> None:
        """Replace the connection's subscription; with ``since``, first queue every
        matching event after it (or ``resume_gap`` when some are gone)."""
        types = frozenset(types) if types is not None else None
        sub = proto.Subscription(types, dict(filters or {}))
        conn.sub = sub
        if since is None:
            return
        # no await from here on: replay up to _dispatched, live events follow in order
        oldest = self.bus.oldest_seq()
        if oldest > since + 1 and since < self._dispatched:
            conn.send_nowait(proto.resume_gap(since, oldest, self._dispatched))
        for event in self.bus.history(since=since, types=types, filters=sub.filters):
            if event.seq > self._dispatched:
                break
            conn.offer(event, proto.event_text(event))
            if sub.paused:
                break

    # -- the routes ------------------------------------------------------------------------------
    async def serve(self, websocket: WebSocket, kind: str) -> None:
        try:
            access.authorize(access.caller_of(websocket.scope), access.Scope.READ, f"the {kind} WebSocket")
        except Forbidden as e:
            log.info("WebSocket %s refused: %s", kind, e)
            await websocket.close(1008)  # before accept: the handshake is answered 403
            return
        await websocket.accept()
        async with self.connection(websocket, kind) as conn:
            actions = list(proto.SUBSCRIPTION_ACTIONS) + (registry.names("ws") if kind == GENERAL else [])
            conn.send_nowait(proto.welcome(
                conn.id, kind, self._dispatched, self.bus.oldest_seq(), actions,
                {"max_message": self.settings.max_message, "queue_size": self.settings.queue_size,
                 "max_cat_size": self.settings.max_cat_size}, __version__,
            ))
            while True:
                text: str | None
                if conn.next_text is not None:
                    text, conn.next_text = conn.next_text, None
                else:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    text = message.get("text")
                try:
                    if text is None:
                        raise proto.ProtocolError("invalid_message", "binary messages are not accepted: send JSON text")
                    await self._handle(conn, proto.parse_request(text))
                except proto.ProtocolError as e:
                    await conn.send(proto.protocol_error(e))
                except ConnectionError:
                    break

    async def _handle(self, conn: Connection, req: proto.Request) -> None:
        action = req.action
        if action == "subscribe":
            sub = proto.parse_subscribe(req)
            await self._hold_topics(conn, pubsub_topics(sub.types, sub.filters), req.id)
            await conn.wait_room()
            conn.send_nowait(proto.subscription_confirmed(req, sub, self._dispatched))
            self.subscribe(conn, sub.types, sub.filters, sub.since)
        elif action == "unsubscribe":
            types = proto.parse_unsubscribe(req)
            if conn.sub is not None and not conn.sub.remove(types):
                conn.sub = None
            await self._hold_topics(conn, pubsub_topics(conn.sub.types, conn.sub.filters) if conn.sub else set())
            await conn.send(proto.unsubscribe_confirmed(req, conn.sub.types if conn.sub else None, conn.sub is not None))
        elif action == "get_history":
            h = proto.parse_history(req)
            events = [e for e in self.bus.history(h.since, h.types, h.filters) if e.seq <= self._dispatched]
            await conn.send(proto.history(req, events[-h.limit:], self.bus.oldest_seq(), self._dispatched))
        elif action == "ping":
            if req.params:
                raise proto.ProtocolError("invalid_message", "ping takes no fields", req.id)
            await conn.send(proto.pong(req.id, time.time()))
        elif conn.kind == GENERAL and action in WS_OPERATIONS:
            await self._operation(conn, req)
        else:
            where = "" if conn.kind == GENERAL or action not in WS_OPERATIONS else " here (operations are on /ws)"
            raise proto.ProtocolError("unknown_action", f"unknown action {action!r}{where}", req.id)

    async def _hold_topics(self, conn: Connection, want: set[str], req_id: Any = None) -> None:
        """Bridge the pubsub topics ``want`` for this connection and release the others."""
        pubsub = self.node.services.get("pubsub") if self.node is not None else None
        if pubsub is None:  # then nothing was ever bridged here: only a new topic is an error
            if want - conn.topics:
                raise proto.ProtocolError("unavailable", "pubsub is not running on this node "
                                          "(libp2p.enabled=false)", req_id)
            return
        if len(want) > self.settings.max_pubsub_topics:
            raise proto.ProtocolError("limit_exceeded", f"at most {self.settings.max_pubsub_topics} pubsub "
                                      "topics per connection (websocket.max_pubsub_topics)", req_id)
        added: list[str] = []
        try:
            for topic in sorted(want - conn.topics):
                await pubsub.bridge(topic)
                conn.topics.add(topic)
                added.append(topic)
        except IPFSKitError as e:  # all or nothing: the subscription is refused, the old one stays
            for topic in added:
                conn.topics.discard(topic)
                await pubsub.unbridge(topic)
            raise proto.ProtocolError(e.code, str(e), req_id) from None
        for topic in sorted(conn.topics - want):
            conn.topics.discard(topic)
            await pubsub.unbridge(topic)

    async def _operation(self, conn: Connection, req: proto.Request) -> None:
        op = registry.get(req.action)
        frames = (_Frames(conn, UploadLimits.of(self.node.settings.server))
                  if op.frames and op.upload_field and op.upload_field not in req.params else None)
        try:
            supplied = {op.upload_field: frames.upload()} if frames is not None and op.upload_field else None
            result = await registry.call_typed(self.node, op.name, req.params, conn.caller, supplied)
            if isinstance(result, registry.ByteStream):
                await self._stream(conn, req, result)
                return
            value = await registry.json_answer(op, result)
        except (UploadTimeout, BodyTooLarge) as e:
            # too slow or too big: say so and close; the rest of the upload is not waited for
            await conn.send(proto.error(e.code, str(e), req.id))
            await self._drain(conn)
            with contextlib.suppress(Exception):
                await conn.websocket.close(1008, e.code)
            raise ConnectionError(str(e)) from None
        except IPFSKitError as e:
            # answered at once (a client that sent no frames is not kept waiting), then the
            # rest of the upload is skipped so the connection stays usable
            await conn.send(proto.error(e.code, str(e), req.id))
            if frames is not None:
                await frames.drain()
            return
        except ConnectionError:
            raise
        except Exception as e:
            log.exception("operation %s failed", req.action)
            await conn.send(proto.error("internal_error", public_message(e), req.id))
            return
        await conn.send(proto.result(req, value))

    @staticmethod
    async def _drain(conn: Connection, limit: float = 5.0) -> None:
        """Wait (at most ``limit`` s) until what is queued for ``conn`` has been sent."""
        deadline = time.monotonic() + limit
        while (conn.queue or conn.sending_since is not None) and not conn.closed and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _stream(self, conn: Connection, req: proto.Request, stream: registry.ByteStream) -> None:
        """A streamed result: a ``content`` header, binary frames, then the ``result``.
        Bounded by ``websocket.max_cat_size`` (checked before the header when the size is known)."""
        limit = self.settings.max_cat_size
        if stream.size is not None and stream.size > limit:
            aclose = getattr(stream.chunks, "aclose", None)
            if aclose is not None:  # never read: the read it belongs to ends now
                await aclose()
            raise LimitExceeded(f"{stream.size} bytes exceed this channel's limit of {limit}: use the HTTP gateway")
        head: dict[str, Any] = {"type": "content", "id": req.id, "action": req.action, "cid": stream.cid}
        if stream.size is not None:
            head["size"] = stream.size
        await conn.send(head)
        sent = 0
        async for chunk in stream.chunks:
            sent += len(chunk)
            if sent > limit:
                raise LimitExceeded(f"more than {limit} bytes: this channel's limit (use the HTTP gateway)")
            await conn.send(chunk)
        await conn.send(proto.result(req, {"cid": stream.cid, "size": sent}))


class _Frames:
    """An upload sent as binary frames after the request, ended by an empty frame.
    Other messages wait until it ends."""

    def __init__(self, conn: Connection, limits: UploadLimits) -> None:
        self.conn = conn
        self.limits = limits  # size, idle and total time, as HTTP uploads (uploads.py)
        self.ended = False  # the empty frame was read (or the client broke the protocol)

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.ended:
            message = await self.conn.websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise ConnectionError("client went away during an upload")
            data = message.get("bytes")
            if data is None:
                # the upload ends here; the text is the client's next request, not lost
                self.ended = True
                self.conn.next_text = message.get("text")
                raise InvalidCAR("text message during an upload: send binary frames, end with an empty one")
            if not data:
                self.ended = True
                return
            yield data

    def upload(self) -> registry.Upload:
        async def one() -> AsyncIterator[registry.UploadEntry]:
            yield registry.UploadEntry("file", "", bounded(self.chunks(), self.limits))

        return registry.Upload(one())

    async def drain(self) -> None:
        """Skip the rest of the upload (a request that failed before reading it); a text
        message ends it too (the client sent no frames), and is handled next."""
        with contextlib.suppress(InvalidCAR):
            async for _ in self.chunks():
                pass


WS_OPERATIONS = frozenset(registry.names("ws"))


def pubsub_topics(types: frozenset[NotificationType] | None, filters: Mapping[str, Any]) -> set[str]:
    """The pubsub topics a subscription asks for: its ``topic`` filter, when it names
    ``pubsub_message`` explicitly (a subscription to every type bridges nothing)."""
    if types is None or NotificationType.PUBSUB_MESSAGE not in types:
        return set()
    want = filters.get("topic")
    values = want if isinstance(want, list) else [want]
    return {v for v in values if isinstance(v, str) and v}


def register(app: FastAPI, node: Node) -> None:
    if not node.settings.websocket.enabled:
        return
    manager = WebSocketManager(node)
    node.add_service("websocket", manager)
    app.state.websocket_manager = manager

    @app.websocket("/ws")
    async def general_channel(websocket: WebSocket) -> None:
        await manager.serve(websocket, GENERAL)

    @app.websocket("/ws/notifications")
    async def notifications_channel(websocket: WebSocket) -> None:
        await manager.serve(websocket, NOTIFICATIONS)
