"""The WebSocket hub's wire format, without I/O: parsing, validation, replies,
and the per-connection decisions (what a subscription accepts, when a send
queue has lagged). ``ws_hub`` moves these messages over sockets;
``docs/protocols.md (WebSocket)`` describes them for independent clients.

Every server message is a JSON object with a ``"type"``; every client message
is a JSON object with an ``"action"`` and an optional ``"id"`` (string or
integer) that the reply echoes.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..events import Event, NotificationType

PROTOCOL_VERSION = 1

# Close codes (RFC 6455 and the private 4000-4999 range)
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the server is shutting down: reconnect and resume with `since`
CLOSE_TOO_BIG = 1009  # a client message exceeded websocket.max_message (sent by the WebSocket layer)
CLOSE_INTERNAL = 1011  # unexpected server error, or keepalive ping timeout

ALL = "all"
EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in NotificationType)
SUBSCRIPTION_ACTIONS = ("subscribe", "unsubscribe", "get_history", "ping")
HISTORY_DEFAULT_LIMIT = 100
HISTORY_MAX_LIMIT = 1000
CONTROL_LIMIT = 8  # replies and content frames queued per connection before its reader waits...
CONTROL_BYTES = 1 << 20  # ...or this many bytes of them

_Id = str | int | None
_SCALARS = (str, int, float, bool, type(None))


class ProtocolError(Exception):
    """A bad client message: answered with an ``error`` message, connection kept."""

    def __init__(self, code: str, message: str, id: _Id = None, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.id = id
        self.extra = extra


@dataclass(frozen=True, slots=True)
class Request:
    action: str
    id: _Id
    params: dict[str, Any]  # every field except "action" and "id"


def encode(message: Mapping[str, Any]) -> str:
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii():  # O(1) for ASCII text
        try:
            text.encode()
        except UnicodeEncodeError:  # a lone surrogate ({"id": "\ud800"}): UTF-8 cannot carry it, escape it
            return json.dumps(message, separators=(",", ":"))
    return text


def parse_request(text: str) -> Request:
    """Parse one client text message; raise ProtocolError for anything malformed."""
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError) as e:  # ValueError: also an integer past Python's digit limit
        raise ProtocolError("invalid_json", f"message is not valid JSON: {e}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("invalid_message", "a message must be a JSON object")
    id_ = msg.get("id")
    if isinstance(id_, bool) or not isinstance(id_, _Id):
        raise ProtocolError("invalid_message", "'id' must be a string or an integer")
    action = msg.get("action")
    if not isinstance(action, str) or not action:
        raise ProtocolError("invalid_message", "'action' must be a non-empty string", id_)
    params = {k: v for k, v in msg.items() if k not in ("action", "id")}
    return Request(action, id_, params)


# -- subscription fields ------------------------------------------------------------------------
def _check_fields(req: Request, allowed: Iterable[str]) -> None:
    unknown = sorted(set(req.params) - set(allowed))
    if unknown:
        raise ProtocolError("invalid_message", f"unknown field(s) for {req.action}: {', '.join(unknown)}", req.id)


def parse_types(value: Any, req: Request) -> tuple[frozenset[NotificationType] | None, list[str]]:
    """``notification_types`` -> (accepted types or None for all, rejected names)."""
    if value is None or value == ALL:
        return None, []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError("invalid_message", "'notification_types' must be \"all\" or a list of strings", req.id)
    if ALL in value:
        return None, [v for v in value if v != ALL and v not in EVENT_TYPES]
    accepted = frozenset(NotificationType(v) for v in value if v in EVENT_TYPES)
    return accepted, [v for v in value if v not in EVENT_TYPES]


def parse_filters(value: Any, req: Request) -> dict[str, Any]:
    """``filters``: event data field -> a value, or a list of values (any of them matches)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError("invalid_message", "'filters' must be an object of field: value", req.id)
    for key, want in value.items():
        ok = isinstance(want, _SCALARS) or (isinstance(want, list) and all(isinstance(w, _SCALARS) for w in want))
        if not ok:
            raise ProtocolError(
                "invalid_message", f"filter {key!r} must be a string, number, boolean, null or a list of them", req.id
            )
    return value


