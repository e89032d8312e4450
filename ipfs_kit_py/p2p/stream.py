"""``P2PStream``: one libp2p stream, used from asyncio.

Every call crosses into the trio thread through the bridge. ``read(n)``
behaves like ``file.read(n)``: it waits until ``n`` bytes arrived or the
remote closed its side, so a one-request/one-response exchange (the seed's
``stream.read(10 * 1024 * 1024)``) gets the whole response. ``read_some(n)``
returns as soon as any data is there. ``close()`` closes our writing side;
the remote can still answer, and we can still read. ``reset()`` aborts both
directions, and so does cancelling a read or write (the stream's state is
unknown after that).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import trio
from libp2p.network.stream.exceptions import StreamClosed, StreamEOF, StreamError, StreamReset

from ..errors import IPFSKitError
from .bridge import BridgeClosed, TrioBridge
from .framing import FrameDecoder, decode_payload, encode_block, encode_json

READ_CHUNK = 256 * 1024
T = TypeVar("T")


class StreamResetError(ConnectionResetError):
    """The stream was reset by the remote peer (or by us)."""


class StreamIdle(IPFSKitError):
    """A read waited longer than its timeout. The stream's framing can no longer be
    trusted (see :func:`trio_read_frames`): tell the peer if you like, then reset it."""

    status = 408
    code = "timeout"


class IncompleteReadError(EOFError):
    def __init__(self, partial: bytes, expected: int) -> None:
        super().__init__(f"stream ended after {len(partial)} of {expected} bytes")
        self.partial = partial
        self.expected = expected


async def trio_read_some(raw: Any, n: int) -> bytes:
    try:
        return bytes(await raw.read(n))
    except StreamEOF:
        return b""
    except StreamReset as e:
        raise StreamResetError(str(e) or "stream reset") from None
    except (StreamClosed, StreamError) as e:
        raise StreamResetError(str(e) or "stream closed") from None


async def trio_read_upto(raw: Any, n: int) -> bytes:
    """Read until ``n`` bytes (``n < 0``: until EOF) or EOF, in the trio thread."""
    parts: list[bytes] = []
    got = 0
    while n < 0 or got < n:
        data = await trio_read_some(raw, READ_CHUNK if n < 0 else min(READ_CHUNK, n - got))
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


WRITE_TIMEOUT = 60.0  # seconds one write may wait for the peer's flow-control window
ANSWER_GRACE = 2.0  # seconds a last answer has to be read before its stream is reset


async def trio_read_frames(raw: Any, decoder: FrameDecoder, timeout: float | None = None) -> list[bytes]:
    """Read until ``decoder`` yields whole frames; [] at EOF.

    py-libp2p's yamux read consumes buffered data before an await (its window
    update), so a cancelled read can lose bytes and desynchronise the framing:
    when ``timeout`` (seconds) expires this raises :class:`StreamIdle`, after
    which the stream must only be written to (an error) and reset.
    """
    with trio.move_on_after(timeout if timeout else math.inf):
        while True:
            data = await trio_read_some(raw, READ_CHUNK)
            if not data:
                return []
            frames = decoder.feed(data)
            if frames:
                return frames
    raise StreamIdle(f"the peer sent nothing for {timeout:g} s")


async def trio_read_some_within(raw: Any, n: int, timeout: float) -> bytes:
    """``trio_read_some`` that raises :class:`StreamIdle` after ``timeout`` seconds (same caveat)."""
    with trio.move_on_after(timeout):
        return await trio_read_some(raw, n)
    raise StreamIdle(f"the peer sent nothing for {timeout:g} s")


async def trio_write(raw: Any, data: bytes) -> None:
    # Shielded: a write cancelled halfway through would leave half a yamux/Noise
    # frame on the connection and break every other stream on it. A cancelled
    # caller stops waiting at once (the bridge); the write itself finishes or
    # times out, and the caller then resets the stream.
    with trio.CancelScope(shield=True), trio.move_on_after(WRITE_TIMEOUT) as scope:
        try:
            await raw.write(data)
        except (StreamClosed, StreamReset, StreamError) as e:
            raise StreamResetError(str(e) or "stream closed") from None
    if scope.cancelled_caught:
        await trio_reset(raw)
        raise StreamResetError(f"write blocked for {WRITE_TIMEOUT}s: peer not reading; stream reset")


async def trio_close(raw: Any) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(10):  # never half a frame (see trio_write)
        try:
            await raw.close()
        except Exception:  # noqa: BLE001 - closing a broken stream is not an error
            pass


async def _reset_later(raw: Any, grace: float) -> None:
    await trio.sleep(grace)
    await trio_reset(raw)


async def trio_reset(raw: Any) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(10):
        try:
            await raw.reset()
        except Exception:  # noqa: BLE001
            pass


class P2PStream:
    """An open libp2p stream to ``peer_id`` speaking ``protocol``."""

    def __init__(self, bridge: TrioBridge, raw: Any, peer_id: str, protocol: str) -> None:
        self._bridge = bridge
        self.raw = raw
        self.peer_id = peer_id
        self.protocol = protocol
        self.closed = False

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        # A cancelled read or write leaves the stream in an unknown state (bytes
        # may have been consumed or half sent), so cancelling one resets the stream.
        try:
            return await self._bridge.call(fn, self.raw, *args)
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError) and not self.closed:
                self.closed = True
                try:
                    self._bridge.spawn(trio_reset, self.raw)
                except Exception:  # noqa: BLE001 - host already gone
                    pass
            raise

    async def frames(self, decoder: FrameDecoder, max_pending: int = 8) -> AsyncGenerator[list[bytes], None]:
        """Batches of whole frames until EOF, read ahead by a task in the libp2p thread.

        For a long-lived inbound stream (bitswap): the reader there hands each batch
        over as it completes (one crossing per batch, none per request), and stops
        reading while ``max_pending`` batches wait here (so the peer's flow-control
        window, not our memory, absorbs a slow consumer). Leaving the loop early
        (an error, a cancel) resets the stream: its framing is unknown after that.
        """
        loop = asyncio.get_running_loop()
        token = self._bridge.token
        if token is None:
            raise StreamResetError("libp2p host is not running")
        ready: deque[list[bytes] | BaseException] = deque()
        arrived = asyncio.Event()
        scope = trio.CancelScope()
        room: list[trio.Event] = []  # set while the reader waits for us to take a batch

        def post(item: list[bytes] | BaseException) -> None:
            ready.append(item)
            try:
                loop.call_soon_threadsafe(arrived.set)
            except RuntimeError:  # the asyncio loop is gone
                scope.cancel()

        async def pump() -> None:
            with scope:
                try:
                    while True:
                        if len(ready) >= max_pending:
                            ev = trio.Event()
                            room.append(ev)
                            if len(ready) >= max_pending:  # re-checked: the consumer may have just taken one
                                await ev.wait()
                            room.clear()
                            continue
                        batch = await trio_read_frames(self.raw, decoder)
                        post(batch)
                        if not batch:
                            return
                except trio.Cancelled:
                    raise
                except BaseException as e:  # noqa: BLE001 - handed to the consumer
                    post(e)

        self._bridge.spawn(pump)
        clean = False
        try:
            while True:
                while not ready:
                    arrived.clear()
                    if not ready:
                        await arrived.wait()
                item = ready.popleft()
                if room:
                    with contextlib.suppress(trio.RunFinishedError):
                        token.run_sync_soon(room[0].set)
                if isinstance(item, BaseException):
                    raise item
                if not item:
                    clean = True
                    return
                yield item
        finally:
            if not clean:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(scope.cancel)
                if not self.closed:
                    self.closed = True
                    with contextlib.suppress(Exception):
                        self._bridge.spawn(trio_reset, self.raw)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        await self._call(trio_write, bytes(data))

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all until EOF when ``n < 0``); fewer only at EOF; b"" at EOF."""
        return await self._call(trio_read_upto, n)

    async def read_some(self, n: int = READ_CHUNK, timeout: float | None = None) -> bytes:
        """Whatever is available, at most ``n`` bytes; b"" at EOF. After ``timeout``
        seconds with nothing: :class:`StreamIdle` (then only write an error and reset)."""
        if timeout:
            return await self._call(trio_read_some_within, n, timeout)
        return await self._call(trio_read_some, n)

    async def readexactly(self, n: int) -> bytes:
        data = await self.read(n)
        if len(data) < n:
            raise IncompleteReadError(data, n)
        return data

    async def close(self) -> None:
        """Close our side for writing (the peer sees EOF)."""
        if not self.closed:
            self.closed = True
            await self._bridge.call(trio_close, self.raw)

    async def reset(self) -> None:
        self.closed = True
        await self._bridge.call(trio_reset, self.raw)

    async def answer_and_reset(self, data: bytes, grace: float = ANSWER_GRACE) -> None:
        """Write a last answer (an error), close our side, and reset the stream ``grace``
        seconds later. A reset at once could overtake the answer: py-libp2p's yamux drops
        a stream's unread bytes when its RST arrives, and the peer's reader may not have
        run yet (both frames can arrive in one read). The peer reads the answer, then
        EOF; what it still sends is dropped with the reset."""
        try:
            await self.write(data)
        finally:
            if not self.closed:
                self.closed = True
                await self._bridge.call(trio_close, self.raw)
                with contextlib.suppress(BridgeClosed):  # the host stopped: nothing left to reset
                    self._bridge.spawn(_reset_later, self.raw, grace)

    def __repr__(self) -> str:
        return f"<P2PStream {self.protocol} peer={self.peer_id}>"


