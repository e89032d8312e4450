"""``/ipfs-kit/content/1.0.0``: move a DAG (or the blocks of a byte range)
between two nodes, every block with its CID, every block verified by the
receiver before it is stored.

Frames are those of :mod:`.framing`. The opener of the stream sends one JSON
request first:

* ``{"type": "fetch", "cid": C, "offset"?: n, "length"?: n}``: the server
  answers ``{"type": "start", "cid": C, "size": file bytes}``, then one block
  frame per block of the DAG under ``C`` (parents before children; with
  ``offset``/``length`` only the blocks needed to read that byte range), then
  ``{"type": "end", "blocks": n, "bytes": n}``.
* ``{"type": "push", "cid": C, "pin": true}``: the server answers
  ``{"type": "accept"}`` (or an error), the client sends the blocks then
  ``{"type": "end"}``, and the server, once it holds the whole DAG, pins it
  (when ``pin``) and answers ``{"type": "ok", "cid": C, "blocks": n, "bytes": n}``.
  Only peers on ``libp2p.accept_push_from`` or ``libp2p.mcp_allowlist`` may
  push (``unauthorized`` otherwise), at most ``libp2p.max_pushes`` at once
  (``libp2p.max_pushes_per_peer`` per peer; ``limit_exceeded`` otherwise); a
  pusher silent for ``libp2p.stream_idle_timeout`` seconds gets ``timeout``.

Any failure is ``{"type": "error", "code": code, "message": text}``, after
which the stream is closed (refusals) or reset (protocol violations: a bad
frame, a block that does not match its CID, an unexpected message).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..config import Libp2pSettings
from ..content import dag
from ..content.blockstore import Blockstore
from ..content.cid import CID
from ..content.reader import load_file_node
from ..errors import (
    BlockNotFound,
    ChannelUnavailable,
    CorruptBlock,
    InvalidArgument,
    InvalidCID,
    IPFSKitError,
    LimitExceeded,
    ProtocolViolation,
    TransferFailed,
    Unauthorized,
)
from ..events import NotificationType
from ..model import IPFSModel
from .framing import Block, FramingError
from .stream import FramedStream, IncompleteReadError, P2PStream, StreamIdle

log = logging.getLogger(__name__)

PROTOCOL_ID = "/ipfs-kit/content/1.0.0"
BATCH_BYTES = 4 << 20  # blocks read or written per trip to a worker thread
PROGRESS_EVERY = 0.5  # seconds between transfer_progress events of one transfer


def error_message(e: BaseException) -> dict[str, Any]:
    code = e.code if isinstance(e, IPFSKitError) else "error"
    return {"type": "error", "code": code, "message": str(e) or type(e).__name__}


def raise_remote(msg: dict[str, Any]) -> None:
    """Turn a peer's error message into the matching local exception."""
    code, text = msg.get("code"), str(msg.get("message", "remote error"))
    if code in ("not_found", "block_not_found"):
        raise BlockNotFound(f"peer: {text}")
    if code == "unauthorized":
        raise Unauthorized(f"peer refused: {text}")
    if code in ("invalid_cid", "invalid_argument"):
        raise InvalidArgument(f"peer: {text}")
    raise TransferFailed(f"peer: {text} ({code})")