def _seq(value: Any, name: str, req: Request) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError("invalid_message", f"'{name}' must be a non-negative integer", req.id)
    return value


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    types: frozenset[NotificationType] | None  # None: every type
    invalid_types: list[str]
    filters: dict[str, Any]
    since: int | None


def parse_subscribe(req: Request) -> SubscribeRequest:
    _check_fields(req, ("notification_types", "filters", "since"))
    types, invalid = parse_types(req.params.get("notification_types"), req)
    if types is not None and not types:
        raise ProtocolError("invalid_types", f"no known notification type in {invalid}", req.id,
                            invalid_types=invalid, available_types=list(EVENT_TYPES))
    return SubscribeRequest(types, invalid, parse_filters(req.params.get("filters"), req),
                            _seq(req.params.get("since"), "since", req))


def parse_unsubscribe(req: Request) -> frozenset[NotificationType] | None:
    """Types to drop from the subscription (None: end it)."""
    _check_fields(req, ("notification_types",))
    types, invalid = parse_types(req.params.get("notification_types"), req)
    if invalid:
        raise ProtocolError("invalid_types", f"unknown notification type(s) {invalid}", req.id, invalid_types=invalid)
    return types


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    types: frozenset[NotificationType] | None
    filters: dict[str, Any]
    since: int | None
    limit: int


def parse_history(req: Request) -> HistoryRequest:
    _check_fields(req, ("notification_types", "filters", "since", "limit"))
    types, invalid = parse_types(req.params.get("notification_types"), req)
    if invalid:
        raise ProtocolError("invalid_types", f"unknown notification type(s) {invalid}", req.id, invalid_types=invalid)
    limit = _seq(req.params.get("limit"), "limit", req)
    if limit is None:
        limit = HISTORY_DEFAULT_LIMIT
    if not 1 <= limit <= HISTORY_MAX_LIMIT:
        raise ProtocolError("invalid_message", f"'limit' must be between 1 and {HISTORY_MAX_LIMIT}", req.id)
    return HistoryRequest(types, parse_filters(req.params.get("filters"), req),
                          _seq(req.params.get("since"), "since", req), limit)


# -- server messages ---------------------------------------------------------------------------
def _with_id(msg: dict[str, Any], id_: _Id) -> dict[str, Any]:
    if id_ is not None:
        msg["id"] = id_
    return msg


def welcome(connection_id: str, channel: str, last_seq: int, oldest_seq: int, actions: Iterable[str],
            limits: Mapping[str, int], server_version: str) -> dict[str, Any]:
    return {
        "type": "welcome", "protocol": PROTOCOL_VERSION, "connection_id": connection_id, "channel": channel,
        "server_version": server_version, "notification_types": list(EVENT_TYPES), "last_seq": last_seq,
        "oldest_seq": oldest_seq, "actions": list(actions), "limits": dict(limits),
    }


def type_names(types: frozenset[NotificationType] | None) -> list[str]:
    return list(EVENT_TYPES) if types is None else [t.value for t in NotificationType if t in types]


def subscription_confirmed(req: Request, sub: SubscribeRequest, last_seq: int) -> dict[str, Any]:
    return _with_id({
        "type": "subscription_confirmed", "notification_types": type_names(sub.types),
        "invalid_types": sub.invalid_types, "filters": sub.filters, "since": sub.since, "last_seq": last_seq,
    }, req.id)


def unsubscribe_confirmed(req: Request, remaining: frozenset[NotificationType] | None, active: bool) -> dict[str, Any]:
    return _with_id({"type": "unsubscribe_confirmed",
                     "notification_types": type_names(remaining) if active else []}, req.id)


def resume_gap(since: int, first_available_seq: int, last_seq: int) -> dict[str, Any]:
    """Events since+1 .. first_available_seq-1 are gone (older than the replay buffer,
    or lost in a server crash); replay continues from first_available_seq."""
    return {"type": "resume_gap", "since": since, "first_available_seq": first_available_seq,
            "missed_from_seq": since + 1, "missed_to_seq": first_available_seq - 1, "last_seq": last_seq}


def lagged(first_missed_seq: int, queue_size: int) -> dict[str, Any]:
    return {"type": "lagged", "first_missed_seq": first_missed_seq, "queue_size": queue_size,
            "message": f"send queue full ({queue_size} events): subscription paused; "
                       f"subscribe again with since={first_missed_seq - 1} to resume"}


