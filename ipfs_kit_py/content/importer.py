"""UnixFS importer: bytes and directory trees in, Kubo-identical CIDs out.

Push-style so that every source fits: a local file, an HTTP multipart stream,
a libp2p stream. ``FileImporter.write()`` takes bytes as they come, cuts fixed
size chunks, and builds the balanced DAG bottom-up while it goes; it holds at
most one chunk plus one pending link list per tree level in memory.

The balanced layout groups leaves ``max_links`` at a time into parents, level
by level, exactly like go-unixfs' balanced builder and js-ipfs-unixfs-importer.
"""

from __future__ import annotations

import os
from _thread import allocate_lock  # threading's lock without its import (add -n starts without it)
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from ..errors import InvalidArgument
from .cid import CID, DAG_PB, RAW
from .dagpb import (
    DIRECTORY,
    SYMLINK,
    PBLink,
    UnixFSData,
    encode_node,
    encode_unixfs,
    file_leaf_parts,
    file_parent,
)
from .fswalk import name_key, walk_files

# the add profiles (profiles.py: clients check add flags without importing the importer)
from .profiles import MAX_CHUNK_SIZE as MAX_CHUNK_SIZE
from .profiles import PROFILES as PROFILES
from .profiles import Profile as Profile
from .profiles import parse_chunker as parse_chunker
from .profiles import resolve_profile as resolve_profile

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~7 ms at `ipfs-kit add` start)
if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor
    from typing import Any

    from .blockstore import Blockstore

HASH_THREADS: int | None = None  # leaves hashed at once by one import; None: by the free cores (see hash_threads)
MAX_HASH_THREADS = 4
_pool: ThreadPoolExecutor | None = None
_pool_lock = allocate_lock()


def hash_threads() -> int:
    """How many threads hash one import's leaves (1: the caller's thread alone).

    ``HASH_THREADS`` when set; else one per core this process may run on that no other
    work holds (the 1-minute load average), at most ``MAX_HASH_THREADS``. A second thread
    halves the wall time of a big add on an idle machine, but costs CPU (a thread's
    hand-offs and a chunk hashed on another core than the one that read it): on busy
    cores it only queues behind the other work."""
    if HASH_THREADS is not None:
        return max(1, HASH_THREADS)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, min(MAX_HASH_THREADS, int(cpus - busy + 0.5)))