class FramedStream:
    """Length-prefixed messages (see :mod:`.framing`) over a :class:`P2PStream`.

    Outgoing frames are batched up to ``flush_size`` bytes per write, so many
    small blocks cost one crossing into the libp2p thread; call :meth:`flush`
    (``send_json`` does) before waiting for an answer.
    """

    def __init__(self, stream: P2PStream, max_frame: int, flush_size: int = 2 << 20) -> None:
        self.stream = stream
        self.decoder = FrameDecoder(max_frame)
        self._ready: list[bytes] = []
        self._out: list[bytes] = []
        self._out_len = 0
        self.flush_size = flush_size

    async def recv(self, timeout: float | None = None) -> Any:
        """The next message (dict or :class:`~.framing.Block`); ``None`` at a clean EOF.

        Raises :class:`~.framing.FramingError` on a bad frame,
        :class:`IncompleteReadError` when the stream ends inside a frame and
        :class:`StreamIdle` when ``timeout`` seconds pass before a whole frame.
        """
        if not self._ready:
            # whole frames are assembled in the libp2p thread: one crossing per frame,
            # not one per 64 KiB Noise record
            frames = await self.stream._call(trio_read_frames, self.decoder, timeout)
            if not frames:
                if self.decoder.pending:
                    raise IncompleteReadError(b"", self.decoder.pending)
                return None
            self._ready.extend(frames)
        return decode_payload(self._ready.pop(0))

    async def send_raw(self, frame: bytes) -> None:
        self._out.append(frame)
        self._out_len += len(frame)
        if self._out_len >= self.flush_size:
            await self.flush()

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.send_raw(encode_json(message))
        await self.flush()

    async def send_block(self, cid: Any, data: bytes) -> None:
        await self.send_raw(encode_block(cid, data))

    async def answer_and_reset(self, message: dict[str, Any]) -> None:
        """Send ``message`` (an error) after what is queued, then end the stream as
        :meth:`P2PStream.answer_and_reset` does."""
        data = b"".join([*self._out, encode_json(message)])
        self._out.clear()
        self._out_len = 0
        await self.stream.answer_and_reset(data)

    async def flush(self) -> None:
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self._out_len = 0
            await self.stream.write(data)