# -- pure parts ---------------------------------------------------------------------------------
def parse_request(msg: Any) -> tuple[str, CID, dict[str, Any]]:
    """(kind, cid, options) of a first message; raises ProtocolViolation/InvalidCID."""
    if not isinstance(msg, dict) or msg.get("type") not in ("fetch", "push"):
        raise ProtocolViolation("the first message must be a fetch or push request")
    cid_text = msg.get("cid")
    if not isinstance(cid_text, str):
        raise ProtocolViolation("request needs a string 'cid'")
    cid = CID.decode(cid_text)
    opts: dict[str, Any] = {}
    if msg["type"] == "fetch":
        for name in ("offset", "length"):
            v = msg.get(name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise ProtocolViolation(f"'{name}' must be a non-negative integer")
            opts[name] = v
    else:
        pin = msg.get("pin", True)
        if not isinstance(pin, bool):
            raise ProtocolViolation("'pin' must be a boolean")
        opts["pin"] = pin
    return msg["type"], cid, opts


def range_cids(store: Blockstore, root: CID, offset: int, length: int | None) -> Iterator[CID]:
    """The blocks needed to read bytes [offset, offset+length) of the file at ``root``:
    every node whose byte span meets the range, parents before children."""

    def visit(cid: CID, start: int) -> Iterator[CID]:
        yield cid
        node = load_file_node(store, cid)
        base = start + len(node.data)
        for i, child in enumerate(node.children):
            c_start = base + node.starts[i]
            c_end = base + node.starts[i + 1] if i + 1 < len(node.starts) else start + node.size
            if c_start < end and c_end > offset:
                yield from visit(child, c_start)

    size = load_file_node(store, root).size
    end = size if length is None else min(size, offset + length)
    if offset >= end and not (offset == 0 and size == 0):
        return iter([root])
    return visit(root, 0)


def listed_blocks(store: Blockstore, cids: list[CID]) -> Iterator[tuple[CID, bytes]]:
    for cid in cids:
        yield cid, store.get(cid)


def verify_block(block: Block) -> None:
    if not block.cid.verify(block.data):
        raise CorruptBlock(f"block {block.cid} does not match its CID")


# -- progress events ----------------------------------------------------------------------------
@dataclass
class Transfer:
    """One transfer seen from this node; publishes transfer_* events."""

    model: IPFSModel
    cid: str
    peer_id: str
    direction: str  # send | receive
    kind: str  # fetch | push
    transfer_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    total: int | None = None
    protocol: str = "libp2p"  # the channel carrying it (transfer_content also uses websocket, http)
    blocks: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)
    _last: float = 0.0

    def _data(self, **extra: Any) -> dict[str, Any]:
        return {"transfer_id": self.transfer_id, "cid": self.cid, "peer_id": self.peer_id,
                "direction": self.direction, "kind": self.kind, "protocol": self.protocol,
                "blocks": self.blocks, "bytes": self.bytes, "total": self.total, **extra}

    def start(self) -> None:
        self.model.emit(NotificationType.TRANSFER_STARTED, self._data())

    def add(self, n: int) -> None:
        self.blocks += 1
        self.bytes += n
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY:
            self._last = now
            self.model.emit(NotificationType.TRANSFER_PROGRESS, self._data())

    def completed(self) -> None:
        secs = time.monotonic() - self.started
        self.model.emit(NotificationType.TRANSFER_COMPLETED, self._data(seconds=round(secs, 3)))

    def failed(self, error: BaseException | str) -> None:
        self.model.emit(NotificationType.TRANSFER_FAILED, self._data(error=str(error) or type(error).__name__))


# -- sending and receiving blocks ------------------------------------------------------------
async def send_blocks(framed: FramedStream, blocks: Iterator[tuple[CID, bytes]], transfer: Transfer) -> None:
    """Send one frame per block; blocks are read in batches by a worker thread
    while the previous batch is on the wire."""
    queue: asyncio.Queue[list[tuple[CID, bytes]] | None] = asyncio.Queue(maxsize=2)

    def next_batch() -> list[tuple[CID, bytes]]:
        out, size = [], 0
        for cid, data in blocks:
            out.append((cid, data))
            size += len(data)
            if size >= BATCH_BYTES:
                break
        return out

    async def reader() -> None:
        while batch := await asyncio.to_thread(next_batch):
            await queue.put(batch)
        await queue.put(None)

    task = asyncio.ensure_future(reader())
    try:
        while (batch := await queue.get()) is not None:
            for cid, data in batch:
                await framed.send_block(cid, data)
                transfer.add(len(data))
        await task  # re-raises a read error (e.g. a block missing)
        await framed.flush()
    finally:
        task.cancel()


