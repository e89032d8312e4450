"""The real server application in this test process, reached through httpx's ASGI transport.

For HTTP tests where a socket adds nothing: :func:`start_inprocess` composes the
app exactly as ``python -m ipfs_kit_py.mcp.server`` does (``server.serve``: the
node over a repo, ``access_policy``, ``app.create_app`` with the access guard in
front, the run secret written, the repo locked), runs its ASGI lifespan, and gives
an ``httpx.Client`` bound to it. Requests arrive as a loopback client's do
(``Host: 127.0.0.1``, client address 127.0.0.1), so the guard decides them as it
decides a real one; nothing of the guard is relaxed.

The app runs on its own event loop in a thread (asyncio's, where uvicorn may pick
uvloop), as it does in the server process, so sync tests block on answers and async
tests (:meth:`InProcessServer.async_transport`) await them from their own loop. Where
uvicorn's behaviour shows to a client, it is reproduced: request bodies reach the app
in 64 KiB pieces, an app error before the response is a 500, one after it started cuts
the response (:class:`httpx.RemoteProtocolError`). tests/test_http_api.py checks the
two paths answer alike (``test_in_process_answers_as_the_server_process``).

What this path cannot show, the real-socket tests keep: uvicorn's HTTP parsing,
connection caps, a client that goes away or stalls mid-request (the transport never
disconnects early), backpressure and endless streams (a response is read whole before
the test sees it: ``stats/bw --poll`` or an SSE stream would never answer), WebSockets,
the process's memory, signals.

Not set here: ``node.api_url`` and the ``api`` file (nothing listens on a port; the
``shutdown`` operation then answers that there is no server to stop instead of
signalling the test process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ipfs_kit_py import tokens
from ipfs_kit_py.config import load_settings
from ipfs_kit_py.node import Node
from ipfs_kit_py.server.server import access_policy, check_exposure, create_app

log = logging.getLogger("tests.inproc")
T = TypeVar("T")
BASE_URL = "http://127.0.0.1"  # what a loopback client sends as Host, and its origin
CLIENT_ADDR = ("127.0.0.1", 123)  # the peer address the app sees
REQUEST_TIMEOUT = 60.0  # seconds; a request that takes longer fails the test instead of hanging it
START_TIMEOUT = 60.0


class _Loop:
    """An asyncio loop running in a thread; coroutines are submitted to it and waited for."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="inproc-server", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise

    def close(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest(), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


class _Lifespan:
    """ASGI lifespan startup and shutdown, driven as uvicorn drives them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.started = asyncio.get_running_loop().create_future()
        self.stopped = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind.startswith("lifespan.startup"):
            if not self.started.done():
                self.started.set_result(message)
        elif kind.startswith("lifespan.shutdown") and not self.stopped.done():
            self.stopped.set_result(message)

    async def _run(self) -> None:
        try:
            await self.app({"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}},
                           self.inbox.get, self._send)
        except BaseException as e:
            for f in (self.started, self.stopped):
                if not f.done():
                    f.set_exception(RuntimeError(f"lifespan failed: {e!r}"))
            raise

    async def startup(self) -> None:
        self.task = asyncio.create_task(self._run())
        await self.inbox.put({"type": "lifespan.startup"})
        msg = await self.started
        if msg["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"app failed to start: {msg.get('message', '')}")

    async def shutdown(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        msg = await self.stopped
        if msg["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"app failed to stop: {msg.get('message', '')}")
        if self.task is not None:
            await self.task


class ResponseCut(Exception):
    """The app raised after its response started: uvicorn then closes the connection
    mid-body, and the client sees :class:`httpx.RemoteProtocolError` (raised as that here)."""


def _as_uvicorn(app: Any) -> Any:
    """Errors answered as uvicorn answers them: logged; before the response started, a 500
    (Starlette's error middleware has usually sent it already); after, the response is cut.
    An app that returns mid-body is cut too; one that returns without a response gets a 500."""
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        started = complete = False

        async def send_(message: Any) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            await app(scope, receive, send_)
        except Exception as e:
            log.exception("%s %s raised", scope.get("method", scope["type"]), scope.get("path"))
            if started and not complete:
                raise ResponseCut(repr(e)) from e
            if not started:
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            return
        if scope["type"] != "http":
            return
        if started and not complete:  # returned mid-body: uvicorn closes the connection
            raise ResponseCut("the app returned without completing its response")
        if not started:  # uvicorn answers 500
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"Internal Server Error"})

    return wrapped


class _Pieces(httpx.AsyncByteStream):
    """A request body handed to the app in socket-read-sized pieces (uvicorn passes on each
    read of up to 64 KiB), so that what depends on the upload's progress (add's progress
    lines, limits checked as bytes arrive) sees what it sees from a real client."""

    PIECE = 65536

    def __init__(self, content: bytes) -> None:
        self.content = content

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.content), self.PIECE):
            yield self.content[i:i + self.PIECE]


def _with_content(request: httpx.Request, content: bytes) -> httpx.Request:
    headers = httpx.Headers(request.headers)
    if "transfer-encoding" in headers:  # the body has a length now
        del headers["transfer-encoding"]
        headers["content-length"] = str(len(content))
    return httpx.Request(request.method, request.url, headers=headers, content=content,
                         extensions=request.extensions)


async def _body(request: httpx.Request) -> httpx.Request:
    """The request with a body the app's loop can read (a generator's is read whole here)."""
    if isinstance(request.stream, httpx.ByteStream):
        return request
    stream = request.stream
    if isinstance(stream, httpx.AsyncByteStream):
        return _with_content(request, b"".join([c async for c in stream]))
    return _with_content(request, b"".join(stream))


class _SyncBridge(httpx.BaseTransport):
    """Sync requests from the test's thread, answered by the app on its loop."""

    def __init__(self, srv: InProcessServer) -> None:
        self.srv = srv

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        stream = request.stream
        if isinstance(stream, httpx.SyncByteStream) and not isinstance(stream, httpx.ByteStream):
            request = _with_content(request, b"".join(stream))  # a generator or multipart: read it here
        return self.srv.call(self.srv.answer(request), REQUEST_TIMEOUT)


