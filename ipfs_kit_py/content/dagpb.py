"""dag-pb (PBNode/PBLink) and UnixFS (Data) protobufs, written by hand.

Both are tiny proto2 messages; encoding them directly is faster than a
protobuf runtime and keeps byte-for-byte control, which Kubo-identical CIDs
need: links are written before data, every link carries its Name (possibly
empty) and Tsize, and UnixFS blocksizes are unpacked repeated varints.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..errors import CorruptBlock
from .cid import CID, decode_varint, encode_varint

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~7 ms at `ipfs-kit add` start)
if TYPE_CHECKING:
    from typing import Any

# UnixFS Data.DataType
RAW, DIRECTORY, FILE, METADATA, SYMLINK, HAMT_SHARD = range(6)
TYPE_NAMES = {
    RAW: "raw",
    DIRECTORY: "directory",
    FILE: "file",
    METADATA: "metadata",
    SYMLINK: "symlink",
    HAMT_SHARD: "hamt-sharded-directory",
}


@dataclass(slots=True)
class PBLink:
    cid: CID
    name: str = ""
    tsize: int = 0


@dataclass(slots=True)
class PBNode:
    data: bytes | None = None
    links: list[PBLink] = field(default_factory=list)


@dataclass(slots=True)
class UnixFSData:
    type: int
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = field(default_factory=list)
    hash_type: int | None = None
    fanout: int | None = None
    mode: int | None = None


def _bytes_field(tag: int, value: bytes) -> bytes:
    return b"".join((bytes((tag,)), encode_varint(len(value)), value))


# varints of the sizes a file's parents repeat (chunk sizes, leaf Tsizes): cached
_varint = functools.lru_cache(maxsize=512)(encode_varint)


def encode_link(link: PBLink) -> bytes:
    name = link.name.encode("utf-8", "surrogateescape")  # decode_node keeps non-UTF-8 names this way
    cid = bytes(link.cid)
    body = b"".join((b"\x0a", _varint(len(cid)), cid, b"\x12", _varint(len(name)), name, b"\x18",
                     encode_varint(link.tsize)))
    return b"".join((b"\x12", _varint(len(body)), body))


def encode_node(links: list[PBLink], data: bytes | None) -> bytes:
    out = [encode_link(lk) for lk in links]
    if data is not None:
        out.append(_bytes_field(0x0A, data))
    return b"".join(out)


def file_parent(children: Sequence[tuple[bytes, int, int]]) -> bytes:
    """The dag-pb block of a UnixFS file node over ``children``, each ``(binary CID, Tsize,
    file bytes)``: what ``encode_node`` writes for unnamed links and a File ``UnixFSData``
    with their sizes as blocksizes, without a PBLink, CID or UnixFSData object per child
    (the importer's parents, one per ``max_links`` leaves)."""
    out = []
    filesize = 0
    for cid, tsize, _ in children:
        # a link: Hash (field 1), Name "" (field 2, always written), Tsize (field 3)
        body_len = 1 + len(_varint(len(cid))) + len(cid) + 3 + len(_varint(tsize))
        out.append(b"".join((b"\x12", _varint(body_len), b"\x0a", _varint(len(cid)), cid, b"\x12\x00\x18",
                             _varint(tsize))))
    data = [b"\x08\x02"]  # Type = File
    sizes = []
    for _, _, size in children:
        filesize += size
        sizes.append(b"\x20")
        sizes.append(_varint(size))
    data.append(b"\x18")
    data.append(encode_varint(filesize))
    data += sizes
    unixfs = b"".join(data)
    out.append(b"".join((b"\x0a", encode_varint(len(unixfs)), unixfs)))
    return b"".join(out)


@functools.lru_cache(maxsize=16)  # a file's leaves are all one size but the last
def file_leaf_parts(chunk_len: int) -> tuple[bytes, bytes]:
    """The bytes around a chunk in a dag-pb UnixFS file leaf: ``prefix + chunk + suffix``.

    Lets the importer hash and write a leaf as three pieces instead of copying a
    chunk of up to 1 MiB into a new buffer. An empty chunk has no Data field,
    as go-unixfs writes it.
    """
    inner = b"\x08\x02"
    if chunk_len:
        inner += b"\x12" + encode_varint(chunk_len)
    suffix = b"\x18" + encode_varint(chunk_len)
    total = len(inner) + chunk_len + len(suffix)
    return b"\x0a" + encode_varint(total) + inner, suffix


def encode_unixfs(u: UnixFSData) -> bytes:
    out = [b"\x08", encode_varint(u.type)]
    if u.data is not None:
        out.append(_bytes_field(0x12, u.data))
    if u.filesize is not None:
        out.append(b"\x18")
        out.append(encode_varint(u.filesize))
    for bs in u.blocksizes:
        out.append(b"\x20")
        out.append(_varint(bs))
    if u.hash_type is not None:
        out.append(b"\x28")
        out.append(encode_varint(u.hash_type))
    if u.fanout is not None:
        out.append(b"\x30")
        out.append(encode_varint(u.fanout))
    if u.mode is not None:
        out.append(b"\x38")
        out.append(encode_varint(u.mode))
    return b"".join(out)


def _fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, Any]]:
    """Yield (field number, wire type, value) of a protobuf message: the value is an
    int for a varint, a memoryview of the bytes otherwise."""
    val: Any
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = decode_varint(buf, pos)
        fno, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = decode_varint(buf, pos)
        elif wt == 2:
            ln, pos = decode_varint(buf, pos)
            if pos + ln > n:
                raise ValueError("truncated field")
            val = buf[pos : pos + ln]
            pos += ln
        elif wt == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        elif wt == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield fno, wt, val


