"""Trio in a thread, with an asyncio face.

py-libp2p runs only under trio; the server (uvicorn, aiortc) is asyncio. A
``TrioBridge`` runs ``trio.run`` in its own daemon thread and lets asyncio code
``await bridge.call(async_fn, *args)``: the trio function runs as a task in the
bridge's nursery and its result (or exception) comes back to the caller's loop.
Cancelling the awaiting asyncio task cancels the trio task. Nothing blocks a
thread while waiting: both sides hand work over with ``run_sync_soon`` /
``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import trio

T = TypeVar("T")


class BridgeClosed(RuntimeError):
    """The trio thread is not running."""


class TrioBridge:
    def __init__(self, name: str = "libp2p-trio") -> None:
        self.name = name
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def token(self) -> trio.lowlevel.TrioToken | None:
        """For ``trio.from_thread.run(..., trio_token=bridge.token)`` from synchronous code."""
        return self._token

    @property
    def nursery(self) -> trio.Nursery | None:
        """The bridge's long-lived nursery (use only from the trio thread)."""
        return self._nursery

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._token is not None

    def start(self, timeout: float = 10.0) -> None:
        """Start the trio thread and wait until it accepts work (blocks briefly)."""
        if self.running:
            return
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise BridgeClosed("trio thread did not start")
        if self._error is not None:
            raise BridgeClosed(f"trio thread failed: {self._error!r}")

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as e:  # noqa: BLE001 - reported to whoever waits
            self._error = e
        finally:
            self._token = None
            self._nursery = None
            self._ready.set()

    async def _main(self) -> None:
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel every trio task and join the thread."""
        token = self._token
        if token is not None and self._stop is not None:
            try:
                token.run_sync_soon(self._stop.set)
            except trio.RunFinishedError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start a trio task from any thread, fire and forget."""
        token, nursery = self._token, self._nursery
        if token is None or nursery is None:
            raise BridgeClosed("libp2p host is not running")
        try:
            token.run_sync_soon(nursery.start_soon, fn, *args)
        except trio.RunFinishedError:
            raise BridgeClosed("libp2p host is not running") from None

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` in the trio thread and return its result to asyncio."""
        token, nursery = self._token, self._nursery
        if token is None or nursery is None:
            raise BridgeClosed("libp2p host is not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        scope = trio.CancelScope()

        def deliver(ok: bool, value: Any) -> None:
            if fut.done():
                return
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

        async def task() -> None:
            with scope:
                try:
                    result = await fn(*args)
                except trio.Cancelled:
                    raise
                except BaseException as e:  # noqa: BLE001 - handed to the asyncio caller
                    _threadsafe(loop, deliver, False, e)
                    return
                _threadsafe(loop, deliver, True, result)
                return
            # cancelled (bridge stopping or caller cancelled)
            _threadsafe(loop, deliver, False, BridgeClosed("cancelled in the libp2p thread"))

        try:
            token.run_sync_soon(nursery.start_soon, task)
        except trio.RunFinishedError:
            raise BridgeClosed("libp2p host is not running") from None
        try:
            return await fut
        except asyncio.CancelledError:
            try:
                token.run_sync_soon(scope.cancel)
            except trio.RunFinishedError:
                pass
            raise


def _threadsafe(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the asyncio loop is closed; nobody is waiting any more
        pass


async def run_in_asyncio(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """From trio: run an asyncio coroutine on ``loop`` and wait for it without blocking trio."""
    cf = asyncio.run_coroutine_threadsafe(coro, loop)
    done = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def wake(_: Any) -> None:
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:
            pass

    cf.add_done_callback(wake)
    try:
        await done.wait()
    except trio.Cancelled:
        cf.cancel()
        raise
    return cf.result()
