"""py-libp2p 0.8.x's yamux (``libp2p.stream_muxer.yamux.yamux``): window updates
batched as go-yamux batches them.

py-libp2p sends a WINDOW_UPDATE after every read of a stream by default
(``PY_YAMUX_RELEASE_ON_READ``, read from the environment at each read): one more
encrypted frame and socket write per read, on both sides of a bulk transfer.
go-yamux (Kubo) credits the sender once half the window has been read; with the
release-on-read branch off, py-libp2p's own hysteresis does exactly that. In
``benchmarks/bench_retrieval.py``'s setting (128 MiB over bitswap between two of
our nodes) the fetch went from 31 to 42 MB/s, with 25% less CPU in the fetcher
and 38% less in the provider.

:func:`batch_window_updates` (called once when a host starts) turns the branch off
for the process, unless ``PY_YAMUX_RELEASE_ON_READ`` is set explicitly (then
py-libp2p reads it as before).

py-libp2p's data frames carry 64 KiB (go-yamux's size), 12 bytes more than one
Noise message holds: each frame went out as a full Noise message plus one of 17
bytes, two encryptions, two socket writes, and two messages for the receiver to
read and decrypt. :func:`frames_in_one_noise_message` sizes them to fit one
(65,507 bytes of data); peers accept any frame size up to their window.

py-libp2p writes a stream's data one frame at a time, each through three trio
locks and its own socket write, and a writer out of window polls every 10 ms for
the peer's credit. :func:`frames_written_together` writes every frame the window
allows at once (one Noise write, :func:`~.noise.one_socket_write_per_write`, so
one socket write) and wakes a waiting writer as soon as credit arrives.

py-libp2p's reading loop (``Yamux.handle_incoming``) takes each frame through two
``read_exactly`` calls, a timeout scope, a trio lock and half a dozen formatted debug
messages: in a bulk fetch most of the receiving thread's time. With
:func:`data_frames_read_directly`, :class:`DataFrames` sits between the loop and the
secured connection: a plain DATA frame (no flags) for an open stream goes straight into
that stream's buffer as its bytes arrive; every other frame (new streams, FIN, RST, window
updates, pings, go-away) is handed to py-libp2p's loop whole and in order, which handles
it as before.

:func:`check` (``tests/test_compat.py``) fails loudly when the module no longer
has what this relies on.
"""

from __future__ import annotations

import inspect
import os
import struct
from collections.abc import Callable
from importlib.metadata import version as _dist_version
from typing import Any

import trio

from . import IncompatibleDependency

TESTED = "0.8."
_HEADER = struct.Struct("!BBHII")  # yamux's frame header (check() compares it with py-libp2p's)
ENV = "PY_YAMUX_RELEASE_ON_READ"


def version() -> str:
    return _dist_version("libp2p")


def check() -> None:
    v = version()
    if not v.startswith(TESTED):
        raise IncompatibleDependency(f"libp2p {v} is untested (compat/yamux.py was checked against {TESTED})")
    from libp2p.stream_muxer.yamux import yamux

    if not callable(getattr(yamux, "_yamux_release_on_read", None)):
        raise IncompatibleDependency("libp2p's yamux has no _yamux_release_on_read")
    if "_yamux_release_on_read" not in yamux.YamuxStream._auto_tune_and_send_window_update.__code__.co_names:
        raise IncompatibleDependency("YamuxStream._auto_tune_and_send_window_update no longer asks _yamux_release_on_read")
    if "MAX_MESSAGE_SIZE" not in yamux.YamuxStream.write.__code__.co_names and not _ours(yamux.YamuxStream.write):
        raise IncompatibleDependency("YamuxStream.write no longer sizes its frames by MAX_MESSAGE_SIZE")
    init = inspect.getsource(yamux.YamuxStream.__init__)
    for name in ("rw_lock", "window_lock", "send_window", "send_closed", "closed", "stream_id", "conn"):
        if f"self.{name} =" not in init and not isinstance(getattr(yamux.YamuxStream, name, None), property):
            raise IncompatibleDependency(f"YamuxStream no longer sets {name}")
    if list(inspect.signature(yamux.Yamux._write_frame).parameters) != ["self", "data"]:
        raise IncompatibleDependency("Yamux._write_frame(data) has changed")
    if (yamux.YAMUX_HEADER_FORMAT, yamux.HEADER_SIZE, yamux.TYPE_DATA) != (_HEADER.format, _HEADER.size, 0):
        raise IncompatibleDependency("yamux's frame header has changed")
    for fn in (yamux.Yamux.handle_incoming, yamux.Yamux._read_data_body):
        if not _ours(fn) and "read_exactly" not in fn.__code__.co_names:
            raise IncompatibleDependency(f"{fn.__qualname__} no longer reads with read_exactly")
    mux_init = inspect.getsource(yamux.Yamux.__init__)
    for name in ("streams", "stream_buffers", "stream_events"):
        if f"self.{name}:" not in mux_init and f"self.{name} =" not in mux_init:
            raise IncompatibleDependency(f"Yamux no longer sets {name}")
    for name in ("recv_window", "closed"):
        if f"self.{name} =" not in init:
            raise IncompatibleDependency(f"YamuxStream no longer sets {name}")
    if not isinstance(getattr(yamux, "MAX_WINDOW_SIZE", None), int) or not callable(
            getattr(yamux, "_yamux_data_read_timeout", None)):
        raise IncompatibleDependency("yamux has no MAX_WINDOW_SIZE or _yamux_data_read_timeout")


