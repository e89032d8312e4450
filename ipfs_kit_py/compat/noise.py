"""py-libp2p 0.8.x's Noise transport (``libp2p.security.noise.io``): encrypted
messages read from a buffer filled by large socket reads.

py-libp2p reads each Noise message with two exact reads on the TCP stream: its
2-byte length, then its body, each a ``recv`` of at most what is still missing
(and a wait in the trio loop whenever less has arrived). A bulk transfer costs
about three socket reads and as many scheduler rounds per 64 KiB message. Here,
once the handshake is over, the connection's reader asks the socket for up to
:data:`READ_SIZE` bytes at a time and cuts the messages out of what it got.

Only the transport reader buffers: the handshake's reader must not read past
its last message, since the bytes after it already belong to the transport
reader (a peer writes right after the handshake). The transport reader is the
last reader of the connection, so nothing can be left behind in its buffer.

Writing, py-libp2p encrypts a long write as 64 KiB Noise messages and sends each
with its own socket write (a system call, the GIL given up and waited for again,
and a trio checkpoint). :func:`one_socket_write_per_write` makes a transport
writer encrypt them all first, in order, then send them with one write: yamux
hands it several frames at once (:func:`~.yamux.frames_written_together`).

:func:`buffered_transport_reads` and :func:`one_socket_write_per_write` (called
once when a host starts) install both for the process; :func:`check` (``tests/test_compat.py``) fails loudly when the
module no longer has what this relies on.
"""

from __future__ import annotations

import inspect
from typing import Any

from libp2p.io.exceptions import IncompleteReadError
from libp2p.security.noise import io as noise_io
from libp2p.security.noise.io import NoisePacketReadWriter

from . import IncompatibleDependency
from .yamux import TESTED, version

READ_SIZE = 256 * 1024  # bytes asked of the socket at once (a Noise message is at most 65,537 on the wire)
LENGTH_BYTES = 2


def check() -> None:
    v = version()
    if not v.startswith(TESTED):
        raise IncompatibleDependency(f"libp2p {v} is untested (compat/noise.py was checked against {TESTED})")
    if noise_io.NoisePacketReadWriter.size_len_bytes != LENGTH_BYTES:
        raise IncompatibleDependency("Noise messages no longer have a 2-byte length")
    init = inspect.signature(noise_io.NoiseTransportReadWriter.__init__)
    if list(init.parameters) != ["self", "conn", "noise_state"]:
        raise IncompatibleDependency(f"NoiseTransportReadWriter.__init__ is now {init}")
    if "self.read_writer.read_msg()" not in inspect.getsource(noise_io.BaseNoiseMsgReadWriter.read_msg):
        raise IncompatibleDependency("BaseNoiseMsgReadWriter.read_msg no longer reads self.read_writer.read_msg()")
    write = inspect.signature(noise_io.BaseNoiseMsgReadWriter.write_msg)
    if list(write.parameters) != ["self", "msg", "prefix_encoded"]:
        raise IncompatibleDependency(f"BaseNoiseMsgReadWriter.write_msg is now {write}")
    if not callable(getattr(noise_io.NoiseTransportReadWriter, "encrypt", None)):
        raise IncompatibleDependency("NoiseTransportReadWriter has no encrypt")


class BufferedPackets(NoisePacketReadWriter):
    """Length-prefixed Noise messages cut out of large reads of the connection."""

    def __init__(self, read_write_closer: Any) -> None:
        super().__init__(read_write_closer)
        self._buf = bytearray()
        self._pos = 0  # start of the first unread message in _buf

    async def read_msg(self) -> bytes:
        buf = self._buf
        while True:
            pos = self._pos
            if len(buf) - pos >= LENGTH_BYTES:
                end = pos + LENGTH_BYTES + ((buf[pos] << 8) | buf[pos + 1])
                if end <= len(buf):
                    with memoryview(buf) as mv:  # one copy (a bytearray slice would be a second)
                        msg = bytes(mv[pos + LENGTH_BYTES:end])
                    if end == len(buf):
                        buf.clear()
                        self._pos = 0
                    else:
                        self._pos = end
                    return msg
            chunk = await self.read_write_closer.read(READ_SIZE)
            if not chunk:  # received_bytes == 0 is a clean close between messages (yamux asks)
                have = len(buf) - self._pos
                raise IncompleteReadError(
                    f"Connection closed during read operation: {have} bytes of a Noise message",
                    expected_bytes=max(have, LENGTH_BYTES) + 1, received_bytes=have)
            if self._pos:
                del buf[:self._pos]
                self._pos = 0
            buf += chunk


def buffered_transport_reads() -> None:
    """Make every Noise transport reader created from now on read through a buffer."""
    cls = noise_io.NoiseTransportReadWriter
    if getattr(cls.__init__, "_ipfs_kit", False):
        return
    check()
    original = cls.__init__

    def __init__(self: Any, conn: Any, noise_state: Any) -> None:
        original(self, conn, noise_state)
        self.read_writer = BufferedPackets(conn)

    __init__._ipfs_kit = True  # type: ignore[attr-defined]
    cls.__init__ = __init__  # type: ignore[method-assign]


async def _write_msg_at_once(self: Any, msg: bytes, prefix_encoded: bool = False) -> None:
    """``write_msg`` of a transport writer: every Noise message of ``msg``, one socket write."""
    if prefix_encoded:  # the handshake's early data: never on a transport writer, kept as it was
        await noise_io.BaseNoiseMsgReadWriter.write_msg(self, msg, prefix_encoded)
        return
    step = noise_io.MAX_PLAINTEXT_LENGTH
    parts: list[bytes] = []
    # encrypted in order before the one await: the nonces follow the bytes on the wire;
    # each message is its 2-byte length and its ciphertext, joined once
    for i in range(0, max(len(msg), 1), step):
        sealed = self.encrypt(msg[i:i + step])  # the noise library takes bytes only
        parts += (len(sealed).to_bytes(2, "big"), sealed)
    wire = b"".join(parts)
    await self.read_writer.read_write_closer.write(wire)


def one_socket_write_per_write() -> None:
    """Make every Noise transport writer send a write's messages with one socket write."""
    cls = noise_io.NoiseTransportReadWriter
    if cls.__dict__.get("write_msg") is _write_msg_at_once:
        return
    check()
    cls.write_msg = _write_msg_at_once  # type: ignore[method-assign]
