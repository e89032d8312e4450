"""Walking UnixFS DAGs: links, path resolution, listings, stat, export to disk."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import CorruptBlock, NotFound, PathError
from . import hamt
from .blockstore import ReadableStore
from .cid import CID, DAG_PB, RAW
from .dagpb import (
    DIRECTORY,
    FILE,
    HAMT_SHARD,
    SYMLINK,
    TYPE_NAMES,
    PBLink,
    PBNode,
    decode_node,
    decode_unixfs,
)
from .extract import TreeWriter, check_component
from .reader import UnixFSReader
from .walk import block_links as block_links
from .walk import walk_blocks


def links(store: ReadableStore, cid: CID) -> list[CID]:
    """The CIDs a block links to (raw blocks have none)."""
    if cid.codec == RAW:
        return []
    return block_links(cid, store.get(cid))


def walk(store: ReadableStore, root: CID, *, skip: Callable[[CID], bool] | None = None) -> Iterator[CID]:
    """Every CID of the DAG under ``root``, depth first, parents before children,
    each once; raw leaves are not read. ``skip(cid)`` prunes a subtree (used by GC
    marking). The walk is ``content.walk`` (the one walker), reading with ``store.get``."""
    for v in walk_blocks(store.get, root, skip=skip, read_leaves=False):
        yield v.cid


def blocks(store: ReadableStore, root: CID) -> Iterator[tuple[CID, bytes]]:
    """Every block under ``root`` with its bytes, in ``walk``'s order (a CAR file's),
    each once and each read once. A missing block raises BlockNotFound."""
    for v in walk_blocks(store.get, root):
        assert v.data is not None  # every block is read
        yield v.cid, v.data


def load(store: ReadableStore, cid: CID) -> tuple[PBNode | None, int]:
    """(decoded node or None for raw blocks, UnixFS type)."""
    if cid.codec == RAW:
        return None, FILE
    if cid.codec != DAG_PB:
        raise CorruptBlock(f"{cid} is {cid.codec_name}, not UnixFS")
    node = decode_node(store.get(cid))
    return node, decode_unixfs(node.data).type


def dir_links(store: ReadableStore, cid: CID, node: PBNode, type_: int) -> list[PBLink]:
    """The entries of a directory, basic or HAMT-sharded, with their real names."""
    if type_ == HAMT_SHARD:
        return sorted(hamt.entries(store, cid), key=lambda lk: lk.name.encode("utf-8", "surrogateescape"))
    return node.links


def split_path(path: str) -> tuple[CID, list[str]]:
    """``/ipfs/CID/a/b``, ``CID/a/b`` or ``CID`` into (CID, [a, b])."""
    p = path.strip()
    if p.startswith("/ipfs/"):
        p = p[6:]
    elif p.startswith("/"):
        if p.startswith("/ipns/"):
            raise PathError("IPNS paths are not supported")
        p = p[1:]
    parts = [x for x in p.split("/") if x]
    if not parts:
        raise PathError(f"invalid path {path!r}")
    return CID.decode(parts[0]), parts[1:]


def resolve(store: ReadableStore, path: str | CID) -> CID:
    """Follow directory links from a CID along a path."""
    if isinstance(path, CID):
        return path
    cid, parts = split_path(path)
    for name in parts:
        node, type_ = load(store, cid)
        if type_ == HAMT_SHARD:
            found = hamt.lookup(store, cid, name)
        elif type_ == DIRECTORY and node is not None:
            found = next((lk for lk in node.links if lk.name == name), None)
        else:
            raise PathError(f"{cid} is not a directory, cannot resolve {name!r}")
        if found is None:
            raise NotFound(f"no link named {name!r} under {cid}")
        cid = found.cid
    return cid


@dataclass(slots=True)
class Stat:
    cid: CID
    type: str  # file, directory, symlink, raw
    size: int  # file bytes (0 for directories)
    cumulative_size: int  # block bytes of the whole DAG (Tsize)
    blocks: int  # number of links of the root

    def to_dict(self) -> dict[str, object]:
        return {
            "Hash": str(self.cid),
            "Type": self.type,
            "Size": self.size,
            "CumulativeSize": self.cumulative_size,
            "Blocks": self.blocks,
        }


def stat(store: ReadableStore, cid: CID) -> Stat:
    block_size = store.size(cid)
    if cid.codec == RAW:
        return Stat(cid, "file", block_size, block_size, 0)
    node, type_ = load(store, cid)
    assert node is not None
    u = decode_unixfs(node.data)
    cumulative = block_size + sum(lk.tsize for lk in node.links)
    if type_ in (DIRECTORY, HAMT_SHARD):
        return Stat(cid, "directory", 0, cumulative, len(node.links))
    size = u.filesize if u.filesize is not None else len(u.data or b"")
    if type_ == SYMLINK:
        size = len(u.data or b"")
    return Stat(cid, TYPE_NAMES.get(type_, "file"), size, cumulative, len(node.links))


@dataclass(slots=True)
class LsEntry:
    name: str
    cid: CID
    size: int
    type: int  # UnixFS type number as Kubo reports it: 1 directory, 2 file, 4 symlink
    target: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"Name": self.name, "Hash": str(self.cid), "Size": self.size, "Type": self.type, "Target": self.target}


def ls(store: ReadableStore, cid: CID, *, resolve_children: bool = True) -> list[LsEntry]:
    node, type_ = load(store, cid)
    if node is None:
        store.size(cid)  # a raw block has no links, but it must exist
        return []
    out = []
    for lk in dir_links(store, cid, node, type_):
        size, t, target = lk.tsize, FILE, ""
        if resolve_children and store.has(lk.cid):
            if lk.cid.codec == RAW:
                size = store.size(lk.cid)
            else:
                child, t = load(store, lk.cid)
                u = decode_unixfs(child.data)  # type: ignore[union-attr]
                size = u.filesize or 0 if t == FILE else 0
                if t == SYMLINK:
                    target = (u.data or b"").decode("utf-8", "replace")
                if t == HAMT_SHARD:
                    t = DIRECTORY
        out.append(LsEntry(lk.name, lk.cid, size, t, target))
    return out


def safe_name(name: str) -> str:
    """Refuse link names that would escape the output directory when written to disk."""
    try:
        return check_component(name)
    except PathError:
        raise PathError(f"refusing unsafe name {name!r} in DAG") from None


def export(
    store: ReadableStore,
    cid: CID,
    dest: str | os.PathLike[str],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the file or directory tree at ``cid`` to ``dest``; return bytes written.

    The DAG is untrusted: ``TreeWriter`` checks every name before anything is
    written under it, refuses two links with one name, never writes through a
    symlink and creates the symlinks last (see ``content/extract.py``).
    """
    written = 0

    def count(n: int) -> None:
        nonlocal written
        written += n
        if progress:
            progress(written)

    with TreeWriter(dest) as tree:
        stack: list[tuple[CID, tuple[str, ...]]] = [(cid, ())]
        while stack:
            c, parts = stack.pop()
            node, type_ = load(store, c)
            if type_ in (DIRECTORY, HAMT_SHARD):
                children = dir_links(store, c, node, type_)  # type: ignore[arg-type]
                names = [safe_name(lk.name) for lk in children]  # every name checked before the directory is made
                tree.mkdir(parts)
                for lk, name in zip(reversed(children), reversed(names), strict=True):
                    stack.append((lk.cid, (*parts, name)))
            elif type_ == SYMLINK:
                target = (decode_unixfs(node.data).data or b"").decode("utf-8", "surrogateescape")  # type: ignore[union-attr]
                tree.symlink(parts, target)
            else:
                tree.write_file(parts, UnixFSReader(store, c).iter_range(), count)
        tree.finish()
    return written
