"""A seekable, file-like reader over a UnixFS file DAG.

Reading byte N descends from the root using each node's blocksizes, so it
touches only the blocks on the path to N: seeking into a large video is
O(depth), never a scan. Internal nodes are cached (they are few and small);
leaves are not.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CorruptBlock, InvalidArgument
from .cid import CID, DAG_PB, RAW

if TYPE_CHECKING:  # only a protocol: the client's CAR receiver reads with no block store loaded
    from .blockstore import ReadableStore
from .dagpb import DIRECTORY, FILE, HAMT_SHARD, SYMLINK, decode_node, decode_unixfs, file_leaf_view
from .dagpb import RAW as UNIXFS_RAW

MAX_LEAF_SPAN = 2 << 20  # bytes under one child beyond which it cannot be a leaf (bitswap's block limit)


@dataclass(slots=True)
class _FileNode:
    data: bytes | memoryview  # bytes held by the node itself (leaves; rarely internal nodes)
    children: list[CID]
    starts: list[int]  # offset of each child, relative to the end of ``data``
    size: int


def load_file_node(store: ReadableStore, cid: CID, verify: bool = False) -> _FileNode:
    block = store.get(cid, verify=verify)
    if cid.codec == RAW:
        return _FileNode(block, [], [], len(block))
    if cid.codec != DAG_PB:
        raise CorruptBlock(f"{cid} is {cid.codec_name}, not a UnixFS file")
    leaf = file_leaf_view(block)
    if leaf is not None:  # the common case, without copying the chunk
        return _FileNode(leaf[0], [], [], leaf[1])
    node = decode_node(block)
    u = decode_unixfs(node.data)
    if u.type in (DIRECTORY, HAMT_SHARD):
        raise InvalidArgument(f"{cid} is a directory, not a file")
    if u.type == SYMLINK:
        data = u.data or b""
        return _FileNode(data, [], [], len(data))
    if u.type not in (FILE, UNIXFS_RAW):
        raise CorruptBlock(f"{cid} has unsupported UnixFS type {u.type}")
    data = u.data or b""
    if len(u.blocksizes) != len(node.links):
        raise CorruptBlock(f"{cid}: {len(node.links)} links but {len(u.blocksizes)} blocksizes")
    starts, pos = [], 0
    for bs in u.blocksizes:
        starts.append(pos)
        pos += bs
    size = u.filesize if u.filesize is not None else len(data) + pos
    return _FileNode(data, [lk.cid for lk in node.links], starts, size)


class UnixFSReader(io.RawIOBase):
    """``open()``-like access to the file at ``cid``: read, seek, tell, readinto."""

    def __init__(self, store: ReadableStore, cid: CID | str, *, verify: bool = False, cache_nodes: int = 64) -> None:
        super().__init__()
        self.store = store
        self.cid = CID.decode(cid)
        self.verify = verify
        self._cache: OrderedDict[CID, _FileNode] = OrderedDict()
        self._cache_nodes = cache_nodes
        self._root = load_file_node(store, self.cid, verify)
        self.size = self._root.size
        self._pos = 0
        self._end = self.size  # reads ahead stop here (the end of the range being read)
        self._ahead: dict[int, tuple[int, int]] = {}  # id of a parent node -> (last child asked for, last read)
        self._ramp = 1  # blocks read ahead now: 1 after a seek, doubling per block read in sequence
        self._next = 0  # the position after the last piece read (a read elsewhere is a seek)
        self.read_ahead = 16  # blocks fetched ahead when the store can fetch (see retrieval.FetchingStore)
        self._prefetch = getattr(store, "prefetch", None)

    # -- io.RawIOBase -------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buf: Any) -> int:
        mv = memoryview(buf).cast("B")
        self._end = self.size
        done = 0
        while done < len(mv) and self._pos < self.size:
            piece = self._piece_at(self._pos, len(mv) - done)
            if not piece:
                break
            mv[done : done + len(piece)] = piece
            done += len(piece)
            self._pos += len(piece)
        return done

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(self.size - self._pos, 0)
        self._end = self.size
        out = bytearray()
        while len(out) < size and self._pos < self.size:
            piece = self._piece_at(self._pos, size - len(out))
            if not piece:
                break
            out += piece
            self._pos += len(piece)
        return bytes(out)

    def readall(self) -> bytes:
        return self.read(-1)

    # -- traversal ----------------------------------------------------------
    def _node(self, cid: CID) -> _FileNode:
        node = self._cache.get(cid)
        if node is not None:
            self._cache.move_to_end(cid)
            return node
        node = load_file_node(self.store, cid, self.verify)
        if node.children:  # only internal nodes are worth keeping
            self._cache[cid] = node
            if len(self._cache) > self._cache_nodes:
                self._cache.popitem(last=False)
        return node

    def _piece_at(self, pos: int, max_len: int) -> memoryview:
        """Up to ``max_len`` bytes starting at ``pos``, from the single leaf holding ``pos``."""
        if pos != self._next:  # a seek: the read-ahead starts small again
            self._ramp = 1
        piece = self._descend(pos, max_len)
        self._next = pos + len(piece)
        return piece

    def _descend(self, pos: int, max_len: int) -> memoryview:
        node = self._root
        remaining = self._end - pos
        later: list[CID] = []  # read-ahead found on the way down, deepest level first
        while True:
            if pos < len(node.data):
                if later:
                    self._prefetch(later)  # type: ignore[misc]
                return memoryview(node.data)[pos : pos + max_len]
            rel = pos - len(node.data)
            if not node.children:
                return memoryview(b"")
            i = bisect_right(node.starts, rel) - 1
            if i < 0:
                return memoryview(b"")
            child = node.children[i]
            if self._prefetch is not None:
                later = self._read_ahead(node, i, rel + remaining) + later
                span = (node.starts[i + 1] if i + 1 < len(node.starts) else node.size - len(node.data)) - node.starts[i]
                if later and span <= MAX_LEAF_SPAN:
                    # the child is (most likely) the leaf holding the position: its want goes
                    # first (after a seek it must not queue behind the blocks after it), then
                    # the read-ahead of this level, then that of the levels above; over a
                    # larger span the child has levels below, whose read-ahead comes first
                    self._prefetch([child, *later])
                    later = []
            pos = rel - node.starts[i]
            node = self._node(child)

    def _read_ahead(self, node: _FileNode, i: int, rel_end: int) -> list[CID]:
        """The next siblings of child ``i`` (the block being read) to ask for, those the
        range still covers. The read-ahead starts at one block after a seek (or the first
        read) and doubles with each block read in sequence, up to ``read_ahead``: the
        first bytes do not share the link with blocks that a client who peeks or seeks
        again never reads."""
        key = id(node)
        asked, seen = self._ahead.get(key, (-1, -1))
        if i == seen + 1 and seen >= 0:  # the next block in order
            self._ramp = min(max(self._ramp, 1) * 2, self.read_ahead)
        if self._ramp >= self.read_ahead > 1 and asked - i > self.read_ahead // 2:
            # in full stride, the read-ahead is topped up once half of it is read: wants go
            # out (and blocks come back) several to a message, not one per block
            self._ahead[key] = (asked, i)
            return []
        upto = i + min(self._ramp, self.read_ahead)
        first = max(asked, i) + 1
        if len(self._ahead) > 4 * self._cache_nodes:
            self._ahead.clear()
        self._ahead[key] = (max(asked, upto), i)
        return [c for j, c in enumerate(node.children[first : upto + 1], first) if node.starts[j] < rel_end]

    def iter_range(self, offset: int = 0, length: int | None = None) -> Iterator[memoryview]:
        """Yield the bytes of [offset, offset+length) leaf by leaf, without copying."""
        end = self.size if length is None else min(self.size, offset + length)
        self._end = end
        pos = offset
        while pos < end:
            piece = self._piece_at(pos, end - pos)
            if not piece:
                raise CorruptBlock(f"{self.cid}: DAG ends at byte {pos} of {self.size}")
            yield piece
            pos += len(piece)