def history(req: Request, events: list[Event], oldest_seq: int, last_seq: int,
            max_bytes: int = CONTROL_BYTES) -> dict[str, Any]:
    """The newest events that fit in about ``max_bytes`` (at least one), oldest first;
    ``truncated`` says older matching events were left out (ask again with ``since``)."""
    kept: list[dict[str, Any]] = []
    size = 0
    for event in reversed(events):
        d = event.to_dict()
        size += len(encode(d))
        if kept and size > max_bytes:
            break
        kept.append(d)
    kept.reverse()
    return _with_id({"type": "history", "events": kept, "truncated": len(kept) < len(events),
                     "oldest_seq": oldest_seq, "last_seq": last_seq}, req.id)


def pong(id_: _Id, timestamp: float) -> dict[str, Any]:
    return _with_id({"type": "pong", "timestamp": timestamp}, id_)


def result(req: Request, value: Any) -> dict[str, Any]:
    return _with_id({"type": "result", "action": req.action, "result": value}, req.id)


def error(code: str, message: str, id_: _Id = None, **extra: Any) -> dict[str, Any]:
    return _with_id({"type": "error", "code": code, "message": message, **extra}, id_)


def protocol_error(e: ProtocolError) -> dict[str, Any]:
    return error(e.code, str(e), e.id, **e.extra)


def event_text(event: Event) -> str:
    """An event on the wire: {"type", "seq", "timestamp", "data"}."""
    return encode(event.to_dict())


# -- per-connection state ----------------------------------------------------------------------
@dataclass(slots=True)
class Subscription:
    """What one connection receives. ``paused`` after its queue overflowed, until it
    subscribes again."""

    types: frozenset[NotificationType] | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    paused: bool = False

    def wants(self, event: Event) -> bool:
        return not self.paused and event.matches(self.types, self.filters)

    def remove(self, types: frozenset[NotificationType] | None) -> bool:
        """Drop ``types`` (None: all); return whether anything is left."""
        if types is None:
            return False
        remaining = (set(NotificationType) if self.types is None else set(self.types)) - types
        self.types = frozenset(remaining)
        return bool(remaining)


TEXT, BINARY, LAG = 0, 1, 2


class SendQueue:
    """A connection's outgoing messages, in order, with two bounds:

    - at most ``max_events`` event messages; the first event that does not fit
      pauses the subscription and queues a ``lagged`` marker instead, so a stalled
      client costs at most ``max_events`` messages of memory and never blocks
      the publisher or anyone else;
    - replies and binary frames are never dropped: the connection's reader waits
      while ``full()`` (CONTROL_LIMIT items or CONTROL_BYTES bytes queued), so they
      hold less than CONTROL_BYTES plus one reply (backpressure onto that client only).
    """

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self.items: deque[tuple[int, Any, bool]] = deque()  # (kind, payload, is_event)
        self.events = 0
        self.control = 0
        self.control_bytes = 0

    def __len__(self) -> int:
        return len(self.items)

    def full(self) -> bool:
        return self.control >= CONTROL_LIMIT or self.control_bytes >= CONTROL_BYTES

    def push_control(self, message: Mapping[str, Any] | bytes) -> None:
        item: tuple[int, bytes | str, bool]
        if isinstance(message, (bytes, bytearray, memoryview)):
            item = (BINARY, bytes(message), False)
        else:
            item = (TEXT, encode(message), False)
        self.items.append(item)
        self.control += 1
        self.control_bytes += len(item[1])

    def offer_event(self, sub: Subscription, seq: int, text: str) -> bool:
        """Queue an event the subscription wants; False (and a lag marker) when full."""
        if sub.paused:
            return False
        if self.events >= self.max_events:
            sub.paused = True
            self.items.append((LAG, seq, False))
            self.control += 1
            return False
        self.items.append((TEXT, text, True))
        self.events += 1
        return True

    def pop(self) -> tuple[int, Any]:
        kind, payload, is_event = self.items.popleft()
        if is_event:
            self.events -= 1
        else:
            self.control -= 1
            if kind != LAG:
                self.control_bytes -= len(payload)
        if kind == LAG:
            return TEXT, encode(lagged(payload, self.max_events))
        return kind, payload
