"""Changing a UnixFS file in place, as Kubo's MFS does (``ipfs files write``): a port
of boxo's ``ipld/unixfs/mod`` DagModifier and ``importer/trickle.Append``.

Kubo does not rebuild a file it writes to: it overwrites the leaves the write
covers, appends what goes past the end with trickle's Append (which continues
the existing tree), truncates by cutting the tree at the new size (keeping an
empty leaf where the cut falls on a boundary) and pads with 4096-byte zero
leaves when a write starts past the end. The CIDs that result depend on all of
that, so to equal Kubo's this module does the same steps in the same order,
quirks included (a truncated leaf is a CIDv0 node; a single raw leaf is the file
itself). Nodes are kept decoded in memory; every block is stored when it is
made, as Kubo's DAG service does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .blockstore import ReadableStore
from .cid import CID, DAG_PB, RAW
from .dagpb import PBLink, UnixFSData, decode_node, decode_unixfs, encode_node, encode_unixfs

RAW_T, FILE_T = 0, 2  # UnixFS types
DEPTH_REPEAT = 4  # trickle's depthRepeat
MAX_LINKS = 174  # helpers.DefaultLinksPerBlock
WRITE_BUFFER = 1 << 21  # DagModifier syncs when its buffer grows past this
SPARSE_CHUNK = 4096  # zero padding is cut in leaves this big

Put = Callable[[CID, bytes], object]  # a blockstore put (what it returns is not used)


@dataclass(slots=True)
class FNode:
    """A node of a file DAG: a raw leaf (``raw``) or a dag-pb node (``fs`` and ``links``);
    ``version``: the CID version its builder makes (dag-pb only; raw leaves are CIDv1)."""

    raw: bytes | None = None
    fs: UnixFSData | None = None
    links: list[PBLink] = field(default_factory=list)
    version: int = 0

    def block(self) -> bytes:
        if self.raw is not None:
            return self.raw
        assert self.fs is not None
        return encode_node(self.links, encode_unixfs(self.fs))

    def cid(self) -> CID:
        if self.raw is not None:
            return CID(1, RAW, b"\x12\x20" + hashlib.sha256(self.raw).digest())
        return CID.hash(self.block(), DAG_PB, self.version)

    def size(self) -> int:
        """go-merkledag's ``Size()``: the block plus the sizes its links declare."""
        if self.raw is not None:
            return len(self.raw)
        return len(self.block()) + sum(lk.tsize for lk in self.links)

    def file_size(self) -> int:
        if self.raw is not None:
            return len(self.raw)
        assert self.fs is not None
        return self.fs.filesize or 0

    def num_children(self) -> int:  # FSNodeOverDag counts block sizes, not links
        assert self.fs is not None
        return len(self.fs.blocksizes)


def new_fs(type_: int) -> UnixFSData:
    return UnixFSData(type_, filesize=0)  # ft.NewFSNode: Filesize is always set


def add_block_size(fs: UnixFSData, size: int) -> None:
    fs.filesize = (fs.filesize or 0) + size
    fs.blocksizes.append(size)


def set_data(fs: UnixFSData, data: bytes) -> None:
    fs.filesize = (fs.filesize or 0) + len(data) - len(fs.data or b"")
    fs.data = data


class _Buffer:
    """The bytes waiting to be written (``bytes.Buffer``: read from the front)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.pos = 0

    def __len__(self) -> int:
        return len(self.data) - self.pos

    def write(self, b: bytes) -> None:
        self.data += b

    def read(self, n: int) -> bytes:
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += len(out)
        return out


class _Chunks:
    """A size splitter over ``data`` with trickle's ``Done()``/``Next()``."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._it = pieces
        self._next = next(self._it, None)

    def done(self) -> bool:
        return self._next is None

    def take(self) -> bytes:
        chunk = self._next
        assert chunk is not None
        self._next = next(self._it, None)
        return chunk