async def receive_blocks(framed: FramedStream, store: Blockstore, transfer: Transfer, *,
                         idle_timeout: float | None = None, deadline: float | None = None) -> dict[str, Any]:
    """Verify blocks until a JSON message arrives and return that message.
    Verified blocks are stored in batches by a worker thread while reading goes on;
    all of them are on disk when this returns or raises (a retry need not resend them).
    StreamIdle when the peer sends nothing for ``idle_timeout`` seconds or the
    ``time.monotonic()`` ``deadline`` passes."""
    queue: asyncio.Queue[list[Block] | None] = asyncio.Queue(maxsize=2)

    def store_batch(blocks: list[Block]) -> None:
        for b in blocks:
            store.put(b.cid, b.data)

    async def writer() -> None:
        # two threads: each put is open/write/rename syscalls that release the GIL
        while (batch := await queue.get()) is not None:
            await asyncio.gather(asyncio.to_thread(store_batch, batch[0::2]),
                                 asyncio.to_thread(store_batch, batch[1::2]))

    task = asyncio.ensure_future(writer())
    pending: list[Block] = []
    pending_size = 0
    try:
        while True:
            msg = await framed.recv(_next_timeout(idle_timeout, deadline))
            if msg is None:
                raise TransferFailed("peer closed the stream before the transfer ended")
            if not isinstance(msg, Block):
                end: dict[str, Any] = msg  # the JSON end message (recv gives blocks or decoded JSON)
                return end
            verify_block(msg)  # before it is stored, never after
            pending.append(msg)
            pending_size += len(msg.data)
            transfer.add(len(msg.data))
            if pending_size >= BATCH_BYTES:
                await queue.put(pending)
                pending, pending_size = [], 0
    finally:
        if not task.done():
            await queue.put(pending or None)
            if pending:
                await queue.put(None)
            await asyncio.shield(task)


def _next_timeout(idle_timeout: float | None, deadline: float | None) -> float | None:
    """Seconds the next read may wait: the idle timeout, cut short by the deadline."""
    if deadline is None:
        return idle_timeout or None
    left = deadline - time.monotonic()
    if left <= 0:
        raise StreamIdle("the transfer did not finish within libp2p.transfer_timeout")
    return min(idle_timeout, left) if idle_timeout else left


# -- server side -------------------------------------------------------------------------------
def may_push(peer_id: str, settings: Libp2pSettings) -> bool:
    """Whether ``peer_id`` may push content: ``accept_push`` on, and the peer on
    ``accept_push_from`` (``"*"``: any peer) or on ``mcp_allowlist``."""
    if not settings.accept_push:
        return False
    allowed = settings.accept_push_from
    return "*" in allowed or peer_id in allowed or peer_id in settings.mcp_allowlist


