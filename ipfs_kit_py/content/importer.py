"""UnixFS importer: bytes and directory trees in, Kubo-identical CIDs out.

Push-style so that every source fits: a local file, an HTTP multipart stream,
a libp2p stream. ``FileImporter.write()`` takes bytes as they come, cuts fixed
size chunks, and builds the balanced DAG bottom-up while it goes; it holds at
most one chunk plus one pending link list per tree level in memory.

The balanced layout groups leaves ``max_links`` at a time into parents, level
by level, exactly like go-unixfs' balanced builder and js-ipfs-unixfs-importer.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument
from .cid import CID, DAG_PB, RAW
from .dagpb import (
    DIRECTORY,
    FILE,
    SYMLINK,
    PBLink,
    UnixFSData,
    encode_node,
    encode_unixfs,
    file_leaf_parts,
)
from .fswalk import name_key, walk_files

# the add profiles (profiles.py: clients check add flags without importing the importer)
from .profiles import MAX_CHUNK_SIZE as MAX_CHUNK_SIZE
from .profiles import PROFILES as PROFILES
from .profiles import Profile as Profile
from .profiles import parse_chunker as parse_chunker
from .profiles import resolve_profile as resolve_profile

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from .blockstore import Blockstore

HASH_THREADS = min(4, os.cpu_count() or 1)  # leaves hashed at once by one import (1: in the caller's thread)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _hash_pool() -> ThreadPoolExecutor | None:
    """The threads that hash leaves (made on first use; None on a single core)."""
    global _pool
    if HASH_THREADS < 2:
        return None
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor  # here: add -n starts without it

            _pool = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="ipfs-kit-hash")
        return _pool


@dataclass(frozen=True, slots=True)
class Entry:
    """A node just written: its CID, cumulative DAG size (Tsize) and file bytes."""

    cid: CID
    tsize: int
    size: int


BlockSink = Callable[[CID, Sequence[bytes | memoryview]], None]


class FileImporter:
    """Streams one file into blocks. ``store=None`` only hashes (``--only-hash``)."""

    def __init__(
        self,
        store: Blockstore | None,
        profile: Profile = PROFILES["v0"],
        *,
        on_block: BlockSink | None = None,
    ) -> None:
        self.profile = profile
        self._writer = None
        if store is not None:
            from .blockstore import BlockWriter  # here: add -n (no store) starts without it

            self._writer = BlockWriter(store)
        self._on_block = on_block
        self._buf = bytearray()
        self._levels: list[list[Entry]] = [[]]
        self._pending: deque[Future[list[tuple[CID, list[bytes | memoryview], Entry]]]] = deque()
        self.bytes_written = 0
        self.blocks = 0
        self._node_version = profile.cid_version

    def _put(self, cid: CID, parts: Sequence[bytes | memoryview]) -> None:
        self.blocks += 1
        if self._writer is not None:
            self._writer.put(cid, parts)
        if self._on_block is not None:
            self._on_block(cid, parts)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        size = self.profile.chunk_size
        self.bytes_written += len(data)
        mv = memoryview(data)
        if self._buf:
            need = size - len(self._buf)
            self._buf += mv[:need]
            mv = mv[need:]
            if len(self._buf) < size:
                return
            self._leaf(bytes(self._buf))
            self._buf.clear()
        whole = len(mv) // size
        if whole >= 2 and isinstance(data, bytes) and (pool := _hash_pool()) is not None:
            # immutable bytes: whole chunks are hashed in worker threads (hashlib lets go of
            # the GIL) while the caller reads on; their blocks go out here, in order
            chunks = [mv[i * size:(i + 1) * size] for i in range(whole)]
            step = -(-whole // HASH_THREADS)  # one task per thread
            for i in range(0, whole, step):
                self._pending.append(pool.submit(self._hash_leaves, chunks[i:i + step]))
            self._drain(keep=2 * HASH_THREADS)  # bounded: at most two writes in flight
            mv = mv[whole * size:]
        while len(mv) >= size:
            self._leaf(mv[:size])
            mv = mv[size:]
        if len(mv):
            self._buf += mv

    def _hash_leaf(self, chunk: bytes | memoryview) -> tuple[CID, list[bytes | memoryview], Entry]:
        """A leaf's CID, block parts and entry (no side effects: runs in worker threads)."""
        n = len(chunk)
        if self.profile.raw_leaves:
            cid = CID(1, RAW, b"\x12\x20" + hashlib.sha256(chunk).digest())
            return cid, [chunk], Entry(cid, n, n)
        prefix, suffix = file_leaf_parts(n)
        h = hashlib.sha256(prefix)
        h.update(chunk)
        h.update(suffix)
        cid = CID.from_digest(h.digest(), DAG_PB, self._node_version)
        return cid, [prefix, chunk, suffix], Entry(cid, len(prefix) + n + len(suffix), n)

    def _hash_leaves(self, chunks: list[memoryview]) -> list[tuple[CID, list[bytes | memoryview], Entry]]:
        return [self._hash_leaf(c) for c in chunks]

    def _drain(self, keep: int = 0) -> None:
        """Take in the leaves hashed in worker threads, oldest first, until ``keep`` tasks remain."""
        while len(self._pending) > keep:
            for cid, parts, entry in self._pending.popleft().result():
                self._put(cid, parts)
                self._push(0, entry)

    def _leaf(self, chunk: bytes | memoryview) -> None:
        self._drain()  # leaves stay in file order
        cid, parts, entry = self._hash_leaf(chunk)
        self._put(cid, parts)
        self._push(0, entry)

    def _push(self, level: int, entry: Entry) -> None:
        levels = self._levels
        levels[level].append(entry)
        if len(levels[level]) == self.profile.max_links:
            parent = self._parent(levels[level])
            levels[level] = []
            if level + 1 == len(levels):
                levels.append([])
            self._push(level + 1, parent)

    def _parent(self, children: list[Entry]) -> Entry:
        filesize = sum(c.size for c in children)
        data = encode_unixfs(UnixFSData(FILE, filesize=filesize, blocksizes=[c.size for c in children]))
        block = encode_node([PBLink(c.cid, "", c.tsize) for c in children], data)
        cid = CID.hash(block, DAG_PB, self._node_version)
        self._put(cid, [block])
        return Entry(cid, len(block) + sum(c.tsize for c in children), filesize)

    def finish(self) -> Entry:
        """Flush the last chunk and the partial levels; return the root."""
        self._drain()
        if self._buf or self.blocks == 0:
            self._leaf(bytes(self._buf))
            self._buf.clear()
        levels = self._levels
        i = 0
        while True:
            top = i == len(levels) - 1
            if top and len(levels[i]) == 1:
                return self._done(levels[i][0])
            if levels[i]:
                parent = self._parent(levels[i])
                levels[i] = []
                if top:
                    levels.append([])
                levels[i + 1].append(parent)
            i += 1

    def _done(self, root: Entry) -> Entry:
        if self._writer is not None:
            self._writer.flush()  # the root is returned only once every block is on disk
        return root