def _split(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


class DagModifier:
    """boxo's ``mod.DagModifier`` over a store: ``truncate``, ``seek``, ``write``, then ``node()``."""

    def __init__(self, store: ReadableStore, put: Put, root: FNode, *, raw_leaves: bool | None = None,
                 chunk: int = 262144, max_links: int = MAX_LINKS) -> None:
        self.store, self._put = store, put
        self.cur = root
        # the prefix of the file's first node; raw leaves by default for CIDv1 files
        self.version = 1 if root.raw is not None else root.version
        self.raw_leaves = raw_leaves if raw_leaves is not None else self.version > 0
        self.chunk, self.max_links = chunk, max_links
        self.write_start = 0
        self.cur_off = 0
        self.buf: _Buffer | None = None

    # -- the DAG service ----------------------------------------------------------------------
    def add(self, n: FNode) -> CID:
        cid = n.cid()
        self._put(cid, n.block())
        return cid

    def get(self, cid: CID) -> FNode:
        return load(self.store, cid)

    def _link(self, child: FNode) -> PBLink:
        return PBLink(self.add(child), "", child.size())

    # -- the file operations --------------------------------------------------------------------
    def size(self) -> int:
        fs = self.cur.file_size()
        if self.buf is None:
            return fs
        return max(fs, len(self.buf) + self.write_start)

    def write(self, b: bytes) -> None:
        if self.buf is None:
            self.buf = _Buffer()
        self.buf.write(b)
        self.cur_off += len(b)
        if len(self.buf) > WRITE_BUFFER:
            self.sync()

    def seek(self, offset: int) -> None:
        self.sync()
        size = self.size()
        if offset > size:
            self._expand_sparse(offset - size)
        self.cur_off = self.write_start = offset

    def truncate(self, size: int) -> None:
        self.sync()
        real = self.size()
        if size == real:
            return
        if size > real:
            self._expand_sparse(size - real)
            return
        n = self._dag_truncate(self.cur, size)
        self.add(n)
        self.cur = n

    def node(self) -> FNode:
        """The file's node after every write (``GetNode``)."""
        self.sync()
        collapsed = self._collapse()
        return collapsed if collapsed is not None else self.cur

    def sync(self) -> None:
        if self.buf is None:
            return
        buflen = len(self.buf)
        fs = self.cur.file_size()
        if fs < self.write_start:
            self._expand_sparse(self.write_start - fs)
        self.cur = self.get(self._modify(self.cur, self.write_start))
        if len(self.buf) > 0:
            rest = self.buf.read(len(self.buf))
            self.cur = self._append(self.cur, _Chunks(_split(rest, self.chunk)))
            self.add(self.cur)
        self.write_start += buflen
        self.buf = None

    # -- DagModifier's internals --------------------------------------------------------------------
    def _expand_sparse(self, n: int) -> None:
        zeros = _Chunks(_split(bytes(n), SPARSE_CHUNK))
        node = self._append(self.cur, zeros)
        self.add(node)
        self.cur = node

    def _collapse(self) -> FNode | None:
        """A dag-pb file of exactly one raw leaf is that leaf (as ``ipfs add`` makes it)."""
        n = self.cur
        if not self.raw_leaves or n.raw is not None or len(n.links) != 1:
            return None
        assert n.fs is not None
        if n.fs.mode:
            return None
        child = n.links[0].cid
        return self.get(child) if child.codec == RAW else None

    def _modify(self, n: FNode, offset: int) -> CID:
        """Write the buffer over ``n``'s bytes from ``offset`` (within its current size)."""
        assert self.buf is not None
        if not n.links:
            if n.raw is not None:
                orig = n.raw
                new = bytearray(len(orig))
                new[:offset] = orig[:offset]
                piece = self.buf.read(len(orig) - offset)
                new[offset:offset + len(piece)] = piece
                end = offset + len(piece)
                if end < len(orig):
                    new[end:] = orig[end:]
                return self.add(FNode(raw=bytes(new)))
            assert n.fs is not None
            data = bytearray(n.fs.data or b"")
            piece = self.buf.read(max(0, len(data) - offset))
            data[offset:offset + len(piece)] = piece
            fs = UnixFSData(n.fs.type, None if n.fs.data is None else bytes(data), n.fs.filesize,
                            list(n.fs.blocksizes), n.fs.hash_type, n.fs.fanout, n.fs.mode)
            return self.add(FNode(fs=fs, version=n.version))
        assert n.fs is not None
        cur = 0
        for i, bs in enumerate(list(n.fs.blocksizes)):
            if cur + bs > offset:
                child = self.get(n.links[i].cid)
                k = self._modify(child, offset - cur)
                old = n.links[i]
                n.links[i] = PBLink(k, old.name, old.tsize)  # the size it declares is kept
                if len(self.buf) == 0:
                    break
                offset = cur + bs
            cur += bs
        return self.add(n)

    def _dag_truncate(self, n: FNode, size: int) -> FNode:
        if not n.links:
            if n.raw is not None:
                return FNode(raw=n.raw[:size])
            assert n.fs is not None
            fs = UnixFSData(n.fs.type, n.fs.data, n.fs.filesize, list(n.fs.blocksizes), n.fs.hash_type,
                            n.fs.fanout, n.fs.mode)
            if fs.data is not None:
                set_data(fs, fs.data[:size])
            return FNode(fs=fs, version=0)  # mdag.NodeWithData: the default (CIDv0) builder
        assert n.fs is not None
        fs = n.fs
        fs.blocksizes = []
        fs.filesize = len(fs.data or b"")
        cur, end = 0, 0
        modified: FNode | None = None
        for i, lk in enumerate(n.links):
            child = self.get(lk.cid)
            child_size = child.file_size()
            if size < cur + child_size:
                modified = self._dag_truncate(child, size - cur)
                add_block_size(fs, size - cur)
                end = i
                break
            cur += child_size
            add_block_size(fs, child_size)
        assert modified is not None
        n.links = n.links[:end] + [self._link(modified)]
        return n

    def _append(self, n: FNode, chunks: _Chunks) -> FNode:
        if n.raw is not None:
            # a raw leaf that grows becomes the first leaf of a dag-pb file
            fs = new_fs(FILE_T)
            add_block_size(fs, len(n.raw))
            base = FNode(fs=fs, links=[self._link(n)], version=self.version)
            return _Trickle(self, chunks, raw_leaves=True).append(base)
        return _Trickle(self, chunks, raw_leaves=self.raw_leaves).append(n)


class _Trickle:
    """trickle.Append and fillTrickleRec over a DagBuilderHelper (``chunks``)."""

    def __init__(self, dm: DagModifier, chunks: _Chunks, *, raw_leaves: bool) -> None:
        self.dm, self.db, self.raw_leaves = dm, chunks, raw_leaves
        self.max_links = dm.max_links
        self.version = dm.version

    def _new(self) -> FNode:
        return FNode(fs=new_fs(FILE_T), version=self.version)

    def _add_child(self, parent: FNode, child: FNode, file_size: int) -> None:
        assert parent.fs is not None
        parent.links.append(self.dm._link(child))
        add_block_size(parent.fs, file_size)

    def _leaf(self, data: bytes) -> FNode:
        if self.raw_leaves:
            return FNode(raw=data)
        fs = new_fs(RAW_T)
        set_data(fs, data)
        return FNode(fs=fs, version=self.version)

    def _fill_layer(self, n: FNode) -> None:
        while n.num_children() < self.max_links and not self.db.done():
            data = self.db.take()
            self._add_child(n, self._leaf(data), len(data))

    def _fill_rec(self, n: FNode, max_depth: int) -> tuple[FNode, int]:
        self._fill_layer(n)
        depth = 1
        while max_depth == -1 or depth < max_depth:
            if self.db.done():
                break
            rep = 0
            while rep < DEPTH_REPEAT and not self.db.done():
                child, size = self._fill_rec(self._new(), depth)
                self._add_child(n, child, size)
                rep += 1
            depth += 1
        return n, n.file_size()

    def _depth_info(self, n: FNode) -> tuple[int, int]:
        count = n.num_children()
        if count < self.max_links:
            return 0, 0
        extra = count - self.max_links
        return extra // DEPTH_REPEAT + 1, extra % DEPTH_REPEAT

    def append(self, base: FNode) -> FNode:
        depth, rep = self._depth_info(base)
        if depth == 0:
            self._fill_layer(base)
            if self.db.done():
                return base
            depth += 1
        self._fill_last_child(base, depth - 1, rep)
        if not self.db.done():
            depth += 1
        i = depth
        while not self.db.done():
            j = 0
            while j < DEPTH_REPEAT and not self.db.done():
                child, size = self._fill_rec(self._new(), i)
                self._add_child(base, child, size)
                j += 1
            i += 1
        return base

    def _fill_last_child(self, n: FNode, depth: int, rep: int) -> None:
        if n.num_children() <= self.max_links:
            return
        assert n.fs is not None
        last = n.num_children() - 1
        child = self.dm.get(n.links[last].cid)
        if child.raw is not None:
            raise ValueError("a trickle subtree is a raw block")  # dag.ErrNotProtobuf
        new_child, size = self._append_rec(child, depth - 1)
        n.fs.filesize = (n.fs.filesize or 0) - n.fs.blocksizes[last]
        del n.fs.blocksizes[last]
        del n.links[last]
        self._add_child(n, new_child, size)
        if rep != 0:
            while rep < DEPTH_REPEAT and not self.db.done():
                c, s = self._fill_rec(self._new(), depth)
                self._add_child(n, c, s)
                rep += 1

    def _append_rec(self, n: FNode, max_depth: int) -> tuple[FNode, int]:
        if max_depth == 0 or self.db.done():
            return n, n.file_size()
        depth, rep = self._depth_info(n)
        if depth == 0:
            self._fill_layer(n)
            depth += 1
        if depth == max_depth:
            return n, n.file_size()
        self._fill_last_child(n, depth, rep)
        if not self.db.done():
            depth += 1
        i = depth
        while i < max_depth and not self.db.done():
            j = 0
            while j < DEPTH_REPEAT and not self.db.done():
                c, s = self._fill_rec(self._new(), i)
                self._add_child(n, c, s)
                j += 1
            i += 1
        return n, n.file_size()


def load(store: ReadableStore, cid: CID) -> FNode:
    """A stored node, decoded; its builder makes CIDs of its own version (as go-merkledag's)."""
    data = store.get(cid)
    if cid.codec == RAW:
        return FNode(raw=data)
    node = decode_node(data)
    return FNode(fs=decode_unixfs(node.data), links=list(node.links), version=cid.version)


def empty_file(version: int) -> FNode:
    """The node Kubo's ``files write --create`` starts a new file from."""
    return FNode(fs=UnixFSData(FILE_T, filesize=0), version=version)
