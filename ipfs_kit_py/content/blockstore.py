"""Blocks on disk, laid out as Kubo's flatfs datastore lays them out.

``blocks/<shard>/<KEY>.data`` where KEY is the base32 (upper, unpadded) form
of the block's multihash and shard is the two characters before its last one
(flatfs ``next-to-last/2``). Blocks are keyed by multihash, as in Kubo, so the
same bytes under a CIDv0 and a CIDv1 are stored once.

Writes go to a temporary file in the same directory and are renamed into
place: a crash never leaves a file under a real name whose bytes do not hash
to that name.

Claims let a writer undo its own writes safely (a CAR import that turns out
truncated removes the blocks it stored): blocks written new under a claim are
recorded, and any other write of the same block marks it as relied upon, so
``undo`` never removes a block another writer counted on being there. The
existence check, the rename and the undo's unlink happen under one lock.
"""

from __future__ import annotations

import base64
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from ..errors import BlockNotFound, CorruptBlock
from .cid import CID, RAW


class ReadableStore(Protocol):
    """What DAG readers need of a store: the local :class:`Blockstore`, or one that
    fetches missing blocks from the network (``retrieval.FetchingStore``)."""

    def get(self, cid: CID, *, verify: bool = False) -> bytes: ...

    def size(self, cid: CID) -> int: ...

    def has(self, cid: CID) -> bool: ...

SHARDING = "/repo/flatfs/shard/v1/next-to-last/2\n"


def multihash_key(multihash: bytes) -> str:
    return base64.b32encode(multihash).decode().rstrip("=")


def key_multihash(key: str) -> bytes:
    return base64.b32decode(key + "=" * (-len(key) % 8))