@dataclass
class ContentServer:
    """Serves fetches and pushes. Settings are read per stream, so changing them
    on a running node takes effect for the next stream."""

    model: IPFSModel
    settings: Libp2pSettings
    serve: bool = True
    pushes: dict[str, int] = field(default_factory=dict)  # running incoming pushes per peer

    async def handle(self, stream: P2PStream) -> None:
        framed = FramedStream(stream, self.settings.max_message)
        transfer: Transfer | None = None
        try:
            kind, cid, opts = parse_request(await framed.recv(self.settings.stream_idle_timeout))
            if kind == "fetch":
                transfer = Transfer(self.model, str(cid), stream.peer_id, "send", "fetch")
                await self._serve_fetch(framed, cid, opts, transfer)
            else:
                with self._push_slot(stream.peer_id):  # refusals: before anything is stored or announced
                    transfer = Transfer(self.model, str(cid), stream.peer_id, "receive", "push")
                    await self._serve_push(framed, cid, opts, transfer)
        except (FramingError, ProtocolViolation, CorruptBlock, IncompleteReadError, InvalidCID, StreamIdle) as e:
            if transfer is not None:
                transfer.failed(e)
            log.warning("content stream from %s: %s; resetting it", stream.peer_id, e)
            try:
                await framed.answer_and_reset(error_message(e))
            except Exception:  # noqa: BLE001 - the stream broke: reset it at once
                await stream.reset()
        except IPFSKitError as e:
            if transfer is not None:
                transfer.failed(e)
            else:
                log.info("content stream from %s refused: %s", stream.peer_id, e)
            await framed.send_json(error_message(e))
        except ConnectionError as e:
            if transfer is not None:
                transfer.failed(f"stream broken: {e}")
            raise

    @contextlib.contextmanager
    def _push_slot(self, peer_id: str) -> Iterator[None]:
        """Admit one incoming push of ``peer_id`` or raise Unauthorized / LimitExceeded."""
        s = self.settings
        if not s.accept_push:
            raise Unauthorized("this node does not accept pushed content (libp2p.accept_push=false)")
        if not may_push(peer_id, s):
            raise Unauthorized(f"this node does not accept pushed content from peer {peer_id}: "
                               "it is not on libp2p.accept_push_from or libp2p.mcp_allowlist")
        running = sum(self.pushes.values())
        if s.max_pushes > 0 and running >= s.max_pushes:
            raise LimitExceeded(f"{running} pushes are running, the most this node takes (libp2p.max_pushes); "
                                "try again later")
        mine = self.pushes.get(peer_id, 0)
        if s.max_pushes_per_peer > 0 and mine >= s.max_pushes_per_peer:
            raise LimitExceeded(f"{mine} pushes from peer {peer_id} are running, the most one peer may run "
                                "(libp2p.max_pushes_per_peer); try again later")
        self.pushes[peer_id] = mine + 1
        try:
            yield
        finally:
            left = self.pushes.get(peer_id, 1) - 1
            if left > 0:
                self.pushes[peer_id] = left
            else:
                self.pushes.pop(peer_id, None)

    async def _serve_fetch(self, framed: FramedStream, cid: CID, opts: dict[str, Any], transfer: Transfer) -> None:
        if not self.serve:
            raise Unauthorized("this node does not serve content (role leecher)")
        store = self.model.store
        offset, length = opts.get("offset"), opts.get("length")

        def plan() -> tuple[int, list[CID]]:
            if not store.has(cid):
                raise BlockNotFound(f"block {cid} not found")
            size = dag.stat(store, cid).size
            if offset is None and length is None:
                return size, []  # the walk is streamed, not listed
            return size, list(range_cids(store, cid, offset or 0, length))

        size, listed = await asyncio.to_thread(plan)
        transfer.total = size
        await framed.send_json({"type": "start", "cid": str(cid), "size": size})
        transfer.start()
        blocks = listed_blocks(store, listed) if listed else dag.blocks(store, cid)
        await send_blocks(framed, blocks, transfer)
        await framed.send_json({"type": "end", "blocks": transfer.blocks, "bytes": transfer.bytes})
        transfer.completed()

    async def _serve_push(self, framed: FramedStream, cid: CID, opts: dict[str, Any], transfer: Transfer) -> None:
        s = self.settings
        deadline = time.monotonic() + s.transfer_timeout if s.transfer_timeout > 0 else None
        await framed.send_json({"type": "accept"})
        transfer.start()
        async with self.model.gc_guard():  # received blocks are unpinned until the end: GC waits
            try:
                # a silent pusher is dropped after stream_idle_timeout, a slow one at transfer_timeout:
                # either way the GC guard and the push slot are released
                last = await receive_blocks(framed, self.model.store, transfer,
                                            idle_timeout=s.stream_idle_timeout, deadline=deadline)
            except TransferFailed as e:
                transfer.failed(e)
                return
            if last.get("type") != "end":
                raise ProtocolViolation(f"expected a block or end, got {last.get('type')!r}")
            if opts["pin"]:
                await self.model.pin_root(cid)  # checks the whole DAG is here; announces content_added
            else:
                await asyncio.to_thread(lambda: [None for _ in dag.walk(self.model.store, cid)])
        await framed.send_json({"type": "ok", "cid": str(cid), "blocks": transfer.blocks, "bytes": transfer.bytes})
        transfer.completed()


# -- client side -------------------------------------------------------------------------------
async def open_content_stream(peer: Any, peer_id: str, max_message: int) -> FramedStream:
    try:
        stream = await peer.new_stream(peer_id, PROTOCOL_ID)
    except ConnectionError as e:
        raise ChannelUnavailable(f"peer {peer_id} unreachable over libp2p: {e}") from None
    return FramedStream(stream, max_message)


