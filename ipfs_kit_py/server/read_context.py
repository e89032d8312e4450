"""Kubo's per-request read options, for every ``/api/v0`` route and the gateway.

- ``offline=true`` (Kubo's global ``--offline``): reads answer from the local
  store only and fail at once for what it lacks.
- ``timeout=<duration>`` (Kubo's global ``--timeout``, Go syntax: ``30s``,
  ``1m30s``, ``500ms``): the request is stopped when it runs out; before the
  response started, the answer is Kubo's ``context deadline exceeded`` error.
- A request without a body whose client goes away is stopped: the task serving
  it is cancelled, which stops its fetches (bitswap sessions send cancels).

An ASGI middleware, so each route stays a plain adapter over the model; the
options reach the model through :data:`ipfs_kit_py.retrieval.read_options`.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qs

from ..retrieval import ReadOptions, read_options

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration (``1m30s``, ``250ms``, ``2.5s``); a bare number is seconds."""
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(t) or not t:
        raise ValueError(f"invalid duration {text!r} (e.g. 30s, 1m30s, 500ms)")
    return total


def _bool(v: str) -> bool:
    return v.lower() in ("", "1", "true", "yes", "on")


async def _send_error(send: Any, status: int, message: str, code: int = 0) -> None:
    body = json.dumps({"Message": message, "Code": code, "Type": "error"}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class ReadContext:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path.startswith("/api/v0/") or path.startswith("/ipfs/")):
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        timeout = None
        if path.startswith("/api/v0/") and query.get("timeout"):
            try:
                timeout = parse_duration(query["timeout"][-1])
            except ValueError as e:
                await _send_error(send, 400, str(e), 1)
                return
        token = None
        if path.startswith("/api/v0/") and "offline" in query:
            token = read_options.set(ReadOptions(offline=_bool(query["offline"][-1])))
        try:
            await self._run(scope, receive, send, timeout)
        finally:
            if token is not None:
                read_options.reset(token)

    async def _run(self, scope: Any, receive: Any, send: Any, timeout: float | None) -> None:
        headers = dict(scope.get("headers") or [])
        bodyless = headers.get(b"content-length", b"0") in (b"0", b"") and b"transfer-encoding" not in headers
        started = completed = False

        async def send_(message: Any) -> None:
            nonlocal started, completed
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                completed = True
            await send(message)

        if not bodyless:  # the app reads the body itself: no watcher (it would buffer the upload)
            try:
                async with asyncio.timeout(timeout):
                    await self.app(scope, receive, send_)
            except TimeoutError:
                if not started:
                    await _send_error(send, 500, "context deadline exceeded")
            return

        first = await receive()
        disconnected = asyncio.Event()
        if first["type"] == "http.disconnect":
            return

        async def receive_() -> Any:
            nonlocal first
            if first is not None:
                msg, first = first, None
                return msg
            await disconnected.wait()
            return {"type": "http.disconnect"}

        app_task = asyncio.ensure_future(self.app(scope, receive_, send_))

        async def watch() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    disconnected.set()
                    if not completed:  # the client went away mid-request: stop the work
                        app_task.cancel()
                    return

        watcher = asyncio.ensure_future(watch())
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(app_task)
        except TimeoutError:
            app_task.cancel()
            if not started:
                await _send_error(send, 500, "context deadline exceeded")
        except asyncio.CancelledError:
            app_task.cancel()
            if not app_task.done():
                raise
        finally:
            watcher.cancel()
            if not app_task.done():
                app_task.cancel()
                try:
                    await app_task
                except BaseException:  # noqa: BLE001 - cancelled on purpose
                    pass
