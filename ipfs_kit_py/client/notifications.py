"""Live notifications from a server: a subscription that survives disconnects.

:class:`NotificationSubscription` connects to ``/ws/notifications``, subscribes,
and hands every event to a callback exactly once and in order: after a dropped
connection or a server restart it reconnects (exponential backoff with jitter)
and subscribes again with ``since`` = the last sequence number it delivered, so
the server replays what was missed; events it has already delivered are
skipped by sequence number. When the server can no longer replay (the gap is
older than its buffer) the ``resume_gap`` message goes to ``on_gap`` instead of
silently losing events. A ``lagged`` notice (this client read too slowly) is
answered the same way: subscribe again from the last delivered event.

    sub = await subscribe("http://127.0.0.1:8000", print, ["content_added"])
    ...
    await sub.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import websockets

from ..errors import ChannelUnavailable, InvalidArgument
from ..events import NotificationType
from .auth import auth_headers

log = logging.getLogger(__name__)

Callback = Callable[[dict[str, Any]], Awaitable[Any] | Any]
EVENT_TYPES = frozenset(t.value for t in NotificationType)


def ws_url(mcp_url: str, path: str = "/ws/notifications") -> str:
    """``http://host:port`` (or ``ws://``, ``https://``, bare ``host:port``) -> ``ws://host:port/path``."""
    if "://" not in mcp_url:
        mcp_url = "http://" + mcp_url
    parts = urlsplit(mcp_url)
    scheme = {"http": "ws", "ws": "ws", "https": "wss", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise InvalidArgument(f"not an http(s) or ws(s) URL: {mcp_url!r}")
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{path}"


class NotificationSubscription:
    """A resuming subscription; ``start()`` it, ``stop()`` (or ``close()``) it.

    ``last_seq`` is the sequence number of the last event delivered (pass it as
    ``since`` to a new subscription to continue where this one stopped);
    ``gaps`` lists the ``resume_gap`` messages received.
    """

    def __init__(
        self,
        url: str,
        callback: Callback,
        notification_types: Iterable[str] | str | None = None,
        filters: Mapping[str, Any] | None = None,
        *,
        since: int | None = None,
        on_gap: Callable[[dict[str, Any]], Any] | None = None,
        min_backoff: float = 0.1,
        max_backoff: float = 10.0,
        open_timeout: float = 10.0,
        token: str | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.callback = callback
        if notification_types is None or notification_types == "all":
            self.types: list[str] | str = "all"
        else:
            self.types = [notification_types] if isinstance(notification_types, str) else list(notification_types)
            unknown = [t for t in self.types if t not in EVENT_TYPES]
            if unknown:
                raise InvalidArgument(f"unknown notification type(s) {unknown}; known: {sorted(EVENT_TYPES)}")
        self.filters = dict(filters or {})
        self.last_seq = since
        self.on_gap = on_gap
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.open_timeout = open_timeout
        self.gaps: list[dict[str, Any]] = []
        self.connects = 0  # connections made so far (1 + reconnects)
        self.lags = 0  # `lagged` notices answered (this client read too slowly for a while)
        self.subscribed = asyncio.Event()  # set while a subscription is confirmed
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._first_error: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> NotificationSubscription:
        """Connect and subscribe; raise ChannelUnavailable if the first subscription
        is not confirmed within ``open_timeout``. Later drops reconnect by themselves."""
        self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(self.subscribed.wait(), self.open_timeout)
        except TimeoutError:
            await self.stop()
            raise ChannelUnavailable(
                f"no notification subscription at {self.url} within {self.open_timeout}s: {self._first_error!r}"
            ) from None
        return self

    async def stop(self) -> None:
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.subscribed.clear()

    close = stop

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def __aenter__(self) -> NotificationSubscription:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the connection loop ----------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                async with websockets.connect(self.url, open_timeout=self.open_timeout, max_size=16 << 20,
                                              additional_headers=auth_headers(self.token)) as ws:
                    self._ws = ws
                    await self._session(ws)
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, websockets.WebSocketException, ValueError, KeyError, TypeError) as e:
                # ValueError/KeyError/TypeError: a message that does not follow the protocol
                if self._first_error is None:
                    self._first_error = e
                log.debug("notifications %s: %r", self.url, e)
            finally:
                self._ws = None
                if self.subscribed.is_set():
                    attempt = 0
                self.subscribed.clear()
            if self._stopping:
                break
            delay = min(self.max_backoff, self.min_backoff * 2**attempt) * random.uniform(0.5, 1.0)
            attempt += 1
            await asyncio.sleep(delay)

    async def _subscribe(self, ws: Any) -> None:
        msg: dict[str, Any] = {"action": "subscribe", "notification_types": self.types}
        if self.filters:
            msg["filters"] = self.filters
        if self.last_seq is not None:
            msg["since"] = self.last_seq
        await ws.send(json.dumps(msg))

    async def _session(self, ws: Any) -> None:
        welcome = json.loads(await ws.recv())
        if welcome.get("type") != "welcome":
            raise ValueError(f"expected welcome, got {welcome!r}")
        server_seq = int(welcome["last_seq"])
        self.connects += 1
        if self.last_seq is None:
            self.last_seq = server_seq  # a new subscription starts from now, losing nothing after it
        elif server_seq < self.last_seq:
            # the server's sequence went backwards: another repo, or its state was reset
            gap = {"type": "resume_gap", "reason": "sequence_reset", "since": self.last_seq, "last_seq": server_seq}
            self._gap(gap)
            self.last_seq = server_seq
        await self._subscribe(ws)
        async for raw in ws:
            if isinstance(raw, bytes):
                continue
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind in EVENT_TYPES and isinstance(msg.get("seq"), int):
                if msg["seq"] <= self.last_seq:
                    continue  # already delivered before a reconnect
                self.last_seq = msg["seq"]
                await self._deliver(msg)
            elif kind == "subscription_confirmed":
                self.subscribed.set()
            elif kind == "lagged":
                self.lags += 1
                log.info("notifications lagged at seq %s: resuming", msg.get("first_missed_seq"))
                await self._subscribe(ws)
            elif kind == "resume_gap":
                self._gap(msg)
            elif kind == "error":
                log.warning("notification server error: %s", msg.get("message"))
                if not self.subscribed.is_set():
                    raise ValueError(f"subscription refused: {msg.get('message')}")

    def _gap(self, msg: dict[str, Any]) -> None:
        self.gaps.append(msg)
        log.warning("notifications: events %s..%s are no longer available",
                    msg.get("missed_from_seq", msg.get("since")), msg.get("missed_to_seq"))
        if self.on_gap is not None:
            try:
                self.on_gap(msg)
            except Exception:
                log.exception("on_gap callback failed")

    async def _deliver(self, event: dict[str, Any]) -> None:
        try:
            result = self.callback(event)
            if inspect.isawaitable(result):
                await result
        except Exception:  # the subscription outlives a failing callback
            log.exception("notification callback failed for event %s", event.get("seq"))


async def subscribe(
    mcp_url: str,
    callback: Callback,
    notification_types: Iterable[str] | str | None = None,
    filters: Mapping[str, Any] | None = None,
    **options: Any,
) -> NotificationSubscription:
    """Start a resuming subscription to the server at ``mcp_url`` (see the class)."""
    sub = NotificationSubscription(ws_url(mcp_url), callback, notification_types, filters, **options)
    return await sub.start()