async def fetch(peer: Any, model: IPFSModel, peer_id: str, cid: CID | str, *, offset: int | None = None,
                length: int | None = None, pin: bool = False, max_message: int = 4 << 20,
                transfer_id: str | None = None) -> dict[str, Any]:
    """Fetch the DAG (or a byte range's blocks) of ``cid`` from ``peer_id`` into our store."""
    cid = CID.decode(cid)
    transfer = Transfer(model, str(cid), peer_id, "receive", "fetch")
    if transfer_id:
        transfer.transfer_id = transfer_id
    framed = await open_content_stream(peer, peer_id, max_message)
    async with _reporting(transfer, framed, peer_id):
        await framed.send_json({"type": "fetch", "cid": str(cid), "offset": offset, "length": length})
        first = await framed.recv()
        if isinstance(first, dict) and first.get("type") == "error":
            raise_remote(first)
        if not isinstance(first, dict) or first.get("type") != "start":
            raise ProtocolViolation("expected start")
        transfer.total = first.get("size")
        transfer.start()
        async with model.gc_guard():  # received blocks are unpinned until the end: GC waits
            last = await receive_blocks(framed, model.store, transfer)
            if last.get("type") == "error":
                raise_remote(last)
            if last.get("type") != "end":
                raise ProtocolViolation(f"expected end, got {last.get('type')!r}")
            await framed.stream.close()
            if pin:
                await model.pin_root(cid)
        transfer.completed()
        return {"cid": str(cid), "peer": peer_id, "blocks": transfer.blocks, "bytes": transfer.bytes,
                "transfer_id": transfer.transfer_id}


async def push(peer: Any, model: IPFSModel, peer_id: str, cid: CID | str, *, pin: bool = True,
               max_message: int = 4 << 20, transfer_id: str | None = None) -> dict[str, Any]:
    """Push the whole DAG of ``cid`` to ``peer_id``, which verifies and (by default) pins it."""
    cid = CID.decode(cid)
    store = model.store

    def size_of() -> int:
        if not store.has(cid):  # a block missing deeper down fails the push when we reach it
            raise BlockNotFound(f"block {cid} not found")
        return dag.stat(store, cid).size

    size = await asyncio.to_thread(size_of)
    transfer = Transfer(model, str(cid), peer_id, "send", "push", total=size)
    if transfer_id:
        transfer.transfer_id = transfer_id
    framed = await open_content_stream(peer, peer_id, max_message)
    async with _reporting(transfer, framed, peer_id):
        await framed.send_json({"type": "push", "cid": str(cid), "pin": pin})
        answer = await framed.recv()
        if not isinstance(answer, dict) or answer.get("type") != "accept":
            if isinstance(answer, dict) and answer.get("type") == "error":
                raise_remote(answer)
            raise ProtocolViolation("peer did not accept the push")
        transfer.start()
        await send_blocks(framed, dag.blocks(store, cid), transfer)
        await framed.send_json({"type": "end"})
        result = await framed.recv()
        if result is None:
            raise TransferFailed("peer closed the stream without confirming")
        if isinstance(result, dict) and result.get("type") == "error":
            raise_remote(result)
        if not isinstance(result, dict) or result.get("type") != "ok":
            raise ProtocolViolation("expected ok")
        await framed.stream.close()
        transfer.completed()
        return {"cid": str(cid), "peer": peer_id, "blocks": transfer.blocks, "bytes": transfer.bytes,
                "transfer_id": transfer.transfer_id, "pinned": pin}


@contextlib.asynccontextmanager
async def _reporting(transfer: Transfer, framed: FramedStream, peer_id: str) -> AsyncIterator[None]:
    """A failing fetch or push is reported (transfer_failed) and its stream reset; a broken
    stream becomes TransferFailed."""
    try:
        yield
    except ConnectionError as e:
        transfer.failed(f"stream broken: {e}")
        await _reset_quietly(framed)
        raise TransferFailed(f"the stream to {peer_id} broke: {e}") from None
    except BaseException as e:
        transfer.failed("cancelled" if isinstance(e, asyncio.CancelledError) else e)
        await _reset_quietly(framed)
        raise


async def _reset_quietly(framed: FramedStream) -> None:
    try:
        await asyncio.shield(framed.stream.reset())
    except BaseException:  # noqa: BLE001 - best effort on a broken stream
        pass
