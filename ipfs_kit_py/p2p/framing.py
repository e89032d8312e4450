"""Length-prefixed messages for the ipfs-kit libp2p protocols (pure, no I/O).

A frame is ``uvarint(len(payload)) || payload`` (the unsigned LEB128 varint
libp2p uses everywhere). The payload's first byte says what it holds:

* ``0x00`` JSON: the rest is one UTF-8 JSON object (a control message with a
  ``"type"`` field);
* ``0x01`` block: the rest is a binary CID immediately followed by the block's
  bytes (the receiver hashes the bytes and compares them with the CID).

A length above the decoder's ``max_size``, a varint longer than 9 bytes, an
unknown kind, bad JSON or a JSON value that is not an object is a
:class:`FramingError`; the protocol handler then resets that stream only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..content.cid import CID, encode_varint

KIND_JSON = 0x00
KIND_BLOCK = 0x01
DEFAULT_MAX_FRAME = 4 << 20  # bytes; a 2 MiB block (Kubo's limit) plus its CID fits easily
MAX_VARINT_BYTES = 9


class FramingError(ValueError):
    """A frame that breaks the rules above; the stream carrying it is reset."""


class FrameTooLarge(FramingError):
    pass


@dataclass(frozen=True, slots=True)
class Block:
    cid: CID
    data: bytes


Message = dict[str, Any] | Block


def encode_frame(payload: bytes) -> bytes:
    return encode_varint(len(payload)) + payload


def encode_json(message: dict[str, Any]) -> bytes:
    return encode_frame(bytes([KIND_JSON]) + json.dumps(message, separators=(",", ":")).encode())


def encode_block(cid: CID, data: bytes) -> bytes:
    head = bytes([KIND_BLOCK]) + bytes(cid)
    return encode_varint(len(head) + len(data)) + head + data


def decode_payload(payload: bytes) -> Message:
    if not payload:
        raise FramingError("empty frame")
    kind = payload[0]
    if kind == KIND_JSON:
        try:
            msg = json.loads(payload[1:])
        except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, too deep, an integer of 4301+ digits
            raise FramingError(f"malformed JSON message: {e}") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise FramingError("a JSON message must be an object with a string 'type'")
        return msg
    if kind == KIND_BLOCK:
        try:
            cid, pos = CID.read(payload, 1)
        except Exception as e:  # noqa: BLE001 - any parse failure is a framing error
            raise FramingError(f"malformed CID in block frame: {e}") from None
        return Block(cid, payload[pos:])
    raise FramingError(f"unknown frame kind 0x{kind:02x}")


class FrameDecoder:
    """Push bytes in with :meth:`feed`, take complete payloads out.

    A frame that arrives in many pieces (a 256 KiB block in 64 KiB reads) is kept as
    those pieces and joined once, straight into its payload: one copy of each byte."""

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME) -> None:
        self.max_size = max_size
        self._rest = b""  # the start of a length prefix
        self._parts: list[bytes] = []  # pieces of the frame being received; its payload starts at _start in the first
        self._start = 0
        self._have = 0  # bytes of that frame received, prefix included
        self._need = 0  # its whole size, prefix included (0: no frame being received)

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        if self._need:
            self._parts.append(data)
            self._have += len(data)
            if self._have < self._need:
                return out
            over = self._have - self._need  # bytes after the frame, in the last piece
            views = [memoryview(p) for p in self._parts]
            views[0] = views[0][self._start:]
            views[-1] = views[-1][:len(data) - over]
            out.append(b"".join(views))
            self._parts, self._have, self._need = [], 0, 0
            if not over:
                return out
            data = data[len(data) - over:]
        if self._rest:
            data, self._rest = self._rest + data, b""
        pos, n = 0, len(data)
        with memoryview(data) as mv:
            while pos < n:
                header = self._header(data, pos)
                if header is None:
                    self._rest = data[pos:]
                    break
                length, start = header
                if start + length > n:  # the rest comes later
                    self._parts, self._start = [data], start
                    self._have, self._need = n - pos, start + length - pos
                    break
                out.append(bytes(mv[start:start + length]))
                pos = start + length
        return out

    def _header(self, buf: bytes, pos: int) -> tuple[int, int] | None:
        n = shift = 0
        for i, b in enumerate(buf[pos:pos + MAX_VARINT_BYTES]):
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if n > self.max_size:
                    raise FrameTooLarge(f"frame of {n} bytes exceeds the limit of {self.max_size}")
                return n, pos + i + 1
        if len(buf) - pos >= MAX_VARINT_BYTES:
            raise FramingError("length prefix too long")
        return None

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._rest) + self._have