def _ours(fn: Any) -> bool:
    return bool(getattr(fn, "_ipfs_kit", False))


def batch_window_updates() -> None:
    """Credit the sender once half the window is read (go-yamux), not after every read."""
    from libp2p.stream_muxer.yamux import yamux

    current = yamux._yamux_release_on_read
    if getattr(current, "_ipfs_kit", False):
        return
    check()

    def release_on_read(original: Callable[[], bool] = current) -> bool:
        return original() if ENV in os.environ else False

    release_on_read._ipfs_kit = True  # type: ignore[attr-defined]
    yamux._yamux_release_on_read = release_on_read


def frames_in_one_noise_message() -> None:
    """Data frames of at most one Noise message (65,519 bytes, header included)."""
    from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH
    from libp2p.stream_muxer.yamux import yamux

    check()
    yamux.MAX_MESSAGE_SIZE = min(yamux.MAX_MESSAGE_SIZE, MAX_PLAINTEXT_LENGTH)


WINDOW_WAIT = 5.0  # seconds a writer waits for credit, as py-libp2p's write does
CLOSED_POLL = 0.05  # seconds between checks that a writer waiting for credit still has a stream


def _send_window(self: Any) -> int:
    window: int = self.__dict__["_send_window"]
    return window


def _set_send_window(self: Any, value: int) -> None:
    grew = value > self.__dict__.get("_send_window", 0)
    self.__dict__["_send_window"] = value
    waiting = self.__dict__.get("_window_grew")
    if grew and waiting is not None:
        waiting.set()


async def _write(self: Any, data: bytes) -> None:
    """YamuxStream.write: every frame the window allows, in one write to the connection."""
    from libp2p.stream_muxer.exceptions import MuxedStreamError
    from libp2p.stream_muxer.yamux import yamux

    total = len(data)
    sent = 0
    view = memoryview(data)
    pack = _HEADER.pack
    step = yamux.MAX_MESSAGE_SIZE - yamux.HEADER_SIZE
    while sent < total:
        frames: list[bytes | memoryview] = []  # headers and views of ``data``: joined once
        async with self.rw_lock.write_lock():
            if self.send_closed:
                raise MuxedStreamError("Stream is closed for sending")
            async with self.window_lock:
                if self.closed:
                    raise MuxedStreamError("Stream is closed")
                while self.send_window > 0 and sent < total:
                    n = min(self.send_window, step, total - sent)
                    frames += (pack(0, yamux.TYPE_DATA, 0, self.stream_id, n), view[sent:sent + n])
                    self.send_window -= n
                    sent += n
                if not frames:
                    self._window_grew = trio.Event()
        if frames:
            await self.conn._write_frame(b"".join(frames))
            continue
        self._zero_window_waits += 1
        # woken by credit; a stream closed meanwhile is noticed within CLOSED_POLL
        with trio.move_on_after(WINDOW_WAIT) as waited:
            while self.send_window <= 0 and not self.closed:
                with trio.move_on_after(CLOSED_POLL):
                    await self._window_grew.wait()
        self._window_grew = None
        if waited.cancelled_caught:
            raise MuxedStreamError(f"Timed out waiting for window update after {WINDOW_WAIT:g} seconds.")


_write._ipfs_kit = True  # type: ignore[attr-defined]


def frames_written_together() -> None:
    """Write all the frames the window allows at once; a writer out of window wakes on credit."""
    from libp2p.stream_muxer.yamux import yamux

    cls = yamux.YamuxStream
    if _ours(cls.write):
        return
    check()
    cls.send_window = property(_send_window, _set_send_window)  # type: ignore[assignment]
    cls.write = _write  # type: ignore[method-assign]


_FRAMES = "_ipfs_kit_frames"  # the DataFrames of a secured connection, set on it