class Blockstore:
    """A flatfs-compatible block store rooted at ``path`` (the repo's ``blocks/``)."""

    def __init__(self, path: str | os.PathLike[str], *, sync: bool = False) -> None:
        self.path = Path(path)
        self.sync = sync
        self.path.mkdir(parents=True, exist_ok=True)
        shard_file = self.path / "SHARDING"
        if not shard_file.exists():
            shard_file.write_text(SHARDING)
        self._dirs: set[str] = set()
        self._tmp_counter = 0
        self._lock = threading.Lock()
        self._claims: dict[bytes, list[int | bool]] = {}  # multihash -> [claim that wrote it, relied on by another]
        self._claim_ids = 0

    def _file(self, cid: CID) -> tuple[Path, str]:
        key = multihash_key(cid.multihash)
        shard = key[-3:-1]
        return self.path / shard / f"{key}.data", shard

    def has(self, cid: CID) -> bool:
        return self._file(cid)[0].exists()

    def size(self, cid: CID) -> int:
        try:
            return self._file(cid)[0].stat().st_size
        except FileNotFoundError:
            raise BlockNotFound(f"block {cid} not found") from None

    def get(self, cid: CID, *, verify: bool = False) -> bytes:
        try:
            with open(self._file(cid)[0], "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise BlockNotFound(f"block {cid} not found") from None
        if verify and not cid.verify(data):
            raise CorruptBlock(f"block {cid} on disk does not match its hash")
        return data

    def put(self, cid: CID, data: bytes | Iterable[bytes | memoryview], *, verify: bool = False, claim: int | None = None) -> bool:
        """Store a block given whole or as pieces; return False if it was already there.
        ``claim`` (from :meth:`claim`): record a new block so :meth:`undo` may remove it."""
        parts = [data] if isinstance(data, (bytes, bytearray, memoryview)) else list(data)
        if verify and not cid.verify(b"".join(parts)):
            raise CorruptBlock(f"block bytes do not match {cid}")
        final, shard = self._file(cid)
        mh = cid.multihash
        with self._lock:
            if final.exists():
                self._relied_on(mh, claim)
                return False
            self._tmp_counter += 1
            tmp = final.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{self._tmp_counter}")
        if shard not in self._dirs:
            (self.path / shard).mkdir(exist_ok=True)
            self._dirs.add(shard)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.writev(fd, parts) if len(parts) > 1 else os.write(fd, parts[0])
            if self.sync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        with self._lock:
            existed = final.exists()  # another writer stored it meanwhile
            os.replace(tmp, final)
            if existed:
                self._relied_on(mh, claim)
            elif claim is not None:
                self._claims[mh] = [claim, False]
            elif mh in self._claims:
                self._claims[mh][1] = True
        return not existed

    def _relied_on(self, mh: bytes, claim: int | None) -> None:
        entry = self._claims.get(mh)
        if entry is not None and entry[0] != claim:
            entry[1] = True

    # -- claims: undoing one's own writes -------------------------------------------------
    def claim(self) -> int:
        """A new claim id for :meth:`put`, :meth:`undo` and :meth:`release`."""
        with self._lock:
            self._claim_ids += 1
            return self._claim_ids

    def undo(self, claim: int, cids: Iterable[CID]) -> int:
        """Remove the blocks of ``cids`` that ``claim`` wrote new and nobody else has
        written (or found present) since; return how many were removed."""
        removed = 0
        for cid in cids:
            mh = cid.multihash
            with self._lock:
                entry = self._claims.get(mh)
                if entry is None or entry[0] != claim:
                    continue
                del self._claims[mh]
                if not entry[1]:
                    removed += self.delete(cid)
        return removed

    def release(self, claim: int, cids: Iterable[CID]) -> None:
        """Forget ``claim``'s records of ``cids`` (its writes are final)."""
        with self._lock:
            for cid in cids:
                entry = self._claims.get(cid.multihash)
                if entry is not None and entry[0] == claim:
                    del self._claims[cid.multihash]

    def delete(self, cid: CID) -> bool:
        try:
            self._file(cid)[0].unlink()
            return True
        except FileNotFoundError:
            return False

    def multihashes(self) -> Iterator[bytes]:
        """Every stored block's multihash (flatfs keeps no codec, as in Kubo)."""
        for shard in sorted(os.scandir(self.path), key=lambda e: e.name):
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard.path):
                name = entry.name
                if name.endswith(".data") and not name.startswith("."):
                    try:
                        yield key_multihash(name[:-5])
                    except ValueError:
                        continue

    def cids(self) -> Iterator[CID]:
        """Stored blocks as CIDv1 raw, which is what Kubo's ``refs local`` reports."""
        for mh in self.multihashes():
            yield CID(1, RAW, mh)

    def stat(self) -> tuple[int, int]:
        """(number of blocks, total bytes)."""
        count = total = 0
        for shard in os.scandir(self.path):
            if shard.is_dir():
                for entry in os.scandir(shard.path):
                    if entry.name.endswith(".data") and not entry.name.startswith("."):
                        count += 1
                        total += entry.stat().st_size
        return count, total

    def remove_temp_files(self) -> int:
        """Remove leftovers of interrupted writes (called when a repo opens)."""
        removed = 0
        for shard in os.scandir(self.path):
            if shard.is_dir():
                for entry in os.scandir(shard.path):
                    if entry.name.startswith(".tmp-"):
                        os.unlink(entry.path)
                        removed += 1
        return removed


class BlockWriter:
    """Writes blocks on background threads so hashing and disk I/O overlap.

    At most ``max_pending`` blocks wait in memory (the importer's memory bound);
    ``put`` blocks the caller when that many are in flight. Both hashlib and
    file writes release the GIL, so two threads use both cores of a small machine.
    ``flush`` waits for every write and re-raises the first error.
    """

    _pool: ThreadPoolExecutor | None = None
    _pool_lock = threading.Lock()

    def __init__(self, store: Blockstore, max_pending: int = 8) -> None:
        self.store = store
        self.max_pending = max_pending
        self._pending: deque[Future[bool]] = deque()
        with BlockWriter._pool_lock:
            if BlockWriter._pool is None:
                BlockWriter._pool = ThreadPoolExecutor(2, thread_name_prefix="block-writer")
        self._executor = BlockWriter._pool

    def put(self, cid: CID, parts: Sequence[bytes | memoryview]) -> None:
        while len(self._pending) >= self.max_pending:
            self._pending.popleft().result()
        # views of a mutable buffer are copied: the caller may reuse it once we return
        owned = [p if isinstance(p, bytes) or (isinstance(p, memoryview) and p.readonly) else bytes(p) for p in parts]
        self._pending.append(self._executor.submit(self.store.put, cid, owned))

    def flush(self) -> None:
        while self._pending:
            self._pending.popleft().result()
