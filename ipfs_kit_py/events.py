"""Typed events with global sequence numbers, a bounded replay buffer, and a bus.

The model publishes; channels (WebSocket hub, libp2p, WebRTC) subscribe.
``publish`` is thread-safe (the libp2p host runs in its own trio thread) and
never blocks on a subscriber: subscribers are plain callbacks that must return
quickly, typically by putting the event on their own bounded queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NotificationType(StrEnum):
    CONTENT_ADDED = "content_added"
    CONTENT_REMOVED = "content_removed"
    PIN_STATUS_CHANGED = "pin_status_changed"
    TRANSFER_STARTED = "transfer_started"
    TRANSFER_PROGRESS = "transfer_progress"
    TRANSFER_COMPLETED = "transfer_completed"
    TRANSFER_FAILED = "transfer_failed"
    WEBRTC_OFFER = "webrtc_offer"
    WEBRTC_CONNECTED = "webrtc_connected"
    WEBRTC_ERROR = "webrtc_error"
    WEBRTC_QUALITY_CHANGED = "webrtc_quality_changed"
    PEER_CONNECTED = "peer_connected"
    PEER_DISCONNECTED = "peer_disconnected"
    PEER_REPUTATION_CHANGED = "peer_reputation_changed"
    SYSTEM_STATUS = "system_status"
    MFS_CHANGED = "mfs_changed"
    PUBSUB_MESSAGE = "pubsub_message"  # a gossipsub message on a topic bridged to the bus (p2p/pubsub.py)


@dataclass(frozen=True, slots=True)
class Event:
    type: NotificationType
    seq: int
    timestamp: float
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type.value, "seq": self.seq, "timestamp": self.timestamp, "data": dict(self.data)}

    def matches(self, types: Set[NotificationType] | None, filters: Mapping[str, Any] | None) -> bool:
        """True when the event is of one of ``types`` (None: any) and every filter
        key equals the event's data field (a list of values matches any of them)."""
        if types is not None and self.type not in types:
            return False
        for key, want in (filters or {}).items():
            have = self.data.get(key)
            if isinstance(want, (list, tuple, set)):
                if have not in want:
                    return False
            elif have != want:
                return False
        return True


Subscriber = Callable[[Event], None]


class EventBus:
    """Publishes events to subscribers and keeps the last ones for replay.

    ``replay_size`` bounds the buffer by count and ``replay_age`` (seconds) by
    age. ``first_seq`` lets a restarted server continue the sequence of the
    previous run, so that clients resuming with ``since`` are not confused.
    """

    def __init__(
        self,
        replay_size: int = 10_000,
        replay_age: float = 3600.0,
        first_seq: int = 1,
        reserve: Callable[[int], None] | None = None,
        reserve_block: int = 1000,
    ) -> None:
        self.replay_size = replay_size
        self.replay_age = replay_age
        self._buffer: deque[Event] = deque(maxlen=replay_size)
        self._subscribers: dict[int, Subscriber] = {}
        self._next_id = 0
        self._seq = first_seq - 1
        self._lock = threading.Lock()
        # ``reserve(upto)`` durably records that numbers up to ``upto`` may be used, one
        # block at a time, so a crashed server never hands out a number twice
        self._reserve = reserve
        self._reserve_block = max(1, reserve_block)
        self._reserved = self._seq

    @property
    def last_seq(self) -> int:
        return self._seq

    def subscribe(self, callback: Subscriber) -> int:
        with self._lock:
            self._next_id += 1
            self._subscribers[self._next_id] = callback
            return self._next_id

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subscribers.pop(token, None)

    def publish(self, type_: NotificationType | str, data: Mapping[str, Any] | None = None) -> Event:
        type_ = NotificationType(type_)
        with self._lock:
            self._seq += 1
            if self._reserve is not None and self._seq > self._reserved:
                self._reserved = self._seq + self._reserve_block - 1
                try:
                    self._reserve(self._reserved)
                except Exception:
                    logging.getLogger(__name__).exception("could not reserve event sequence numbers")
            event = Event(type_, self._seq, time.time(), dict(data or {}))
            self._buffer.append(event)
            subscribers = list(self._subscribers.values())
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # one broken subscriber never stops the others
                logging.getLogger(__name__).exception("event subscriber failed")
        return event

    def _trim(self) -> None:
        cutoff = time.time() - self.replay_age
        while self._buffer and self._buffer[0].timestamp < cutoff:
            self._buffer.popleft()

    def oldest_seq(self) -> int:
        """Sequence number of the oldest event still replayable (last_seq + 1 if none)."""
        with self._lock:
            self._trim()
            return self._buffer[0].seq if self._buffer else self._seq + 1

    def snapshot(self) -> list[dict[str, Any]]:
        """The replayable events as dicts (saved by the node at a clean stop)."""
        with self._lock:
            self._trim()
            return [e.to_dict() for e in self._buffer]

    def restore(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Refill an empty replay buffer with a previous run's ``snapshot()`` (only
        events numbered up to ``last_seq``, in order); return how many were kept."""
        with self._lock:
            if self._buffer:
                return 0
            last = 0
            for d in events:
                try:
                    event = Event(NotificationType(d["type"]), int(d["seq"]), float(d["timestamp"]), dict(d["data"]))
                except (KeyError, TypeError, ValueError):
                    continue
                if last < event.seq <= self._seq:
                    self._buffer.append(event)
                    last = event.seq
            self._trim()
            return len(self._buffer)

    def history(
        self,
        since: int | None = None,
        types: Iterable[NotificationType] | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Buffered events with seq > since that match, oldest first (the last ``limit``)."""
        wanted = set(types) if types is not None else None
        with self._lock:
            self._trim()
            events = [
                e for e in self._buffer if (since is None or e.seq > since) and e.matches(wanted, filters)
            ]
        return events[-limit:] if limit else events


_default_bus = EventBus()


def get_event_bus() -> EventBus:
    return _default_bus


def set_event_bus(bus: EventBus) -> None:
    """Install the bus that ``emit_event`` publishes on (the server does this at start)."""
    global _default_bus
    _default_bus = bus


def emit_event(type_: NotificationType | str, data: Mapping[str, Any] | None = None) -> Event:
    """Publish an event on the server's bus from anywhere in the process."""
    return _default_bus.publish(type_, data)
