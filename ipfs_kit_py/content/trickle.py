"""The trickle DAG layout of go-unixfs (``importer/trickle``), which Kubo's MFS
writes files with (``ipfs files write``): a root holding up to ``max_links``
leaves, then, for depth 1, 2, ..., up to four subtrees of that depth each.
Leaves are UnixFS ``Raw`` nodes (or raw blocks with ``raw_leaves``). Same
input, same profile -> the same CIDs as Kubo.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

from .cid import CID, DAG_PB, RAW
from .dagpb import PBLink, UnixFSData, encode_node, encode_unixfs
from .importer import Entry

DEPTH_REPEAT = 4  # go-unixfs trickle's depthRepeat
UNIXFS_RAW, UNIXFS_FILE = 0, 2

Put = Callable[[CID, bytes], None]


class _Chunks:
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._it = chunks
        self._next = next(self._it, None)

    @property
    def done(self) -> bool:
        return self._next is None

    def take(self) -> bytes:
        chunk = self._next
        assert chunk is not None
        self._next = next(self._it, None)
        return chunk


def layout(chunks: Iterator[bytes], put: Put, *, raw_leaves: bool = False, cid_version: int = 0,
           max_links: int = 174) -> Entry:
    """The trickle DAG of ``chunks`` (each one leaf); ``put`` stores every block."""
    src = _Chunks(chunks)

    def leaf(chunk: bytes) -> Entry:
        if raw_leaves:
            cid = CID(1, RAW, b"\x12\x20" + hashlib.sha256(chunk).digest())
            put(cid, chunk)
            return Entry(cid, len(chunk), len(chunk))
        block = encode_node([], encode_unixfs(UnixFSData(UNIXFS_RAW, data=chunk, filesize=len(chunk))))
        cid = CID.hash(block, DAG_PB, cid_version)
        put(cid, block)
        return Entry(cid, len(block), len(chunk))

    def fill(max_depth: int) -> Entry:
        children: list[Entry] = []
        while len(children) < max_links and not src.done:
            children.append(leaf(src.take()))
        depth = 1
        while (max_depth == -1 or depth < max_depth) and not src.done:
            for _ in range(DEPTH_REPEAT):
                if src.done:
                    break
                children.append(fill(depth))
            depth += 1
        filesize = sum(c.size for c in children)
        data = encode_unixfs(UnixFSData(UNIXFS_FILE, filesize=filesize, blocksizes=[c.size for c in children]))
        block = encode_node([PBLink(c.cid, "", c.tsize) for c in children], data)
        cid = CID.hash(block, DAG_PB, cid_version)
        put(cid, block)
        return Entry(cid, len(block) + sum(c.tsize for c in children), filesize)

    return fill(-1)


def split(data: bytes | memoryview, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield bytes(data[i:i + size])
