"""The content core without any network: CIDs, blockstore, reader, DAG ops, CAR, model, config."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, stream_bytes
from waiting import async_wait_for, wait_for

from ipfs_kit_py.config import load_settings
from ipfs_kit_py.content import dag
from ipfs_kit_py.content.blockstore import Blockstore, multihash_key
from ipfs_kit_py.content.car import CarParser, read_car, write_car
from ipfs_kit_py.content.cid import CID
from ipfs_kit_py.content.importer import PROFILES, import_bytes, import_path, resolve_profile
from ipfs_kit_py.content.reader import UnixFSReader
from ipfs_kit_py.content.sniff import sniff
from ipfs_kit_py.errors import (
    BlockNotFound,
    CorruptBlock,
    InvalidArgument,
    InvalidCAR,
    InvalidCID,
    NotFound,
    PathError,
)
from ipfs_kit_py.events import EventBus, NotificationType
from ipfs_kit_py.model import AddOptions, IPFSModel
from ipfs_kit_py.repo import Repo

# -- CIDs ------------------------------------------------------------------------------


def test_cid_round_trips() -> None:
    for text in (
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        "bafybeidhwkcuqrdixxwem2ujuiljjeiwn3kycgrqhyvua6jf3dn4lu2jfe",
    ):
        cid = CID.decode(text)
        assert str(cid) == text
        assert CID.from_bytes(bytes(cid)) == cid
    v0 = CID.decode("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH")
    assert str(v0.to_v1()).startswith("bafybei")


@pytest.mark.parametrize("bad", ["", "Qm123", "hello", "bafy!!!", "zzzz", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQ0", 42])
def test_invalid_cids_raise_clear_errors(bad: object) -> None:
    with pytest.raises(InvalidCID, match="invalid CID"):
        CID.decode(bad)  # type: ignore[arg-type]


# -- blockstore ------------------------------------------------------------------------


def test_blockstore_uses_kubo_flatfs_layout(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "blocks")
    cid = import_bytes(b"hello world\n", store).cid
    key = multihash_key(cid.multihash)
    assert key.startswith("CIQ")  # Kubo's flatfs key for sha2-256 multihashes
    assert (tmp_path / "blocks" / key[-3:-1] / f"{key}.data").exists()
    assert (tmp_path / "blocks" / "SHARDING").read_text() == "/repo/flatfs/shard/v1/next-to-last/2\n"


def test_blockstore_never_exposes_a_half_written_block(tmp_path: Path) -> None:
    """A process killed in the middle of writes leaves only temp files, which the
    next open removes; every block under a real name hashes to that name."""
    script = (
        "import os,sys\n"
        "from ipfs_kit_py.content.blockstore import Blockstore\n"
        "from ipfs_kit_py.content.importer import FileImporter, PROFILES\n"
        "s=Blockstore(sys.argv[1]); imp=FileImporter(s, PROFILES['v0'])\n"
        "print('ready', flush=True)\n"
        "while True: imp.write(os.urandom(1<<20))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "blocks")], stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    # kill it mid-write once it has stored some blocks (and is still writing more)
    wait_for(lambda: sum(1 for _ in (tmp_path / "blocks").rglob("*.data")) > 10, 30, "blocks written")
    proc.kill()
    proc.wait()
    store = Blockstore(tmp_path / "blocks")
    mhs = list(store.multihashes())
    assert len(mhs) > 10
    for mh in mhs:
        cid = CID(1, 0x55, mh)
        assert cid.verify(store.get(cid)), f"block {cid} does not match its name"
    store.remove_temp_files()
    leftovers = [p for p in (tmp_path / "blocks").rglob(".tmp-*")]
    assert leftovers == []


def test_blockstore_verifies_on_read_when_asked(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "blocks")
    cid = CID.hash(b"abc", 0x55)
    store.put(cid, b"abc")
    path = next((tmp_path / "blocks").rglob("*.data"))
    path.write_bytes(b"abd")
    assert store.get(cid) == b"abd"
    with pytest.raises(CorruptBlock):
        store.get(cid, verify=True)
    with pytest.raises(CorruptBlock):
        store.put(CID.hash(b"x", 0x55), b"y", verify=True)
    with pytest.raises(BlockNotFound):
        store.get(CID.hash(b"missing", 0x55))


# -- reader ----------------------------------------------------------------------------


class CountingStore(Blockstore):
    """Counts block reads: shows which blocks a read touches (the store is real)."""

    reads = 0

    def get(self, cid: CID, *, verify: bool = False) -> bytes:
        self.reads += 1
        return super().get(cid, verify=verify)


def test_reading_byte_n_touches_only_the_path_to_it(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "blocks")
    data = stream_bytes(200 * 262144 + 17)  # two levels of 174-link nodes
    cid = import_bytes(data, store).cid
    store.reads = 0
    r = UnixFSReader(store, cid)
    r.seek(len(data) - 10)
    assert r.read() == data[-10:]
    assert store.reads <= 4  # root, one internal node, one leaf (+ nothing before it)
    r.seek(123_456_7)
    assert r.read(10) == data[1234567:1234577]


def test_reader_on_raw_and_v1_2025_profiles(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "blocks")
    data = stream_bytes(3 * 1048576 + 5)
    for profile in PROFILES.values():
        r = UnixFSReader(store, import_bytes(data, store, profile).cid)
        assert r.read() == data
        r.seek(1048575)
        assert r.read(3) == data[1048575:1048578]
        assert b"".join(r.iter_range(10, 1 << 20)) == data[10 : 10 + (1 << 20)]


# -- directories, export, path safety --------------------------------------------------


def _tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_text("hello world\n")
    (root / ".hidden").write_text("secret\n")
    (root / "sub" / "deeper" / "b.bin").write_bytes(stream_bytes(300_000))
    (root / "empty.txt").write_bytes(b"")
    os.symlink("a.txt", root / "link")


def test_directory_import_hidden_empty_and_symlinks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    store = Blockstore(tmp_path / "blocks")
    plain = import_path(src, store, recursive=True)
    hidden = import_path(src, store, recursive=True, hidden=True)
    assert plain.cid != hidden.cid
    names = {e.name: e for e in dag.ls(store, plain.cid)}
    assert set(names) == {"a.txt", "empty", "empty.txt", "link", "sub"}
    assert names["empty"].type == 1 and names["link"].type == 4 and names["link"].target == "a.txt"
    assert ".hidden" in {e.name for e in dag.ls(store, hidden.cid)}
    out = tmp_path / "out"
    dag.export(store, hidden.cid, out)
    assert (out / "sub" / "deeper" / "b.bin").read_bytes() == stream_bytes(300_000)
    assert (out / "empty").is_dir() and (out / "empty.txt").read_bytes() == b""
    assert os.readlink(out / "link") == "a.txt"
    assert dag.resolve(store, f"/ipfs/{plain.cid}/sub/deeper/b.bin") == dag.resolve(store, f"{plain.cid}/sub/deeper/b.bin")
    with pytest.raises(NotFound):
        dag.resolve(store, f"{plain.cid}/nope")
    with pytest.raises(InvalidArgument, match="use -r"):
        import_path(src, store)


def test_export_refuses_names_that_escape(tmp_path: Path) -> None:
    from ipfs_kit_py.content.dagpb import DIRECTORY, PBLink, UnixFSData, encode_node, encode_unixfs

    store = Blockstore(tmp_path / "blocks")
    evil_file = import_bytes(b"pwned", store, PROFILES["v1raw"])
    for name in ("..", "../escape", "a/b"):
        block = encode_node([PBLink(evil_file.cid, name, 5)], encode_unixfs(UnixFSData(DIRECTORY)))
        cid = CID.hash(block)
        store.put(cid, block)
        with pytest.raises(PathError, match="unsafe name"):
            dag.export(store, cid, tmp_path / "out" / "x")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "out" / "escape").exists()


# -- CAR -------------------------------------------------------------------------------


def test_car_round_trip_and_bad_input(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "a")
    root = import_bytes(stream_bytes(1_000_000), store).cid
    car = b"".join(write_car([root], ((c, store.get(c)) for c in dag.walk(store, root))))
    blocks = list(read_car([car[i : i + 999] for i in range(0, len(car), 999)]))
    assert blocks[0][0] == root and len(blocks) == 5
    with pytest.raises(InvalidCAR, match="truncated"):
        list(read_car([car[:-10]]))
    with pytest.raises(InvalidCAR, match="truncated"):
        list(read_car([car[:3]]))
    corrupt = bytearray(car)
    corrupt[-1] ^= 0xFF
    with pytest.raises(InvalidCAR, match="does not match"):
        list(read_car([bytes(corrupt)]))
    with pytest.raises(InvalidCAR):
        list(read_car([b"\x05hello"]))
    with pytest.raises(InvalidCAR, match="exceeds"):
        CarParser().feed(b"\xff\xff\xff\xff\x0f")


# -- model -----------------------------------------------------------------------------


@pytest.fixture
def model(tmp_path: Path) -> tuple[IPFSModel, list[dict]]:
    bus = EventBus()
    events: list[dict] = []
    bus.subscribe(lambda e: events.append(e.to_dict()))
    return IPFSModel(Repo(tmp_path / "repo"), bus), events


async def test_model_add_pin_gc_and_events(model: tuple[IPFSModel, list[dict]]) -> None:
    m, events = model
    kept = await m.add_bytes(b"keep me", "keep.txt")
    temp = await m.add_bytes(stream_bytes(600_000), "temp.bin", AddOptions(pin=False))
    assert [e["type"] for e in events] == ["pin_status_changed", "content_added", "content_added"]
    assert events[1]["data"]["cid"] == str(kept.cid) and events[1]["data"]["content_type"].startswith("text/plain")
    assert [e["seq"] for e in events] == [1, 2, 3]
    removed = (await m.gc()).removed
    assert len(removed) == 4 and not m.store.has(temp.cid)
    assert m.store.has(kept.cid)
    assert events[-1] == {**events[-1], "type": "content_removed", "data": {"cid": str(temp.cid), "reason": "gc"}}
    await m.pin_rm(kept.cid)
    assert [e["type"] for e in events[-2:]] == ["pin_status_changed", "content_removed"]
    await m.gc()
    assert not m.store.has(kept.cid)
    with pytest.raises(NotFound):
        await m.pin_rm(kept.cid)


async def test_model_only_hash_stores_nothing(model: tuple[IPFSModel, list[dict]]) -> None:
    m, events = model
    r = await m.add_bytes(stream_bytes(1048576), "x", AddOptions(only_hash=True))
    assert str(r.cid) == "QmdYjpKoD6VoUhKLJfBAUsx7gJ4zXSWtsqKyz4jd7yMB3o"
    assert list(m.store.multihashes()) == [] and events == []


async def test_model_car_import_is_all_or_nothing(model: tuple[IPFSModel, list[dict]], tmp_path: Path) -> None:
    m, _ = model
    src = Blockstore(tmp_path / "src")
    root = import_bytes(stream_bytes(2_000_000), src).cid
    car = b"".join(write_car([root], ((c, src.get(c)) for c in dag.walk(src, root))))
    with pytest.raises(InvalidCAR):
        await m.car_import([car[:-100]])
    assert list(m.store.multihashes()) == []
    roots, count = await m.car_import([car])
    assert roots == [root] and count == 9
    assert m.index.pin_type(str(root)) == "recursive"
    assert b"".join([c async for c in m.cat(root)]) == stream_bytes(2_000_000)


async def test_model_metadata(model: tuple[IPFSModel, list[dict]]) -> None:
    m, _ = model
    r = await m.add_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "pic.png")
    md = await m.metadata_get(r.cid)
    assert md.name == "pic.png" and md.content_type == "image/png" and md.size == 108
    md = await m.metadata_set(r.cid, {"title": "A picture", "tags": ["x"]})
    assert md.user == {"title": "A picture", "tags": ["x"]} and md.name == "pic.png"
    md = await m.metadata_set(r.cid, {"title": None})
    assert md.user == {"tags": ["x"]}
    with pytest.raises(NotFound):
        await m.metadata_get(CID.hash(b"nothing"))


async def test_concurrent_adds_and_gc_lose_nothing(model: tuple[IPFSModel, list[dict]]) -> None:
    m, _ = model
    datas = [stream_bytes(300_000 + i) for i in range(6)]
    results = await asyncio.gather(*(m.add_bytes(d, f"f{i}") for i, d in enumerate(datas)), m.gc(), m.gc())
    for d, r in zip(datas, results[:6], strict=True):
        assert b"".join([c async for c in m.cat(r.cid)]) == d


# -- profiles, sniffing, settings ------------------------------------------------------


def test_profile_flags_follow_kubo() -> None:
    assert resolve_profile(None, cid_version=1) == PROFILES["v1raw"]
    p = resolve_profile(None, cid_version=1, raw_leaves=False)
    assert p.cid_version == 1 and not p.raw_leaves
    assert resolve_profile("v0", chunker="size-1024").chunk_size == 1024
    for bad in ("rabin", "size-0", "size-x", "size-99999999"):
        with pytest.raises(InvalidArgument):
            resolve_profile(None, chunker=bad)
    with pytest.raises(InvalidArgument, match="unknown profile"):
        resolve_profile("v9")


def test_sniff() -> None:
    assert sniff(b"\x00\x00\x00\x18ftypisom") == "video/mp4"
    assert sniff(b"\x1a\x45\xdf\xa3") == "video/webm"
    assert sniff(b"<!DOCTYPE html><html>") == "text/html"
    assert sniff(b"plain words") == "text/plain; charset=utf-8"
    assert sniff(b"\x00\x01\x02\xff") == "application/octet-stream"


def test_settings_layers(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"server": {"port": 9000}, "libp2p": {"enabled": false}}')
    s = load_settings(tmp_path, environ={"IPFS_KIT_SERVER_PORT": "9100", "IPFS_KIT_WEBRTC_ICE_HOSTS": "127.0.0.1,::1"})
    assert s.server.port == 9100 and s.libp2p.enabled is False and s.webrtc.ice_hosts == ["127.0.0.1", "::1"]
    s = load_settings(tmp_path, {"server": {"port": 9200}}, environ={"IPFS_KIT_SERVER_PORT": "9100"})
    assert s.server.port == 9200
    with pytest.raises(InvalidArgument, match="unknown setting"):
        load_settings(tmp_path, {"server": {"prot": 1}}, environ={})
    with pytest.raises(InvalidArgument, match="invalid value"):
        load_settings(tmp_path, environ={"IPFS_KIT_SERVER_PORT": "eighty"})


def test_cli_args_override_env_and_repo_lock(tmp_path: Path) -> None:
    r1 = Repo(tmp_path / "r")
    r1.lock()
    from ipfs_kit_py.errors import RepoLocked

    r2 = Repo(tmp_path / "r")
    with pytest.raises(RepoLocked):
        r2.lock()
    assert r2.is_locked()
    r1.unlock()
    assert not r2.is_locked()
    assert NotificationType.CONTENT_ADDED == "content_added"


async def test_car_import_refuses_to_pin_an_incomplete_dag(model: tuple[IPFSModel, list[dict]], tmp_path: Path) -> None:
    m, _ = model
    src = Blockstore(tmp_path / "src")
    root = import_bytes(stream_bytes(1_000_000), src).cid
    blocks = [(c, src.get(c)) for c in dag.walk(src, root)]
    car = b"".join(write_car([root], blocks[:-1]))  # the last leaf left out
    with pytest.raises(BlockNotFound, match="incomplete"):
        await m.car_import([car])
    assert m.index.pin_type(str(root)) is None
    assert (await m.gc()).removed  # GC still works: the imported blocks are unpinned
    with pytest.raises(BlockNotFound):
        await m.ls(CID.hash(b"no such raw block", 0x55))


async def test_adds_wait_for_a_running_gc_without_blocking_the_loop(model: tuple[IPFSModel, list[dict]]) -> None:
    """A GC in progress holds the guard: an add waits for it on the event loop (in no
    thread), so the loop keeps serving (ticks keep coming) and the add finishes once
    GC is done."""
    m, _ = model
    release = asyncio.Event()
    held = asyncio.Event()

    async def long_gc() -> None:
        async with m._gc.exclusive():  # what gc() holds while it marks and sweeps
            held.set()
            await asyncio.wait_for(release.wait(), 5)

    gc_task = asyncio.create_task(long_gc())
    await held.wait()
    add = asyncio.create_task(m.add_bytes(b"added during gc", "late.txt"))
    # the add is queued on the guard as a future, and the loop keeps running meanwhile
    # (async_wait_for itself runs on this loop)
    await async_wait_for(lambda: len(m._gc._readers_waiting) == 1, 10, "the add waiting for GC")
    ticks = 0
    for _ in range(20):
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 20 and not add.done() and len(m._gc._readers_waiting) == 1
    release.set()
    result = await asyncio.wait_for(add, 5)
    await gc_task
    assert m.index.pin_type(str(result.cid)) == "recursive"


def test_leaf_fast_path_agrees_with_the_full_decoder() -> None:
    from ipfs_kit_py.content.dagpb import (
        FILE,
        PBLink,
        UnixFSData,
        decode_node,
        decode_unixfs,
        encode_node,
        encode_unixfs,
        file_leaf_parts,
        file_leaf_view,
    )

    for chunk in (b"", b"x", stream_bytes(262144)):
        prefix, suffix = file_leaf_parts(len(chunk))
        block = prefix + chunk + suffix
        view, size = file_leaf_view(block)
        u = decode_unixfs(decode_node(block).data)
        assert bytes(view) == (u.data or b"") == chunk and size == u.filesize == len(chunk)
    parent = import_bytes(stream_bytes(600_000), None).cid  # a root with links is not a leaf
    with_links = encode_node([PBLink(parent, "", 1)], encode_unixfs(UnixFSData(FILE, filesize=1, blocksizes=[1])))
    assert file_leaf_view(with_links) is None
    assert file_leaf_view(b"\x0a\x05\x08\x02\x18\x05") is None  # filesize 5 but no data: not trusted
    assert file_leaf_view(b"\x0a\x04\x08\x01\x18\x00") is None  # a directory
    assert file_leaf_view(b"\x0a\xff") is None  # truncated
