"""The event bus, live for agents.

:class:`EventBridge` is the SDK's ``SubscriptionBus`` fed by the node's
:class:`~ipfs_kit_py.events.EventBus`: each event becomes the change events of
``subscriptions/listen`` (2026-07-28) that concern it:

==========================================  ==========================================================
node event                                  MCP change event
==========================================  ==========================================================
content_added, content_removed,             ``notifications/resources/updated`` for ``ipfs://CID``
pin_status_changed                          and ``notifications/resources/list_changed`` (the pins)
transfer_started/progress/completed/failed  ``notifications/resources/updated`` for ``ipfs://CID``
every event                                 ``notifications/resources/updated`` for ``ipfs-kit://events``
==========================================  ==========================================================

Clients of the handshake era (protocol versions up to 2025-11-25, which most agent
apps still speak) use ``resources/subscribe`` instead: :class:`LegacySubscriptions`
sends them ``notifications/resources/updated`` for the URIs they subscribed to, on
their connection's standalone channel (stdout on stdio, the GET stream on HTTP).

The bus publishes from any thread (the libp2p host runs in its own); the bridge
hands each event to the server's event loop, where the listen streams' buffers live.

:func:`transfer_progress` turns the transfer events of one CID into progress
notifications of the tool call that waits for it (transfer_content, fetches).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio.lowlevel
import mcp_types as types
from mcp.server.subscriptions import ResourcesListChanged, ResourceUpdated, ServerEvent

from ..events import Event, EventBus, NotificationType
from .tools import uri_of

log = logging.getLogger(__name__)

EVENTS_URI = "ipfs-kit://events"
_CONTENT = {NotificationType.CONTENT_ADDED, NotificationType.CONTENT_REMOVED, NotificationType.PIN_STATUS_CHANGED}
_TRANSFER = {NotificationType.TRANSFER_STARTED, NotificationType.TRANSFER_PROGRESS,
             NotificationType.TRANSFER_COMPLETED, NotificationType.TRANSFER_FAILED}


def changes_of(event: Event) -> list[ServerEvent]:
    cid = event.data.get("cid")
    out: list[ServerEvent] = []
    if isinstance(cid, str) and cid and event.type in _CONTENT | _TRANSFER:
        out.append(ResourceUpdated(uri_of(cid)))
    if event.type in _CONTENT:
        out.append(ResourcesListChanged())
    out.append(ResourceUpdated(EVENTS_URI))
    return out


class EventBridge:
    """A ``SubscriptionBus`` (``mcp.server.subscriptions``) fed by the node's event bus."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._listeners: dict[object, Callable[[ServerEvent], None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: int | None = None

    def start(self) -> None:
        """Subscribe to the node's bus; call on the loop the listen streams run on."""
        self._loop = asyncio.get_running_loop()
        if self._token is None:
            self._token = self.bus.subscribe(self._on_event)

    def stop(self) -> None:
        if self._token is not None:
            self.bus.unsubscribe(self._token)
            self._token = None

    def _on_event(self, event: Event) -> None:  # any thread
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._fanout, changes_of(event))

    def _fanout(self, events: list[ServerEvent]) -> None:
        for listener in list(self._listeners.values()):
            for e in events:
                try:
                    listener(e)
                except Exception:  # one listen stream never stops the others
                    log.exception("listen stream failed")

    async def publish(self, event: ServerEvent) -> None:
        self._fanout([event])
        await anyio.lowlevel.checkpoint()

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        token = object()
        self._listeners[token] = listener

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe


@contextlib.asynccontextmanager
async def transfer_progress(bus: EventBus, cid: str | None,
                            report: Callable[[float, float | None, str | None], Awaitable[None]] | None,
                            ) -> AsyncIterator[None]:
    """While the body runs, report the ``transfer_*`` events of ``cid`` as progress."""
    if report is None or not cid:
        yield
        return
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=256)

    def on_event(event: Event) -> None:  # any thread
        if event.type in _TRANSFER and event.data.get("cid") == cid:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_put, event)

    def _put(event: Event) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a slow reader misses some progress, nothing else
            queue.put_nowait(event)

    reported = [0.0]  # progress only grows (a fallback to the next channel starts again at 0)

    async def send(event: Event) -> None:
        data: dict[str, Any] = dict(event.data)
        total = data.get("total")
        reported[0] = max(reported[0], float(data.get("bytes") or 0))
        await report(reported[0], float(total) if total else None,
                     f"{event.type.value} via {data.get('protocol', '?')}")

    async def forward() -> None:
        while True:
            await send(await queue.get())

    token = bus.subscribe(on_event)
    task = asyncio.create_task(forward())
    try:
        yield
    finally:
        bus.unsubscribe(token)
        await asyncio.sleep(0)  # events published just before the end are handed over
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        while not queue.empty():  # the last ones (transfer_completed) go out before the result
            await send(queue.get_nowait())


class LegacySubscriptions:
    """``resources/subscribe`` / ``resources/unsubscribe`` of handshake-era clients."""

    MAX_PENDING = 64  # notifications in flight per connection; past it a slow client misses some

    def __init__(self, bridge: EventBridge) -> None:
        self._subs: dict[int, _LegacySub] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        bridge.subscribe(self._on_event)

    @staticmethod
    def _key(session: Any) -> int:
        # one entry per client connection (each request has its own ServerSession over it)
        return id(getattr(session, "_connection", session))

    async def subscribe(self, ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        sub = self._subs.setdefault(self._key(ctx.session), _LegacySub(ctx.session))
        sub.uris.add(str(params.uri))
        return types.EmptyResult()

    async def unsubscribe(self, ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        sub = self._subs.get(self._key(ctx.session))
        if sub is not None:
            sub.uris.discard(str(params.uri))
        return types.EmptyResult()

    def _on_event(self, event: ServerEvent) -> None:  # on the loop (EventBridge._fanout)
        if not isinstance(event, ResourceUpdated):
            return
        for key, sub in list(self._subs.items()):
            if event.uri in sub.uris and sub.pending < self.MAX_PENDING:
                sub.pending += 1
                task = asyncio.get_running_loop().create_task(self._send(key, sub, event.uri))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send(self, key: int, sub: _LegacySub, uri: str) -> None:
        try:
            await sub.session.send_resource_updated(uri)
        except Exception:  # the connection is gone: forget its subscriptions
            self._subs.pop(key, None)
        finally:
            sub.pending -= 1


class _LegacySub:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.uris: set[str] = set()
        self.pending = 0