def import_bytes(data: bytes, store: Blockstore | None, profile: Profile = PROFILES["v0"]) -> Entry:
    imp = FileImporter(store, profile)
    imp.write(data)
    return imp.finish()


def import_symlink(target: str, store: Blockstore | None, profile: Profile) -> Entry:
    block = encode_node([], encode_unixfs(UnixFSData(SYMLINK, data=target.encode())))
    cid = CID.hash(block, DAG_PB, profile.cid_version)
    if store is not None:
        store.put(cid, [block])
    return Entry(cid, len(block), 0)


class DirectoryBuilder:
    """Collects files and directories by path, then writes directory nodes bottom-up.

    Holds only names and CIDs, never file bytes. Links are sorted by the UTF-8
    bytes of their names, as go-merkledag sorts them.
    """

    def __init__(self, store: Blockstore | None, profile: Profile = PROFILES["v0"]) -> None:
        self._store = store
        self.profile = profile
        self.root: dict[str, dict[str, Any] | Entry] = {}
        self.written: list[tuple[str, Entry]] = []  # every directory, deepest first

    @staticmethod
    def split(path: str) -> list[str]:
        parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
        for p in parts:
            if p == "..":
                raise InvalidArgument(f"path {path!r} escapes its root")
        return parts

    def _dir(self, parts: list[str], path: str) -> dict[str, Any]:
        node = self.root
        for p in parts:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise InvalidArgument(f"{path!r}: {p!r} is a file, not a directory")
            node = child
        return node

    def add_dir(self, path: str) -> None:
        self._dir(self.split(path), path)

    def add(self, path: str, entry: Entry) -> None:
        parts = self.split(path)
        if not parts:
            raise InvalidArgument("a file needs a name")
        parent = self._dir(parts[:-1], path)
        if isinstance(parent.get(parts[-1]), dict):
            raise InvalidArgument(f"{path!r} is already a directory")
        parent[parts[-1]] = entry

    def finish(self) -> Entry:
        return self._write(self.root, "")

    def _write(self, tree: dict[str, Any], path: str) -> Entry:
        links = []
        for name in sorted(tree, key=name_key):
            child = tree[name]
            entry = self._write(child, f"{path}/{name}" if path else name) if isinstance(child, dict) else child
            links.append(PBLink(entry.cid, name, entry.tsize))
        block = encode_node(links, encode_unixfs(UnixFSData(DIRECTORY)))
        from . import hamt  # here: adding a file starts without it

        if self.profile.shard_by == "block":
            shard = len(block) > hamt.SHARDING_THRESHOLD
        else:
            shard = hamt.estimated_size(links) >= hamt.SHARDING_THRESHOLD
        if shard:
            cid, tsize, _ = hamt.build(links, self._store, self.profile.cid_version)
            entry = Entry(cid, tsize, 0)
        else:
            cid = CID.hash(block, DAG_PB, self.profile.cid_version)
            if self._store is not None:
                self._store.put(cid, [block])
            entry = Entry(cid, len(block) + sum(lk.tsize for lk in links), 0)
        self.written.append((path, entry))
        return entry


