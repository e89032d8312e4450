"""The one DAG walker (content/walk.py): its orders and options on real DAGs in a real
blockstore, the sync and async drivers agreeing, and what moved onto it (dag.walk,
dag.blocks for CAR export and the libp2p content protocol, the GC pin walk, the
data-channel receiver)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from ipfs_kit_py.car_channel import assemble
from ipfs_kit_py.content import dag, ipld
from ipfs_kit_py.content.blockstore import Blockstore, multihash_key
from ipfs_kit_py.content.cid import CID, DAG_CBOR, DAG_PB, IDENTITY, RAW
from ipfs_kit_py.content.dagpb import PBLink, encode_node
from ipfs_kit_py.content.importer import PROFILES, import_bytes, import_path
from ipfs_kit_py.content.pinset import walk_pins
from ipfs_kit_py.content.walk import Visit, awalk_blocks, walk_blocks
from ipfs_kit_py.errors import BlockNotFound, CorruptBlock
from ipfs_kit_py.events import EventBus
from ipfs_kit_py.model import IPFSModel
from ipfs_kit_py.repo import Repo


def put(store: Blockstore, data: bytes, codec: int = DAG_PB) -> CID:
    cid = CID.hash(data, codec, 1)
    store.put(cid, data)
    return cid


@pytest.fixture
def store(tmp_path: Path) -> Blockstore:
    return Blockstore(tmp_path / "blocks")


@pytest.fixture
def diamond(store: Blockstore) -> dict[str, CID]:
    """root -> (a, b); a -> (leaf1, shared); b -> (shared, leaf2): ``shared`` is linked twice."""
    leaf1, leaf2, shared = (put(store, bytes([i]) * 10, RAW) for i in (1, 2, 3))
    a = put(store, encode_node([PBLink(leaf1, "l1", 10), PBLink(shared, "s", 10)], b"\x08\x01"))
    b = put(store, encode_node([PBLink(shared, "s", 10), PBLink(leaf2, "l2", 10)], b"\x08\x01"))
    root = put(store, encode_node([PBLink(a, "a", 0), PBLink(b, "b", 0)], b"\x08\x01"))
    return {"root": root, "a": a, "b": b, "leaf1": leaf1, "leaf2": leaf2, "shared": shared}


def names(d: dict[str, CID], visits: list[Visit]) -> list[str]:
    by = {c: n for n, c in d.items()}
    return [by[v.cid] for v in visits]


def test_orders_and_uniqueness(store: Blockstore, diamond: dict[str, CID]) -> None:
    root = diamond["root"]
    pre = list(walk_blocks(store.get, root))
    assert names(diamond, pre) == ["root", "a", "leaf1", "shared", "b", "leaf2"]
    assert names(diamond, list(walk_blocks(store.get, root, unique=False))) == \
        ["root", "a", "leaf1", "shared", "b", "shared", "leaf2"]
    assert names(diamond, list(walk_blocks(store.get, root, order="post"))) == \
        ["leaf1", "shared", "a", "leaf2", "b", "root"]
    assert names(diamond, list(walk_blocks(store.get, root, order="level"))) == \
        ["root", "a", "b", "leaf1", "shared", "leaf2"]
    # every visit knows where it came from and what it links to, and was read once
    by = {v.cid: v for v in pre}
    assert by[root].depth == 0 and by[root].parent is None and by[root].links == [diamond["a"], diamond["b"]]
    assert (by[diamond["leaf1"]].depth, by[diamond["leaf1"]].parent, by[diamond["leaf1"]].name) == (2, diamond["a"], "l1")
    assert all(v.data == store.get(v.cid) for v in pre)


def test_skip_depth_and_leaves(store: Blockstore, diamond: dict[str, CID]) -> None:
    root = diamond["root"]
    assert names(diamond, list(walk_blocks(store.get, root, skip=lambda c: c == diamond["a"]))) == \
        ["root", "b", "shared", "leaf2"]
    shallow = list(walk_blocks(store.get, root, max_depth=1))
    assert names(diamond, shallow) == ["root", "a", "b"]
    assert [v.data is None for v in shallow] == [False, True, True]  # the limit's blocks are not read
    reads: list[CID] = []

    def counting(c: CID) -> bytes:
        reads.append(c)
        return store.get(c)

    assert len(list(walk_blocks(counting, root, read_leaves=False))) == 6
    assert reads == [root, diamond["a"], diamond["b"]]  # raw leaves not read


def test_errors_raise_or_ride_along(store: Blockstore, diamond: dict[str, CID]) -> None:
    store.delete(diamond["a"])
    with pytest.raises(BlockNotFound):
        list(walk_blocks(store.get, diamond["root"]))
    visits = list(walk_blocks(store.get, diamond["root"], errors="yield"))
    assert names(diamond, visits) == ["root", "a", "b", "shared", "leaf2"]
    assert isinstance(visits[1].error, BlockNotFound) and visits[1].data is None
    junk = put(store, b"\xff\xff not dag-pb")
    bad = list(walk_blocks(store.get, junk, errors="yield"))
    assert isinstance(bad[0].error, CorruptBlock) and bad[0].data is not None
    with pytest.raises(CorruptBlock):
        list(walk_blocks(store.get, junk))


def test_identity_and_ipld_links(store: Blockstore) -> None:
    leaf = put(store, b"x" * 100, RAW)
    inline = CID(1, RAW, bytes([IDENTITY, 3]) + b"abc")
    cbor = put(store, ipld.encode("dag-cbor", {"a": leaf, "b": [inline]}), DAG_CBOR)
    visits = list(walk_blocks(store.get, cbor))
    assert [v.cid for v in visits] == [cbor, leaf, inline]
    assert visits[2].data == b"abc"  # never stored: its bytes are its digest


async def test_the_async_driver_agrees_and_asks_a_window_at_once(store: Blockstore, tmp_path: Path) -> None:
    data = random.Random(1).randbytes(3 << 20)
    root = import_bytes(data, store, PROFILES["v0"]).cid  # 12 leaves under one root
    in_flight = peak = 0

    async def aget(c: CID) -> bytes:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)  # let the others start
        in_flight -= 1
        return store.get(c)

    for order in ("pre", "post", "level"):
        sync = [(v.cid, v.data) for v in walk_blocks(store.get, root, order=order)]  # type: ignore[arg-type]
        got = [(v.cid, v.data) async for v in awalk_blocks(aget, root, order=order, window=8)]  # type: ignore[arg-type]
        assert got == sync and len(got) == 13
    assert peak == 8  # level order: the frontier asked for 8 at a time


def test_dag_walk_and_blocks_ride_on_it(store: Blockstore, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(random.Random(2).randbytes(600_000))
    (src / "g").write_bytes(b"g")
    root = import_path(src, store, PROFILES["v0"], recursive=True).cid
    cids = list(dag.walk(store, root))
    assert [c for c, _ in dag.blocks(store, root)] == cids == [v.cid for v in walk_blocks(store.get, root)]
    assert len(cids) == len(set(cids)) == 7  # root, d, f (3 leaves + its root), g


def test_the_receiver_reads_the_file_as_the_reader_does(store: Blockstore) -> None:
    data = random.Random(3).randbytes(700_000)
    root = import_bytes(data, store, PROFILES["v0"]).cid
    blocks = {c.multihash: d for c, d in dag.blocks(store, root)}
    assert assemble(root, blocks) == data
    del blocks[next(iter(blocks.keys() - {root.multihash}))]
    with pytest.raises(CorruptBlock, match="was not received"):
        assemble(root, blocks)


def test_a_pinned_dag_cbor_dag_keeps_its_children(store: Blockstore) -> None:
    """The GC's pin walk followed only dag-pb links: a pinned dag-cbor value (dag/put --pin)
    was reported incomplete and the blocks it links to were not kept, so GC removed them."""
    child = put(store, b"kept by a dag-cbor pin", RAW)
    parent = put(store, ipld.encode("dag-cbor", {"child": child}), DAG_CBOR)
    walk = walk_pins(store, [(str(parent), "recursive")])
    assert walk.incomplete == []
    assert walk.keep == {parent.multihash, child.multihash}


async def test_gc_keeps_what_a_dag_cbor_pin_links_to(tmp_path: Path) -> None:
    model = IPFSModel(Repo(tmp_path / "repo"), EventBus())
    child = await model.block_put(b"child of a pinned dag-cbor block")
    block = ipld.encode("dag-cbor", {"child": child})
    parent = CID.hash(block, DAG_CBOR, 1)
    model.store.put(parent, block)
    await model.pin_add(parent, recursive=True)
    result = await model.gc()
    assert result.incomplete == [] and child not in result.removed
    assert await model.block_get(child) == b"child of a pinned dag-cbor block"
    model.repo.close()


def test_unique_within_a_depth_limit_walks_again_what_it_meets_closer(store: Blockstore) -> None:
    """root -> (x, s), x -> s, s -> leaf: ``s`` is first met at depth 2, at the limit (not
    read), then at depth 1. With unique and max_depth it is walked again there (``again``),
    so its leaf at depth 2 is reached, as Kubo's ``refs -u --max-depth 2`` does; before,
    unique dropped it and the leaf was never reached."""
    leaf = put(store, b"leaf", RAW)
    s = put(store, encode_node([PBLink(leaf, "leaf", 4)], b"\x08\x01"))
    x = put(store, encode_node([PBLink(s, "s", 0)], b"\x08\x01"))
    root = put(store, encode_node([PBLink(x, "x", 0), PBLink(s, "s", 0)], b"\x08\x01"))
    d = {"root": root, "x": x, "s": s, "leaf": leaf}
    visits = list(walk_blocks(store.get, root, max_depth=2))
    assert [(n, v.depth, v.again) for n, v in zip(names(d, visits), visits, strict=True)] == \
        [("root", 0, False), ("x", 1, False), ("s", 2, False), ("s", 1, True), ("leaf", 2, False)]
    assert visits[2].data is None and visits[3].data is not None
    # without a limit each block is visited once
    assert names(d, list(walk_blocks(store.get, root))) == ["root", "x", "s", "leaf"]


async def test_pin_verify_reports_every_bad_block_and_goes_on(tmp_path: Path) -> None:
    """pin/verify rides on the walk: a missing leaf and a corrupt leaf are bad nodes (in
    link order), the rest of the DAG is still checked, a good pin is Ok."""
    from ipfs_kit_py import registry
    from ipfs_kit_py.ops.kubo_extra import PinVerifyParams

    model = IPFSModel(Repo(tmp_path / "repo"), EventBus())
    try:
        data = random.Random(4).randbytes(1 << 20)  # 4 leaves of 256 KiB
        root = import_bytes(data, model.store, PROFILES["v0"]).cid
        good = import_bytes(b"fine", model.store, PROFILES["v0"]).cid
        await model.pin_add(root)
        await model.pin_add(good)
        leaves = [v.cid for v in walk_blocks(model.store.get, root)][1:]
        model.store.delete(leaves[1])
        key = multihash_key(leaves[3].multihash)
        next((tmp_path / "repo").rglob(f"{key}.data")).write_bytes(b"not the leaf")  # bit rot on disk
        r = await registry.call_typed(model, "pin_verify", PinVerifyParams(verbose=True))
        by = {c.cid: c for c in r.pins}
        assert by[str(good)].ok and by[str(good)].bad_nodes == []
        bad = by[str(root)]
        assert not bad.ok and [b["Cid"] for b in bad.bad_nodes] == [str(leaves[1]), str(leaves[3])]
    finally:
        model.repo.close()
