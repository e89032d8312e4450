"""How a read of remote content asks for blocks (the UnixFS reader's read-ahead, and the
first bytes of a stream): after a seek the block holding the position is asked for
first, the read-ahead starts at one block and grows, it never passes the end of the
range, and the first piece of a stream goes out before the next block arrives.

The reader runs over a store that holds what a node would hold locally and records
what the reader asks it to fetch (the network's part, as ``retrieval.FetchingStore``
plays it in the server)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from conftest import stream_bytes

from ipfs_kit_py.content import reader as reader_mod
from ipfs_kit_py.content.blockstore import Blockstore
from ipfs_kit_py.content.cid import CID
from ipfs_kit_py.content.dagpb import decode_node
from ipfs_kit_py.content.importer import import_bytes, resolve_profile
from ipfs_kit_py.content.reader import UnixFSReader
from ipfs_kit_py.model import stream_in_thread

KIB = 1024


class RemoteStore:
    """The local store over the blocks of a remote one: ``prefetch`` and a missing ``get``
    bring blocks over, in the order asked, and record that order."""

    def __init__(self, local: Blockstore, remote: Blockstore) -> None:
        self.local, self.remote = local, remote
        self.asked: list[CID] = []  # every block asked of the network, in order
        self.batches: list[list[CID]] = []  # the prefetch calls (blocks not local yet)

    def _bring(self, cid: CID) -> None:
        if not self.local.has(cid):
            self.asked.append(cid)
            self.local.put(cid, self.remote.get(cid))

    def prefetch(self, cids: Iterable[CID]) -> None:
        missing = [c for c in cids if not self.local.has(c)]
        if missing:
            self.batches.append(missing)
        for c in missing:
            self._bring(c)

    def get(self, cid: CID, *, verify: bool = False) -> bytes:
        self._bring(cid)
        return self.local.get(cid, verify=verify)

    def size(self, cid: CID) -> int:
        return len(self.get(cid))

    def has(self, cid: CID) -> bool:
        return self.local.has(cid)


def children(store: Blockstore, cid: CID) -> list[CID]:
    return [lk.cid for lk in decode_node(store.get(cid)).links]


def file_dag(tmp_path: Path, size: int) -> tuple[Blockstore, CID, bytes]:
    """A v1 file of ``size`` bytes in 1 KiB raw leaves (174 to a node), on a "remote" store."""
    data = stream_bytes(size)
    remote = Blockstore(tmp_path / "remote")
    root = import_bytes(data, remote, resolve_profile("v0", cid_version=1, chunker="size-1024")).cid
    return remote, root, data


def test_a_seek_asks_for_the_block_at_the_position_first(tmp_path: Path) -> None:
    remote, root, data = file_dag(tmp_path, 100 * KIB)  # one level: 100 leaves under the root
    leaves = children(remote, root)
    local = Blockstore(tmp_path / "local")
    local.put(root, remote.get(root))
    store = RemoteStore(local, remote)
    r = UnixFSReader(store, root)
    r.read_ahead = 8
    start = 50 * KIB + 10
    got, ahead = [], []
    for n, piece in enumerate(r.iter_range(start, 20 * KIB)):
        got.append(bytes(piece))
        ahead.append(leaves.index(store.asked[-1]) - (50 + n))  # blocks asked beyond the one read
    assert b"".join(got) == data[start : start + 20 * KIB]
    # leaf 50 holds the position: asked for first, with one block read ahead, not behind eight
    assert store.batches[0] == [leaves[50], leaves[51]]
    # the read-ahead doubles per block read in sequence, up to read_ahead; then it is
    # topped up to read_ahead whenever only half of it is left (wants go out 4 at a time)
    assert ahead[:10] == [1, 2, 4, 8, 7, 6, 5, 8, 7, 6], ahead
    assert [len(b) for b in store.batches] == [2, 2, 3, 5, 4, 4, 1], [len(b) for b in store.batches]
    # and never passes the end of the range: leaves 50..70 only
    assert store.asked == leaves[50:71]


def test_the_read_ahead_starts_small_again_after_each_seek(tmp_path: Path) -> None:
    remote, root, data = file_dag(tmp_path, 100 * KIB)
    leaves = children(remote, root)
    local = Blockstore(tmp_path / "local")
    local.put(root, remote.get(root))
    store = RemoteStore(local, remote)
    r = UnixFSReader(store, root)
    r.read_ahead = 8
    for i in range(10):  # a sequential read grows the read-ahead to 8 blocks
        assert r.read(KIB) == data[i * KIB : (i + 1) * KIB]
    store.batches.clear()
    r.seek(80 * KIB)  # then a player seeks
    assert r.read(100) == data[80 * KIB : 80 * KIB + 100]
    assert store.batches[0] == [leaves[80], leaves[81]]


def test_below_a_large_root_the_leaf_goes_before_the_read_ahead_of_the_levels_above(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 400 leaves: root -> 3 nodes of up to 174 leaves. The reader treats a child spanning
    # more than MAX_LEAF_SPAN as a node with levels below (2 MiB in real DAGs: 174 KiB here)
    monkeypatch.setattr(reader_mod, "MAX_LEAF_SPAN", 64 * KIB)
    remote, root, data = file_dag(tmp_path, 400 * KIB)
    mids = children(remote, root)
    assert len(mids) == 3
    first_leaves = children(remote, mids[0])
    local = Blockstore(tmp_path / "local")
    for c in (root, mids[0], first_leaves[0]):  # what a GET of the start left behind
        local.put(c, remote.get(c))
    store = RemoteStore(local, remote)
    r = UnixFSReader(store, root)
    r.read_ahead = 8
    start = 100 * KIB + 5  # in leaf 100 of the first node
    r.seek(start)
    assert r.read(100) == data[start : start + 100]
    # the leaf, then its next sibling, then the next node of the root level
    assert store.asked[:3] == [first_leaves[100], first_leaves[101], mids[1]], store.asked[:3]


def test_a_stream_sends_its_first_piece_before_the_next_block_arrives() -> None:
    arrived = threading.Event()
    op = type("Op", (), {"fetched_since_flush": False})()

    def pieces() -> Iterator[bytes]:
        yield b"first piece (local)"
        assert arrived.wait(10), "the stream waited for the next block before sending the first"
        yield b"second piece (from the network)"

    async def run() -> list[bytes]:
        stream = stream_in_thread(pieces(), flush=op)  # type: ignore[arg-type]
        first = await asyncio.wait_for(stream.__anext__(), 5)
        arrived.set()
        return [first] + [chunk async for chunk in stream]

    assert asyncio.run(run()) == [b"first piece (local)", b"second piece (from the network)"]
