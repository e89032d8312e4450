"""The one DAG walker: every walk over the links of blocks (CAR export, GC and verify,
the libp2p content protocol, DAG stats, reprovides) goes through it.

The walk itself is written once, without I/O: a generator that asks for blocks and
emits :class:`Visit` records. Two drivers feed it, ``walk_blocks`` from a plain
``get(cid) -> bytes`` (the blockstore, or a store that fetches in a worker thread)
and ``awalk_blocks`` from an ``async get`` (a network source; with ``window`` it
asks for several blocks of the frontier at once). Options:

- ``order``: ``"pre"`` depth first, a parent before its children, children in link
  order (CAR files, ``refs``); ``"post"`` depth first, children before their
  parent (what needs the children's outcome first: the pin walk of GC);
  ``"level"`` breadth first (fetching a DAG level by level).
- ``unique``: each block once (by multihash), the first time the order reaches it;
  False repeats shared subtrees as often as they are linked. With ``max_depth`` too, a
  block reached again closer to the root than before is visited again (``again``) so
  that its links within the limit are followed, as Kubo's ``refs -u --max-depth``.
- ``skip(cid)``: prune a block and everything under it (it is not visited).
- ``max_depth``: the root is depth 0; blocks at ``max_depth`` are visited but not
  read, so their links are not followed (and they may be missing).
- ``read_leaves``: False visits raw leaves without reading them (they have no links).
- ``errors``: ``"raise"`` (a missing or undecodable block stops the walk) or
  ``"yield"`` (its visit carries the error, the walk goes on with the rest).

Identity CIDs are never stored: their bytes are their digest.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Literal

from ..errors import BlockNotFound, CorruptBlock, IPFSKitError
from . import ipld
from .cid import CID, DAG_CBOR, DAG_PB, IDENTITY, RAW
from .dagpb import decode_node

Order = Literal["pre", "post", "level"]
Errors = Literal["raise", "yield"]
BLOCK_ERRORS = (BlockNotFound, CorruptBlock)  # what a visit carries with errors="yield"


@dataclass(frozen=True, slots=True)
class Visit:
    """One block reached by a walk."""

    cid: CID
    data: bytes | None  # None: not read (a raw leaf with read_leaves=False, the depth limit, an error)
    depth: int  # 0 for the root
    parent: CID | None = None  # the block that linked here (None for the root)
    name: str = ""  # the dag-pb link name in the parent ("" for other codecs)
    links: list[CID] = field(default_factory=list)  # the links followed from here, in order
    error: IPFSKitError | None = None  # errors="yield": why the block could not be read or decoded
    again: bool = False  # unique with max_depth: visited before, deeper (its links are followed further now)


def block_links(cid: CID, data: bytes) -> list[CID]:
    """The CIDs in block ``data``: dag-pb links, or the links of a dag-cbor / dag-json
    value (dag/put's blocks); CorruptBlock for other codecs or undecodable data."""
    return [c for _, c in named_links(cid, data)]


def named_links(cid: CID, data: bytes) -> list[tuple[str, CID]]:
    """``block_links`` with each link's name (dag-pb names; "" for the other codecs)."""
    if cid.codec == RAW:
        return []
    if cid.codec == DAG_PB:
        try:
            return [(lk.name, lk.cid) for lk in decode_node(data).links]
        except ValueError as e:  # CorruptBlock is one: keep its message
            raise e if isinstance(e, CorruptBlock) else CorruptBlock(f"{cid}: {e}") from None
    if cid.codec in (DAG_CBOR, ipld.DAG_JSON):
        try:
            return [("", c) for c in ipld.block_links(cid, data)]
        except ipld.CodecError as e:
            raise CorruptBlock(f"{cid}: {e}") from None
    raise CorruptBlock(f"cannot walk {cid.codec_name} block {cid}")


@dataclass(slots=True)
class _Options:
    order: Order
    unique: bool
    skip: Callable[[CID], bool] | None
    max_depth: int | None
    read_leaves: bool
    errors: Errors
    window: int


# the core asks its driver for blocks (a list of CIDs) and is sent back, in the same
# order, each one's bytes or the error reading it; visits go to ``out`` as they are made
Asks = Generator[list[CID], list[bytes | IPFSKitError], None]
Got = list[bytes | IPFSKitError | None]  # per entry: its bytes, the error reading it, None if not read
_Entry = tuple[CID, int, CID | None, str]  # cid, depth, parent, name


def _walk(root: CID, o: _Options, out: deque[Visit]) -> Asks:
    seen: dict[bytes, int] = {}  # unique: multihash -> the smallest depth it was visited at

    def admit(cid: CID, depth: int) -> bool | None:
        """Whether to visit ``cid`` at ``depth`` now (None: no; True: again, it was visited
        deeper before; False: the first time), and mark it, with unique."""
        old = seen.get(cid.multihash) if o.unique else None
        if old is not None and (o.max_depth is None or old <= depth):
            return None
        if o.skip is not None and o.skip(cid):
            return None
        if o.unique:
            seen[cid.multihash] = depth
        return old is not None

    def needs_read(cid: CID, depth: int) -> bool:
        if o.max_depth is not None and depth >= o.max_depth:
            return False
        return o.read_leaves or cid.codec != RAW

    def visit(e: _Entry, got: bytes | IPFSKitError | None, again: bool) -> tuple[Visit, list[_Entry]]:
        """The visit of entry ``e`` given its bytes (None: not read), and its children."""
        cid, depth, parent, name = e
        if isinstance(got, IPFSKitError):
            if o.errors == "raise":
                raise got
            return Visit(cid, None, depth, parent, name, error=got, again=again), []
        if got is None:
            return Visit(cid, None, depth, parent, name, again=again), []
        try:
            pairs = named_links(cid, got)
        except CorruptBlock as err:
            if o.errors == "raise":
                raise
            return Visit(cid, got, depth, parent, name, error=err, again=again), []
        kids: list[_Entry] = [(c, depth + 1, cid, n) for n, c in pairs]
        return Visit(cid, got, depth, parent, name, [c for _, c in pairs], again=again), kids

    def read(entries: list[_Entry]) -> Generator[list[CID], list[bytes | IPFSKitError], Got]:
        """Ask for the bytes of the entries that need reading; returns them (None: not read)."""
        got: Got = [None] * len(entries)
        asked = [i for i, (c, d, _, _) in enumerate(entries) if needs_read(c, d)]
        direct = [i for i in asked if entries[i][0].hash_code == IDENTITY]
        for i in direct:
            got[i] = entries[i][0].digest
        fetch = [i for i in asked if i not in direct]
        if fetch:
            answers = yield [entries[i][0] for i in fetch]
            for i, a in zip(fetch, answers, strict=True):
                got[i] = a
        return got

    first: _Entry = (root, 0, None, "")
    if admit(root, 0) is None:
        return
    if o.order == "level":
        # depths only grow along the queue: a block is first admitted at its smallest depth
        queue: deque[tuple[_Entry, bool]] = deque([(first, False)])
        while queue:
            batch = [queue.popleft() for _ in range(min(o.window, len(queue)))]
            got = yield from read([e for e, _ in batch])
            for (e, again), g in zip(batch, got, strict=True):
                v, kids = visit(e, g, again)
                out.append(v)
                for k in kids:
                    if (a := admit(k[0], k[1])) is not None:
                        queue.append((k, a))
        return
    # depth first: a stack of entries; in post order a parent waits under its children
    stack: list[tuple[_Entry, Visit | None]] = [(first, None)]
    while stack:
        e, done = stack.pop()
        if done is not None:  # post order: its children have all been visited
            out.append(done)
            continue
        again = False
        if e is not first:
            if (a := admit(e[0], e[1])) is None:
                continue
            again = a
        (g,) = yield from read([e])
        v, kids = visit(e, g, again)
        if o.order == "pre":
            out.append(v)
        else:
            stack.append((e, v))
        stack.extend((k, None) for k in reversed(kids))


def _options(order: Order, unique: bool, skip: Callable[[CID], bool] | None, max_depth: int | None,
             read_leaves: bool, errors: Errors, window: int) -> _Options:
    if order not in ("pre", "post", "level"):
        raise ValueError(f"unknown walk order {order!r}")
    if errors not in ("raise", "yield"):
        raise ValueError(f"unknown error mode {errors!r}")
    return _Options(order, unique, skip, max_depth, read_leaves, errors, max(1, window))


def walk_blocks(get: Callable[[CID], bytes], root: CID, *, order: Order = "pre", unique: bool = True,
                skip: Callable[[CID], bool] | None = None, max_depth: int | None = None,
                read_leaves: bool = True, errors: Errors = "raise") -> Iterator[Visit]:
    """Walk the DAG under ``root`` reading blocks with ``get`` (see the module's options)."""
    out: deque[Visit] = deque()
    core = _walk(root, _options(order, unique, skip, max_depth, read_leaves, errors, 1), out)
    answers: list[bytes | IPFSKitError] | None = None
    while True:
        try:
            want = core.send(answers) if answers is not None else next(core)
        except StopIteration:
            break
        while out:
            yield out.popleft()
        answers = []
        for cid in want:
            try:
                answers.append(get(cid))
            except BLOCK_ERRORS as e:
                answers.append(e)
    while out:
        yield out.popleft()


async def awalk_blocks(get: Callable[[CID], Awaitable[bytes]], root: CID, *, order: Order = "pre",
                       unique: bool = True, skip: Callable[[CID], bool] | None = None,
                       max_depth: int | None = None, read_leaves: bool = True, errors: Errors = "raise",
                       window: int = 1) -> AsyncIterator[Visit]:
    """``walk_blocks`` over an async ``get``; in ``"level"`` order up to ``window`` blocks of
    the frontier are asked for at once (visits keep the walk's order)."""
    import asyncio

    out: deque[Visit] = deque()
    core = _walk(root, _options(order, unique, skip, max_depth, read_leaves, errors, window), out)

    async def one(cid: CID) -> bytes | IPFSKitError:
        try:
            return await get(cid)
        except BLOCK_ERRORS as e:
            return e

    answers: list[bytes | IPFSKitError] | None = None
    while True:
        try:
            want = core.send(answers) if answers is not None else next(core)
        except StopIteration:
            break
        while out:
            yield out.popleft()
        answers = list(await asyncio.gather(*(one(c) for c in want)))
    while out:
        yield out.popleft()
