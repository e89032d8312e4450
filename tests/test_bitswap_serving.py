"""The serving side of bitswap (p2p/serving.py): a queue of wants per peer that
cancels shrink before the blocks are read or sent, over a real blockstore."""

from __future__ import annotations

import asyncio
from pathlib import Path

from waiting import async_wait_for

from ipfs_kit_py.content.blockstore import Blockstore
from ipfs_kit_py.content.cid import CID, RAW
from ipfs_kit_py.p2p.bitswap import WantEntry
from ipfs_kit_py.p2p.serving import DONT_HAVE, HAVE, WANT_BLOCK, WANT_HAVE, ServingQueues


def blocks(store: Blockstore, n: int, size: int = 64 << 10) -> list[CID]:
    out = []
    for i in range(n):
        data = i.to_bytes(4, "big") * (size // 4)
        cid = CID.hash(data, RAW)
        store.put(cid, data)
        out.append(cid)
    return out


class Wire:
    """What the queues sent, one message at a time; ``gate`` holds each send until set."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[CID], list[tuple[CID, int]]]] = []
        self.gate = asyncio.Event()

    async def send(self, peer: str, bs: list[tuple[CID, bytes]], ps: list[tuple[CID, int]]) -> None:
        await self.gate.wait()
        self.sent.append((peer, [c for c, _ in bs], ps))

    def block_cids(self) -> list[CID]:
        return [c for _p, cs, _ps in self.sent for c in cs]


async def test_cancel_removes_queued_blocks(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "blocks")
    cids = blocks(store, 100)
    wire = Wire()
    q = ServingQueues(store, wire.send, max_batch_bytes=256 << 10)  # 4 blocks per message
    q.on_wants("p", [WantEntry(c, want_type=WANT_BLOCK) for c in cids])
    await asyncio.sleep(0)  # the worker takes its first batch and waits on the wire
    await async_wait_for(lambda: q.queued("p") <= 96, what="first batch taken")
    # the client got what it needed elsewhere: it cancels everything
    q.on_wants("p", [WantEntry(c, cancel=True) for c in cids])
    wire.gate.set()
    await async_wait_for(lambda: q.queued("p") == 0 and wire.sent, what="queue drained")
    await asyncio.sleep(0.05)
    assert len(wire.block_cids()) <= 4, "cancelled blocks were sent"
    assert q.cancelled >= 96


async def test_full_wantlist_replaces_and_presences_answered(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "blocks")
    have = blocks(store, 3)
    missing = CID.hash(b"not stored", RAW)
    wire = Wire()
    wire.gate.set()
    q = ServingQueues(store, wire.send)
    q.on_wants("p", [WantEntry(have[0], want_type=WANT_HAVE, send_dont_have=True),
                     WantEntry(missing, want_type=WANT_HAVE, send_dont_have=True),
                     WantEntry(CID.hash(b"nor this", RAW), want_type=WANT_BLOCK)])  # no send_dont_have: silence
    await async_wait_for(lambda: wire.sent, what="an answer")
    assert wire.sent[0][2] == [(have[0], HAVE), (missing, DONT_HAVE)]
    # a full wantlist drops what it does not list, even while the queue is busy
    wire.gate.clear()
    wire.sent.clear()
    q.on_wants("p", [WantEntry(have[1])])
    await asyncio.sleep(0)
    q.on_wants("p", [WantEntry(have[1]), WantEntry(have[2])])
    q.on_wants("p", [WantEntry(have[1])], full=True)
    wire.gate.set()
    await async_wait_for(lambda: q.queued("p") == 0 and wire.sent, what="queue drained")
    await asyncio.sleep(0.05)
    assert wire.block_cids() == [have[1]]


async def test_limits_and_drop(tmp_path: Path) -> None:
    store = Blockstore(tmp_path / "blocks")
    cids = blocks(store, 20, size=1024)
    wire = Wire()
    q = ServingQueues(store, wire.send, max_queued=8)
    q.on_wants("p", [WantEntry(c) for c in cids])
    assert q.queued("p") <= 8  # a peer cannot queue without bound
    q.on_wants("other", [WantEntry(cids[0])])
    q.drop("p")  # banned or gone: its queue and worker go
    assert q.queued("p") == 0
    wire.gate.set()
    await async_wait_for(lambda: wire.sent, what="the other peer answered")
    await asyncio.sleep(0.05)
    assert {p for p, _c, _ps in wire.sent} == {"other"}