def decode_node(block: bytes) -> PBNode:
    """Parse a dag-pb block; raise CorruptBlock if it is not one."""
    try:
        node = PBNode()
        mv = memoryview(block)
        for fno, wt, val in _fields(mv):
            if fno == 2 and wt == 2:
                link = PBLink(cid=None)  # type: ignore[arg-type]
                for lf, lwt, lval in _fields(val):
                    if lf == 1 and lwt == 2:
                        link.cid = CID.from_bytes(bytes(lval))
                    elif lf == 2 and lwt == 2:
                        link.name = bytes(lval).decode("utf-8", "surrogateescape")
                    elif lf == 3 and lwt == 0:
                        link.tsize = lval
                if link.cid is None:
                    raise ValueError("link without a hash")
                node.links.append(link)
            elif fno == 1 and wt == 2:
                node.data = bytes(val)
            else:
                raise ValueError(f"unexpected field {fno}")
        return node
    except (ValueError, IndexError) as e:
        raise CorruptBlock(f"not a dag-pb block: {e}") from None


def file_leaf_view(block: bytes) -> tuple[memoryview, int] | None:
    """(data view, filesize) of a dag-pb UnixFS file leaf without copying its bytes,
    or None when the block is anything else (the caller then decodes it in full).
    Reading a v0 file is mostly leaves: this saves two copies of every chunk."""
    try:
        if block[:1] != b"\x0a":  # a leaf has no links: its first field is Data
            return None
        ln, p = decode_varint(block, 1)
        if p + ln != len(block):
            return None
        end = p + ln
        data: memoryview | None = None
        filesize = None
        mv = memoryview(block)
        if block[p : p + 2] != b"\x08\x02":  # Type = File
            return None
        p += 2
        while p < end:
            key = block[p]
            p += 1
            if key == 0x12:  # Data
                n, p = decode_varint(block, p)
                data = mv[p : p + n]
                p += n
            elif key == 0x18:  # filesize
                filesize, p = decode_varint(block, p)
            else:
                return None  # blocksizes, mode, mtime...: not a plain leaf
        if filesize is None or p != end:
            return None
        data = data if data is not None else mv[0:0]
        return (data, filesize) if len(data) == filesize else None
    except (IndexError, ValueError):
        return None


def decode_unixfs(data: bytes | None) -> UnixFSData:
    if data is None:
        raise CorruptBlock("dag-pb node has no UnixFS data")
    try:
        u = UnixFSData(type=-1)
        for fno, wt, val in _fields(memoryview(data)):
            if fno == 1 and wt == 0:
                u.type = val
            elif fno == 2 and wt == 2:
                u.data = bytes(val)
            elif fno == 3 and wt == 0:
                u.filesize = val
            elif fno == 4 and wt == 0:
                u.blocksizes.append(val)
            elif fno == 4 and wt == 2:  # tolerate packed encoding from other writers
                p = 0
                while p < len(val):
                    v, p = decode_varint(val, p)
                    u.blocksizes.append(v)
            elif fno == 5 and wt == 0:
                u.hash_type = val
            elif fno == 6 and wt == 0:
                u.fanout = val
            elif fno == 7 and wt == 0:
                u.mode = val
        if u.type not in TYPE_NAMES:
            raise ValueError(f"unknown UnixFS type {u.type}")
        return u
    except (ValueError, IndexError) as e:
        raise CorruptBlock(f"invalid UnixFS data: {e}") from None