class DataFrames:
    """What a Yamux connection's reading loop reads through (see the module's doc).

    ``out`` holds the bytes of one frame for py-libp2p's loop; while it is not empty no
    later frame is taken here, so frames keep their order.
    """

    def __init__(self, conn: Any, mux: Any) -> None:
        from libp2p.io.exceptions import IncompleteReadError
        from libp2p.stream_muxer.yamux import yamux

        self.conn = conn
        self.mux = mux
        self.max_frame = yamux.MAX_WINDOW_SIZE
        self.body_timeout = yamux._yamux_data_read_timeout  # seconds, read from the environment
        self.incomplete = IncompleteReadError
        self.buf = bytearray()  # read, not parsed yet
        self.out = bytearray()  # one frame (header, body) for py-libp2p's loop
        self.through = 0  # bytes of that frame's body still to come
        self.sid = 0  # the stream of the direct frame whose body is arriving
        self.left = 0  # bytes of that body still to come
        self.direct = 0  # frames delivered here

    async def read_exactly(self, n: int) -> bytes:
        """``n`` bytes for py-libp2p's loop (a header, or the body of a frame it reads)."""
        while len(self.out) < n:
            if self.out and not self.through:
                raise self.incomplete(f"yamux asked {n} bytes of a {len(self.out)}-byte frame", n, len(self.out))
            mid_frame = bool(self.left or self.through or self.buf)
            if mid_frame:  # a frame's bytes are bounded in time, as py-libp2p bounds a body
                with trio.fail_after(self.body_timeout()):
                    chunk = await self.conn.read()
            else:
                chunk = await self.conn.read()
            if not chunk:
                got = len(self.out)
                raise self.incomplete(f"connection closed with {n - got} bytes of a frame missing", n,
                                          got + int(mid_frame))
            self._feed(chunk)
        data = bytes(self.out[:n])
        del self.out[:n]
        return data

    def _feed(self, chunk: bytes) -> None:
        if self.buf:
            self.buf += chunk
            used = self._parse(self.buf)
            del self.buf[:used]
        else:  # parsed where it lies; only an unparsed tail is copied
            used = self._parse(chunk)
            if used < len(chunk):
                self.buf = bytearray(memoryview(chunk)[used:])

    def _parse(self, data: bytes | bytearray) -> int:
        """Take what ``data`` holds: direct bodies delivered, one other frame into ``out``;
        returns the bytes used."""
        pos, end = 0, len(data)
        streams = self.mux.streams
        with memoryview(data) as view:
            while pos < end:
                if self.left:
                    k = min(self.left, end - pos)
                    self._deliver(view[pos:pos + k])
                    pos += k
                    self.left -= k
                elif self.through:
                    k = min(self.through, end - pos)
                    self.out += view[pos:pos + k]
                    pos += k
                    self.through -= k
                elif self.out or end - pos < _HEADER.size:
                    break  # py-libp2p reads its frame first / a header is not all here
                else:
                    _v, typ, flags, sid, length = _HEADER.unpack_from(data, pos)
                    pos += _HEADER.size
                    stream = streams.get(sid) if typ == 0 and not flags and 0 < length <= self.max_frame else None
                    if stream is not None and not stream.closed:
                        self.sid, self.left = sid, length
                        self.direct += 1
                        continue
                    self.out += view[pos - _HEADER.size:pos]
                    if typ == 0 and length <= self.max_frame:  # py-libp2p reads the body (an oversized
                        self.through = length  # frame ends the connection after its header)
        return pos

    def _deliver(self, piece: memoryview) -> None:
        # as py-libp2p's loop does for a DATA frame; a stream gone meanwhile drops the bytes
        mux, sid = self.mux, self.sid
        stream = mux.streams.get(sid)
        buffer = mux.stream_buffers.get(sid)
        if stream is None or buffer is None:
            return
        buffer += piece
        stream.recv_window -= len(piece)
        if stream.recv_window < 0:  # the peer sent past our window: py-libp2p clamps it too
            stream.recv_window = 0
        event = mux.stream_events.get(sid)
        if event is not None:
            event.set()


def data_frames_read_directly() -> None:
    """Data frames of open streams go straight to their buffers; py-libp2p's loop does the rest."""
    from libp2p.io.utils import read_exactly as original_read_exactly
    from libp2p.stream_muxer.yamux import yamux

    cls = yamux.Yamux
    if _ours(cls.handle_incoming):
        return
    check()
    original_loop = cls.handle_incoming

    async def read_exactly(reader: Any, n: int, *args: Any) -> bytes:
        frames = getattr(reader, _FRAMES, None)
        if frames is None:
            return await original_read_exactly(reader, n, *args)
        result: bytes = await frames.read_exactly(n)
        return result

    async def handle_incoming(self: Any) -> None:
        try:
            setattr(self.secured_conn, _FRAMES, DataFrames(self.secured_conn, self))
        except AttributeError:  # a connection type that takes no attribute: py-libp2p's path
            pass
        await original_loop(self)

    handle_incoming._ipfs_kit = True  # type: ignore[attr-defined]
    yamux.read_exactly = read_exactly  # type: ignore[attr-defined,assignment]
    cls.handle_incoming = handle_incoming  # type: ignore[method-assign]