class _AsyncBridge(httpx.AsyncBaseTransport):
    """Async requests from a test's own loop, answered by the app on its loop."""

    def __init__(self, srv: InProcessServer) -> None:
        self.srv = srv

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request = await _body(request)
        fut = asyncio.run_coroutine_threadsafe(self.srv.answer(request), self.srv.loop.loop)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), REQUEST_TIMEOUT)
        finally:
            fut.cancel()


@dataclass
class InProcessServer:
    """The app in this process: ``client`` talks to it; ``url`` is what a loopback client would use."""

    repo: Path
    node: Node
    app: Any
    loop: _Loop
    lifespan: _Lifespan
    url: str = BASE_URL
    client: httpx.Client = field(init=False)
    transport: httpx.ASGITransport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = httpx.ASGITransport(app=_as_uvicorn(self.app), client=CLIENT_ADDR)
        self.client = httpx.Client(transport=_SyncBridge(self), base_url=self.url)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = REQUEST_TIMEOUT) -> T:
        """Run a coroutine on the app's loop (the model's methods, for a test that checks state)."""
        return self.loop.run(coro, timeout)

    async def answer(self, request: httpx.Request) -> httpx.Response:
        """On the app's loop: the app's whole answer (the transport collects the body)."""
        if isinstance(request.stream, httpx.ByteStream):  # arrive in pieces, as from a socket
            request.stream = _Pieces(b"".join([c async for c in request.stream]))
        try:
            response = await self.transport.handle_async_request(request)
        except ResponseCut as e:
            raise httpx.RemoteProtocolError(f"peer closed connection without sending complete message body "
                                            f"(the app raised {e})", request=request) from e
        body = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(body),
                              request=request)

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """For an ``httpx.AsyncClient`` (or ``HTTPClient(url, transport=...)``) on another loop."""
        return _AsyncBridge(self)

    def stop(self) -> None:
        self.client.close()
        try:
            self.call(self.lifespan.shutdown(), START_TIMEOUT)
        finally:
            try:
                tokens.remove_run_secret(self.node.repo.path)
                self.node.close()  # as serve() does last: events saved, index closed, repo unlocked
            finally:
                self.loop.close()


def start_inprocess(repo: Path, *, env: dict[str, str] | None = None,
                    overrides: dict[str, dict[str, Any]] | None = None) -> InProcessServer:
    """The server's app over ``repo``, started (its lifespan run). libp2p is off unless
    ``overrides``/``env`` turn it on; ``env`` is read as the server reads its environment
    (on top of this process's)."""
    import os

    repo.mkdir(parents=True, exist_ok=True)
    settings_over: dict[str, dict[str, Any]] = {"libp2p": {"enabled": False}}
    for section, values in (overrides or {}).items():
        settings_over.setdefault(section, {}).update(values)
    loop = _Loop()

    async def build() -> InProcessServer:
        settings = load_settings(repo, settings_over, environ={**os.environ, **(env or {})})
        settings.server.host, settings.server.port = "127.0.0.1", 0
        node = Node(repo, settings)
        try:
            check_exposure(node)
            policy = access_policy(node)
            app = create_app(node, policy)
            node.repo.lock()
            policy.run_secret = tokens.write_run_secret(node.repo.path)
            lifespan = _Lifespan(app)
            await lifespan.startup()
        except BaseException:
            tokens.remove_run_secret(node.repo.path)
            node.close()
            raise
        return InProcessServer(repo, node, app, loop, lifespan)

    try:
        return loop.run(build(), START_TIMEOUT)
    except BaseException:
        loop.close()
        raise


def inprocess(repo: Path, **kw: Any) -> Iterator[InProcessServer]:
    """A fixture body: the app started over ``repo``, stopped after the test(s)."""
    srv = start_inprocess(repo, **kw)
    try:
        yield srv
    finally:
        srv.stop()


@contextlib.contextmanager
def running(repo: Path, **kw: Any) -> Iterator[InProcessServer]:
    """``with running(repo) as srv:`` for a test that needs its own settings."""
    srv = start_inprocess(repo, **kw)
    try:
        yield srv
    finally:
        srv.stop()
