"""Every CID in shared/vectors/cids.json, for every profile, from our importer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import SEED, VECTORS, stream_bytes

from ipfs_kit_py.content.blockstore import Blockstore
from ipfs_kit_py.content.importer import PROFILES, DirectoryBuilder, FileImporter, import_path
from ipfs_kit_py.content.reader import UnixFSReader

DATA = json.loads(VECTORS.read_text())
FILES = [f for f in DATA["files"] if f["size"] <= 60_000_000]
BIG = [f for f in DATA["files"] if f["size"] > 60_000_000]


def _import_stream(size: int, profile: str, store: Blockstore | None = None, piece: int = 1 << 20) -> str:
    imp = FileImporter(store, PROFILES[profile])
    data = stream_bytes(size)
    for i in range(0, len(data), piece):
        imp.write(data[i : i + piece])
    return str(imp.finish().cid)


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("vector", FILES, ids=[f["name"] for f in FILES])
def test_file_vectors(vector: dict, profile: str) -> None:
    assert _import_stream(vector["size"], profile) == vector["cid"][profile]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_write_sizes_do_not_change_cids(profile: str) -> None:
    """Odd write sizes (as a network delivers them) must give the same DAG."""
    v = next(f for f in FILES if f["name"] == "1MiB_plus_1")
    assert _import_stream(v["size"], profile, piece=7919) == v["cid"][profile]


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("vector", DATA["directories"], ids=[d["name"] for d in DATA["directories"]])
def test_directory_vectors(vector: dict, profile: str, tmp_path: Path) -> None:
    root = tmp_path / vector["name"]
    for rel, spec in vector["tree"].items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(spec["utf8"].encode() if "utf8" in spec else stream_bytes(spec["stream_prefix_bytes"]))
    assert str(import_path(root, None, PROFILES[profile], recursive=True).cid) == vector["cid"][profile]


def test_stored_file_reads_back_with_seeks(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "blocks")
    v = next(f for f in FILES if f["name"] == "174x256KiB_plus_1")
    cid = _import_stream(v["size"], "v0", store)
    assert cid == v["cid"]["v0"]
    data = stream_bytes(v["size"])
    r = UnixFSReader(store, cid)
    assert r.size == len(data)
    for off in (0, 1, 262143, 262144, 262145, len(data) - 1, 45_000_000, 12_345_678):
        r.seek(off)
        assert r.read(100_000) == data[off : off + 100_000]


@pytest.mark.slow
@pytest.mark.parametrize("vector", BIG, ids=[f["name"] for f in BIG])
def test_big_vectors_only_hash(vector: dict) -> None:
    """One pass over the generated stream feeds every profile's importer (the generator, one
    SHA-256 per 32 bytes, costs more than the import)."""
    importers = {profile: FileImporter(None, PROFILES[profile]) for profile in PROFILES}
    n, i, chunk = vector["size"], 0, 1 << 20
    while n > 0:
        blk = b"".join(hashlib.sha256(SEED + j.to_bytes(8, "big")).digest() for j in range(i, i + chunk // 32))
        i += chunk // 32
        piece = blk[: min(n, chunk)]
        for imp in importers.values():
            imp.write(piece)
        n -= chunk
    assert {p: str(imp.finish().cid) for p, imp in importers.items()} == vector["cid"]


def test_directory_builder_refuses_escapes() -> None:
    b = DirectoryBuilder(None)
    with pytest.raises(ValueError):
        b.add_dir("a/../../etc")