def _hash_pool() -> ThreadPoolExecutor:
    """The threads that hash leaves (made on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor  # here: add -n starts without it

            _pool = ThreadPoolExecutor(MAX_HASH_THREADS, thread_name_prefix="ipfs-kit-hash")
        return _pool


@dataclass(frozen=True, slots=True)
class Entry:
    """A node just written: its CID, cumulative DAG size (Tsize) and file bytes."""

    cid: CID
    tsize: int
    size: int


BlockSink = Callable[[CID, Sequence[bytes | memoryview]], None]
# a node below the root as the importer keeps it: (binary CID, Tsize, file bytes); no
# CID or Entry object per leaf unless a block sink needs the CID
_Node = tuple[bytes, int, int]
_Hashed = tuple[bytes, list[bytes | memoryview], int, int]  # (binary CID, block parts, Tsize, file bytes)


def _cid(binary: bytes, codec: int) -> CID:
    """The CID object of a binary sha2-256 CID the importer made (a v0 CID is its 34-byte multihash)."""
    return CID(0, DAG_PB, binary) if len(binary) == 34 else CID(1, codec, binary[-34:])


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
        self._levels: list[list[_Node]] = [[]]
        self._pending: deque[Future[list[_Hashed]]] = deque()
        self._threads = 0  # decided at the first write of several chunks
        self.bytes_written = 0
        self.blocks = 0
        self._node_version = profile.cid_version
        # a binary CID is this prefix + the sha2-256 digest
        self._node_prefix = b"\x12\x20" if profile.cid_version == 0 else b"\x01\x70\x12\x20"
        self._leaf_codec = RAW if profile.raw_leaves else DAG_PB
        self._leaf_prefix = b"\x01\x55\x12\x20" if profile.raw_leaves else self._node_prefix

    def _put(self, cid: bytes, codec: int, parts: Sequence[bytes | memoryview]) -> None:
        self.blocks += 1
        if self._writer is None and self._on_block is None:
            return
        obj = _cid(cid, codec)
        if self._writer is not None:
            self._writer.put(obj, parts)
        if self._on_block is not None:
            self._on_block(obj, parts)

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
        if whole >= 2 and isinstance(data, bytes):
            if not self._threads:
                self._threads = hash_threads()
            threads = self._threads
            if threads > 1:
                # immutable bytes: whole chunks are hashed in worker threads (hashlib lets go
                # of the GIL) while the caller reads on; their blocks go out here, in order
                pool = _hash_pool()
                chunks = [mv[i * size:(i + 1) * size] for i in range(whole)]
                step = -(-whole // threads)  # one task per thread
                for i in range(0, whole, step):
                    self._pending.append(pool.submit(self._hash_leaves, chunks[i:i + step]))
                self._drain(keep=2 * threads)  # bounded: at most two writes in flight
                mv = mv[whole * size:]
        if len(mv) >= size:
            self._drain()  # leaves stay in file order
            hash_leaf, take = self._hash_leaf, self._take
            while len(mv) >= size:
                take(hash_leaf(mv[:size]))
                mv = mv[size:]
        if len(mv):
            self._buf += mv

    def _hash_leaf(self, chunk: bytes | memoryview) -> _Hashed:
        """A leaf's binary CID, block parts, Tsize and size (no side effects: runs in worker threads)."""
        n = len(chunk)
        if self._leaf_codec == RAW:
            return self._leaf_prefix + sha256(chunk).digest(), [chunk], n, n
        prefix, suffix = file_leaf_parts(n)
        h = sha256(prefix)
        h.update(chunk)
        h.update(suffix)
        return self._leaf_prefix + h.digest(), [prefix, chunk, suffix], len(prefix) + n + len(suffix), n

    def _hash_leaves(self, chunks: list[memoryview]) -> list[_Hashed]:
        return [self._hash_leaf(c) for c in chunks]

    def _take(self, leaf: _Hashed) -> None:
        """A hashed leaf, in file order: its block out, its link into the level above."""
        cid, parts, tsize, size = leaf
        self._put(cid, self._leaf_codec, parts)
        level = self._levels[0]
        level.append((cid, tsize, size))
        if len(level) == self.profile.max_links:
            self._levels[0] = []
            self._push(1, self._parent(level))

    def _drain(self, keep: int = 0) -> None:
        """Take in the leaves hashed in worker threads, oldest first, until ``keep`` tasks remain."""
        pending, take = self._pending, self._take
        while len(pending) > keep:
            for leaf in pending.popleft().result():
                take(leaf)

    def _leaf(self, chunk: bytes | memoryview) -> None:
        self._drain()  # leaves stay in file order
        self._take(self._hash_leaf(chunk))

    def _push(self, level: int, node: _Node) -> None:
        levels = self._levels
        if level == len(levels):
            levels.append([])
        levels[level].append(node)
        if len(levels[level]) == self.profile.max_links:
            parent = self._parent(levels[level])
            levels[level] = []
            self._push(level + 1, parent)

    def _parent(self, children: list[_Node]) -> _Node:
        block = file_parent(children)
        cid = self._node_prefix + sha256(block).digest()
        self._put(cid, DAG_PB, [block])
        return cid, len(block) + sum(c[1] for c in children), sum(c[2] for c in children)

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
                cid, tsize, size = levels[i][0]
                codec = self._leaf_codec if i == 0 else DAG_PB
                return self._done(Entry(_cid(cid, codec), tsize, size))
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

