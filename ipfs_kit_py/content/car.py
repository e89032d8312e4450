"""CAR v1: the standard archive of IPLD blocks (header + varint-framed sections).

The writer is a generator of byte strings (stream it anywhere). The parser is
push-style: ``feed()`` bytes as they arrive and it returns every block whose
bytes it has, each verified against its CID; ``close()`` raises if the stream
stopped half-way through a section.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import InvalidCAR, InvalidCID
from .cid import CID, decode_varint, encode_varint

MAX_HEADER = 1 << 20
MAX_ROOTS = 1024  # roots one CAR may name (the default of the repo.max_car_roots setting)
MAX_SECTION = 4 << 20  # a block of at most 2 MiB (bitswap's limit) plus its CID, with room


# -- the smallest dag-cbor that a CAR header needs ------------------------------------
def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes((major << 5 | n,))
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes((major << 5 | extra,)) + n.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def encode_header(roots: list[CID]) -> bytes:
    out = _cbor_head(5, 2) + _cbor_head(3, 5) + b"roots" + _cbor_head(4, len(roots))
    for r in roots:
        raw = b"\x00" + bytes(r)
        out += b"\xd8\x2a" + _cbor_head(2, len(raw)) + raw
    out += _cbor_head(3, 7) + b"version" + _cbor_head(0, 1)
    return out


class _TooManyItems(ValueError):
    def __init__(self, n: int) -> None:
        super().__init__(f"a CBOR list or map of {n} items")
        self.n = n


def _cbor_decode(buf: bytes, pos: int = 0, depth: int = 0, max_items: int = MAX_ROOTS) -> tuple[Any, int]:
    if depth > 16:
        raise ValueError("CBOR nested too deeply")
    ib = buf[pos]
    pos += 1
    major, info = ib >> 5, ib & 0x1F
    if info < 24:
        n = info
    elif 24 <= info <= 27:
        size = 1 << (info - 24)
        n = int.from_bytes(buf[pos : pos + size], "big")
        pos += size
    else:
        raise ValueError("indefinite-length CBOR is not dag-cbor")
    if major == 0:
        return n, pos
    if major in (2, 3):
        if pos + n > len(buf):
            raise ValueError("truncated CBOR string")
        raw = buf[pos : pos + n]
        return (raw if major == 2 else raw.decode()), pos + n
    if major in (4, 5) and n > max_items:  # refused before decoding: 20,000 roots cost 0.2 s of CPU
        raise _TooManyItems(n)
    if major == 4:
        items = []
        for _ in range(n):
            item, pos = _cbor_decode(buf, pos, depth + 1, max_items)
            items.append(item)
        return items, pos
    if major == 5:
        obj = {}
        for _ in range(n):
            k, pos = _cbor_decode(buf, pos, depth + 1, max_items)
            v, pos = _cbor_decode(buf, pos, depth + 1, max_items)
            obj[k] = v
        return obj, pos
    if major == 6 and n == 42:
        raw, pos = _cbor_decode(buf, pos, depth + 1, max_items)
        if not isinstance(raw, bytes) or raw[:1] != b"\x00":
            raise ValueError("bad CID in CBOR")
        return CID.from_bytes(raw[1:]), pos
    raise ValueError(f"unsupported CBOR item (major type {major})")


def decode_header(buf: bytes, max_roots: int = MAX_ROOTS) -> list[CID]:
    """The roots of a CAR v1 header, each once (in their order), at most ``max_roots``
    (0: no limit)."""
    max_roots = max_roots if max_roots > 0 else sys.maxsize
    try:
        obj, end = _cbor_decode(buf, max_items=max(max_roots, 2))
    except _TooManyItems as e:
        raise InvalidCAR(f"the CAR header names {e.n} roots; the limit is {max_roots} (repo.max_car_roots)") from None
    except (ValueError, IndexError, TypeError, InvalidCID) as e:  # TypeError: a list or map as a map key
        raise InvalidCAR(f"invalid CAR header: {e}") from None
    if end != len(buf) or not isinstance(obj, dict):
        raise InvalidCAR("invalid CAR header")
    if obj.get("version") != 1:
        raise InvalidCAR(f"unsupported CAR version {obj.get('version')!r} (only v1)")
    roots = obj.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, CID) for r in roots):
        raise InvalidCAR("CAR header roots must be a list of CIDs")
    return list(dict.fromkeys(roots))


def merge_roots(have: list[CID], new: list[CID], max_roots: int = MAX_ROOTS) -> list[CID]:
    """The roots of several CARs imported together (``dag/import`` parts): each once, in
    order, at most ``max_roots`` in all (0: no limit)."""
    merged = list(dict.fromkeys([*have, *new]))
    if 0 < max_roots < len(merged):
        raise InvalidCAR(f"the CARs name {len(merged)} distinct roots together; the limit is {max_roots} "
                         "(repo.max_car_roots)")
    return merged


# -- writing ------------------------------------------------------------------------------
def section(cid: CID, data: bytes) -> bytes:
    raw = bytes(cid)
    return encode_varint(len(raw) + len(data)) + raw + data


def write_car(roots: list[CID], blocks: Iterable[tuple[CID, bytes]]) -> Iterator[bytes]:
    header = encode_header(roots)
    yield encode_varint(len(header)) + header
    for cid, data in blocks:
        raw = bytes(cid)
        yield encode_varint(len(raw) + len(data)) + raw
        yield data


# -- reading ------------------------------------------------------------------------------
class CarParser:
    """Incremental CAR v1 reader. ``roots`` is set once the header has been read."""

    def __init__(self, *, verify: bool = True, max_section: int = MAX_SECTION, max_roots: int = MAX_ROOTS) -> None:
        self._buf = bytearray()
        self.roots: list[CID] | None = None
        self.verify = verify
        self.max_section = max_section
        self.max_roots = max_roots
        self.blocks = 0
        self.bytes = 0

    def _frame(self, limit: int, what: str) -> bytes | None:
        try:
            n, p = decode_varint(self._buf, 0)
        except ValueError as e:
            if "truncated" in str(e):
                return None
            raise InvalidCAR(f"invalid {what} length: {e}") from None
        if n > limit:
            raise InvalidCAR(f"{what} of {n} bytes exceeds the limit of {limit}")
        if n == 0:
            raise InvalidCAR(f"empty {what}")
        if len(self._buf) < p + n:
            return None
        frame = bytes(self._buf[p : p + n])
        del self._buf[: p + n]
        return frame

    def feed(self, data: bytes) -> list[tuple[CID, bytes]]:
        self._buf += data
        self.bytes += len(data)
        out: list[tuple[CID, bytes]] = []
        if self.roots is None:
            header = self._frame(MAX_HEADER, "CAR header")
            if header is None:
                return out
            self.roots = decode_header(header, self.max_roots)
        while self._buf:
            frame = self._frame(self.max_section, "CAR section")
            if frame is None:
                break
            try:
                cid, p = CID.read(frame, 0)
            except InvalidCID as e:
                raise InvalidCAR(f"CAR section {self.blocks + 1}: {e}") from None
            block = frame[p:]
            if self.verify and not cid.verify(block):
                raise InvalidCAR(f"CAR block {cid} does not match its hash")
            out.append((cid, block))
            self.blocks += 1
        return out

    def close(self) -> None:
        if self.roots is None:
            raise InvalidCAR("truncated CAR: no complete header")
        if self._buf:
            raise InvalidCAR(f"truncated CAR: {len(self._buf)} trailing bytes of an incomplete section")


def read_car(chunks: Iterable[bytes], *, verify: bool = True) -> Iterator[tuple[CID, bytes]]:
    parser = CarParser(verify=verify)
    for chunk in chunks:
        yield from parser.feed(chunk)
    parser.close()
