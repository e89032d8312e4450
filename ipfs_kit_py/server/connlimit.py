"""Connection caps below the open-file limit: a flood of connections gets 503, not EMFILE.

Without a cap, 300 idle connections to a server allowed 256 open files made
``accept()`` fail with EMFILE; asyncio then logged the failure with its
traceback about 2,000 times a second and nothing was served. Here:

- the soft open-file limit is raised towards 8192 when the hard limit allows
  (as Kubo does at start);
- ``server.max_connections`` (default: the soft limit less a quarter, at least
  32, kept for block files, the index and libp2p) caps the HTTP and WebSocket
  connections served at once: one more is answered ``503`` and closed at once,
  so its file descriptor is back at once; uvicorn's ``limit_concurrency`` (503 to
  requests past the same number of tasks) is set to it too, and the listen backlog
  (which is also how many connections asyncio accepts per loop tick) to a quarter
  of the reserve;
- a connection that has not sent its first request head within
  ``server.first_request_timeout`` is closed (an idle or trickling client would
  otherwise hold a slot for ever: uvicorn starts no timer before a request).

The HTTP protocol is uvicorn's own (httptools or h11), subclassed: it relies on
uvicorn's ``connections``, ``loop``, ``cycle`` and ``transport`` attributes and
its ``handle_websocket_upgrade`` (uvicorn 0.30 to 0.54 checked); without them it
falls back to uvicorn's class and ``limit_concurrency`` alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from typing import Any

log = logging.getLogger("ipfs_kit_py.server")

FD_TARGET = 8192  # soft open-file limit asked for at start (Kubo's default IPFS_FD_MAX)
RESERVE_MIN = 32  # descriptors always kept out of the connection cap
LIMIT_MIN = 8


def raise_open_file_limit(target: int = FD_TARGET) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``target`` within the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError) as e:
            log.info("could not raise the open-file limit from %d to %d: %s", soft, want, e)
    return soft


def connection_limit(setting: int = 0, soft: int | None = None) -> int:
    """``server.max_connections``, or when it is 0, the soft open-file limit less a reserve."""
    if setting > 0:
        return setting
    if soft is None:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft > 1 << 20:
        soft = 1 << 20
    return max(LIMIT_MIN, soft - max(RESERVE_MIN, soft // 4))


def _refusal(limit: int) -> bytes:
    body = json.dumps({"Message": f"503 - Service Unavailable: {limit} connections are open, the limit "
                                  "(server.max_connections); retry later", "Code": 0, "Type": "error"}).encode()
    head = ("HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
            f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n").encode()
    return head + body


def guarded_protocol(limit: int, first_request_timeout: float) -> type[asyncio.Protocol] | str:
    """uvicorn's HTTP protocol class with the cap and the first-request timer (or "auto")."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: Any = AutoHTTPProtocol
    if not all(hasattr(base, a) for a in ("connection_made", "connection_lost", "handle_websocket_upgrade")):
        log.warning("uvicorn's HTTP protocol changed: connections are capped by limit_concurrency only")
        return "auto"
    refusal = _refusal(limit)

    class CappedHTTPProtocol(base):  # type: ignore[misc]
        _refused = False
        _first_request: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            if len(self.connections) >= limit:
                self._refused = True
                log.warning("connection refused with 503: %d connections are open (server.max_connections)", limit)
                transport.write(refusal)  # type: ignore[attr-defined]
                transport.close()
                return
            super().connection_made(transport)
            if first_request_timeout > 0:
                self._first_request = self.loop.call_later(first_request_timeout, self._no_request)

        def _no_request(self) -> None:
            self._first_request = None
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

        def _cancel_first_request(self) -> None:
            if self._first_request is not None:
                self._first_request.cancel()
                self._first_request = None

        def handle_websocket_upgrade(self, *args: Any) -> Any:
            self._cancel_first_request()  # the WebSocket protocol takes the connection over
            return super().handle_websocket_upgrade(*args)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_first_request()
            if not self._refused:
                super().connection_lost(exc)

    return CappedHTTPProtocol


def connection_caps(max_connections: int, first_request_timeout: float) -> dict[str, Any]:
    """The ``uvicorn.Config`` arguments that cap connections below the open-file limit."""
    soft = raise_open_file_limit()
    limit = connection_limit(max_connections, soft)
    # asyncio accepts up to ``backlog`` connections per loop tick before any of them is
    # counted, and a refused one's descriptor is only freed a tick later (transport.close
    # is deferred): two bursts may be open at once, and the process holds other files
    # too, so a burst is kept to a quarter of the reserve, or it still runs into EMFILE
    backlog = max(16, min(2048, (soft - limit) // 4))
    log.info("serving at most %d connections at once (open-file limit %d)", limit, soft)
    return {"http": guarded_protocol(limit, first_request_timeout), "limit_concurrency": limit, "backlog": backlog}
