"""What the pins keep: the blocks reachable from every pin, and which pins are incomplete.

GC and ``repo verify`` share this walk. A pinned DAG with a block missing (lost
on disk, removed by hand) does not stop the walk: the pin is reported as
incomplete with the first missing block found, and every block that is present
and reachable is still kept. Blocks below a missing node cannot be told apart
from garbage (nothing present links to them), so a GC collects them; re-adding or
fetching the content again repairs the pin.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass

from ..errors import BlockNotFound
from .blockstore import Blockstore
from .cid import CID, DAG_CBOR, DAG_PB, IDENTITY, RAW
from .index import DIRECT
from .ipld import DAG_JSON
from .walk import walk_blocks

WALKABLE = (DAG_PB, RAW, DAG_CBOR, DAG_JSON)  # codecs whose links the walk follows


@dataclass(frozen=True, slots=True)
class IncompletePin:
    cid: str
    type: str  # recursive or direct
    reason: str  # the first missing (or undecodable) block found under it

    @property
    def message(self) -> str:
        return f"pin {self.cid} is incomplete ({self.reason})"

    def to_dict(self) -> dict[str, str]:
        return {"cid": self.cid, "type": self.type, "reason": self.reason}


@dataclass(slots=True)
class PinWalk:
    keep: set[bytes]  # multihashes of present blocks reachable from a pin
    incomplete: list[IncompletePin]


def walk_pins(store: Blockstore, pins: Iterable[tuple[str, str]], present: set[bytes] | None = None) -> PinWalk:
    """Walk every pin's DAG. ``present``: the multihashes in the store (a snapshot
    taken by the caller, saving a stat per block), or None to ask the store."""
    keep: set[bytes] = set()
    status: dict[bytes, str | None] = {}  # multihash -> None (whole subtree here) or why not
    incomplete: list[IncompletePin] = []

    def here(cid: CID) -> bool:
        return cid.multihash in present if present is not None else store.has(cid)

    for cid_s, type_ in pins:
        try:
            root = CID.decode(cid_s)
        except ValueError as e:
            incomplete.append(IncompletePin(cid_s, type_, f"invalid CID: {e}"))
            continue
        if type_ == DIRECT:
            if root.hash_code == IDENTITY:
                continue
            if here(root):
                keep.add(root.multihash)
            else:
                incomplete.append(IncompletePin(cid_s, type_, f"block {root} is missing"))
            continue
        reason = _walk(store, root, here, keep, status)
        if reason is not None:
            incomplete.append(IncompletePin(cid_s, type_, reason))
    return PinWalk(keep, incomplete)


def _walk(store: Blockstore, root: CID, here: Callable[[CID], bool], keep: set[bytes], status: dict[bytes, str | None]) -> str | None:
    """Post-order walk under ``root`` (``content.walk``): each node's status is known once
    its children's are, so DAGs shared by several pins are read once and reported for each pin."""

    def get(cid: CID) -> bytes:
        if not here(cid):
            raise BlockNotFound(f"block {cid} is missing")
        return store.get(cid)

    for v in walk_blocks(get, root, order="post", skip=lambda c: c.multihash in status, read_leaves=False,
                         errors="yield"):
        cid, mh = v.cid, v.cid.multihash
        stored = cid.hash_code != IDENTITY  # an identity block is its digest: never stored
        gone = v.error is None and v.data is None and stored and not here(cid)  # a raw leaf is not read
        if gone or isinstance(v.error, BlockNotFound):
            status[mh] = f"block {cid} is missing"
            continue
        if stored:
            keep.add(mh)  # present, even when it cannot be decoded
        if v.error is not None and cid.codec not in WALKABLE:
            status[mh] = f"block {cid} is {cid.codec_name}: its links cannot be followed"
        elif v.error is not None:
            status[mh] = f"block {cid} cannot be decoded: {v.error}"
        else:  # complete when every child is
            status[mh] = next((status[c.multihash] for c in v.links if status.get(c.multihash)), None)
    return status.get(root.multihash)


def indirect_pins(store: Blockstore, recursive: Iterable[str], exclude: Container[str]) -> Iterator[CID]:
    """Kubo's indirect pins: the blocks linked, at any depth, from the roots of the
    ``recursive`` pins, each once, in walk order (one pin's DAG after the other), but
    those in ``exclude`` (pinned on their own: that pin's type wins, as in Kubo). A
    missing block is still listed (a link names it); what is below it is not known."""
    seen: set[bytes] = set()  # across pins: a DAG shared by several pins is walked once
    for cid_s in recursive:
        try:
            root = CID.decode(cid_s)
        except ValueError:
            continue  # reported by walk_pins (repo verify)
        for v in walk_blocks(store.get, root, skip=lambda c: c.multihash in seen, read_leaves=False,
                             errors="yield"):
            seen.add(v.cid.multihash)
            if v.depth > 0 and str(v.cid) not in exclude:
                yield v.cid


def pinned_via(store: Blockstore, recursive: Iterable[str], target: CID) -> str | None:
    """The first of the ``recursive`` pins whose DAG links to ``target`` (Kubo's
    ``indirect through <root>``), or None. A pin's own root does not count, unless
    another pin links to it."""
    seen: set[bytes] = set()
    for cid_s in recursive:
        try:
            root = CID.decode(cid_s)
        except ValueError:
            continue
        for v in walk_blocks(store.get, root, skip=lambda c: c.multihash in seen, read_leaves=False,
                             errors="yield"):
            if v.depth == 0:
                continue  # not marked: another pin's link to this root is still looked at
            if v.cid == target:
                return cid_s
            seen.add(v.cid.multihash)
    return None
