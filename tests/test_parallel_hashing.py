"""The importer hashes whole chunks of immutable writes in worker threads (issue 10, the
CLI's add -n benchmark): CIDs and blocks must be exactly those of hashing in the caller's
thread, whatever the write sizes, for every profile, stored or only hashed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipfs_kit_py.content import importer
from ipfs_kit_py.content.blockstore import Blockstore
from ipfs_kit_py.content.cid import CID
from ipfs_kit_py.content.importer import PROFILES, FileImporter

DATA = random.Random(7).randbytes((3 << 20) + 12345)  # 3 MiB and a bit: whole chunks and a tail


def pieces(sizes: list[int]) -> Iterator[bytes]:
    pos, i = 0, 0
    while pos < len(DATA):
        n = sizes[i % len(sizes)]
        yield DATA[pos:pos + n]
        pos, i = pos + n, i + 1


def run(profile: str, sizes: list[int], threads: int, store: Blockstore | None, mutable: bool = False,
        ) -> tuple[CID, list[CID]]:
    importer.HASH_THREADS = threads
    order: list[CID] = []
    imp = FileImporter(store, PROFILES[profile], on_block=lambda cid, parts: order.append(cid))
    for p in pieces(sizes):
        imp.write(bytearray(p) if mutable else p)
    return imp.finish().cid, order


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    saved = importer.HASH_THREADS
    yield
    importer.HASH_THREADS = saved


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("sizes", [[1 << 20], [4 << 20], [300_000, 5_000_000, 1], [65536]])
def test_threads_change_nothing(profile: str, sizes: list[int], tmp_path: Path) -> None:
    serial = run(profile, sizes, 1, None)
    assert run(profile, sizes, 4, None) == serial  # the same CIDs, blocks handed out in the same order
    assert run(profile, sizes, 4, None, mutable=True) == serial  # a bytearray is hashed in place
    store = Blockstore(tmp_path / "blocks")
    root, order = run(profile, sizes, 4, store)
    assert (root, order) == serial
    assert all(c.verify(store.get(c)) for c in order)  # every block on disk under its CID


def test_a_big_write_is_hashed_by_the_threads() -> None:
    """The threads are really used for a write of several whole chunks (not only allowed to)."""
    import threading

    importer.HASH_THREADS = 2
    seen: set[str] = set()
    real = FileImporter._hash_leaf

    class Spy(FileImporter):
        def _hash_leaf(self, chunk: bytes | memoryview) -> tuple:  # type: ignore[override]
            seen.add(threading.current_thread().name)
            return real(self, chunk)

    imp = Spy(None, PROFILES["v0"])
    imp.write(DATA[: 4 << 20])
    imp.finish()
    assert any(name.startswith("ipfs-kit-hash") for name in seen)