ProgressFn = Callable[[str, int], None]
READ_SIZE = 1024 * 1024


def import_file(
    path: str | os.PathLike[str],
    store: Blockstore | None,
    profile: Profile = PROFILES["v0"],
    progress: ProgressFn | None = None,
    name: str = "",
) -> Entry:
    imp = FileImporter(store, profile)
    read_size = max(READ_SIZE, profile.chunk_size)
    with open(path, "rb", buffering=0) as f:
        # fresh immutable bytes per read: chunks can be handed to the writer threads uncopied
        while data := f.read(read_size):
            imp.write(data)
            if progress:
                progress(name, imp.bytes_written)
    return imp.finish()


# the file-system walk lives in fswalk.py; ``walk`` is its old name, kept while code in
# flight still imports it from here
walk = walk_files


def import_path(
    path: str | os.PathLike[str],
    store: Blockstore | None,
    profile: Profile = PROFILES["v0"],
    *,
    recursive: bool = False,
    hidden: bool = False,
    wrap: bool = False,
    progress: ProgressFn | None = None,
    on_entry: Callable[[str, Entry], None] | None = None,
) -> Entry:
    """``ipfs add [-r] [--hidden] [-w] PATH``: report each file and directory to ``on_entry``
    (Kubo prints them in the same order) and return the root."""
    p = Path(path)
    base = p.name
    if p.is_dir():
        if not recursive:
            raise InvalidArgument(f"{p} is a directory, use -r to add directories")
        builder = DirectoryBuilder(store, profile)
        for rel, ap, kind in walk_files(p, hidden):
            if kind == "dir":
                builder.add_dir(rel)
                continue
            if kind == "symlink":
                entry = import_symlink(os.readlink(ap), store, profile)
            else:
                entry = import_file(ap, store, profile, progress, f"{base}/{rel}")
            builder.add(rel, entry)
            if on_entry:
                on_entry(f"{base}/{rel}", entry)
        root = builder.finish()
        if on_entry:
            for rel, entry in builder.written:
                if rel:
                    on_entry(f"{base}/{rel}", entry)
        if wrap:
            wrapper = DirectoryBuilder(store, profile)
            wrapper.root[base] = root  # a written directory goes in as a leaf entry
            if on_entry:
                on_entry(base, root)
            return wrapper.finish()
        if on_entry:
            on_entry(base, root)
        return root
    entry = import_file(p, store, profile, progress, base)
    if on_entry:
        on_entry(base, entry)
    if wrap:
        wrapper = DirectoryBuilder(store, profile)
        wrapper.add(base, entry)
        return wrapper.finish()
    return entry

