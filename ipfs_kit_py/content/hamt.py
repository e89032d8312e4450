"""HAMT-sharded UnixFS directories, as Kubo (boxo) writes and reads them.

Kubo switches a directory to a HAMT once the estimated size of its links
(name bytes + CID bytes, summed) reaches 256 KiB. Keys are hashed with the
first 64 bits of murmur3-x64-128 (big-endian, as go-unixfs does), consumed
8 bits per level for a fanout of 256. A shard's links are named with the
slot in two upper-case hex digits, followed by the entry name for entries
(sub-shards carry the two digits alone); its Data holds the occupied-slot
bitmap as a minimal big-endian integer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..errors import CorruptBlock, InvalidArgument
from .blockstore import Blockstore, ReadableStore
from .cid import CID, DAG_PB
from .dagpb import (
    HAMT_SHARD,
    PBLink,
    UnixFSData,
    decode_node,
    decode_unixfs,
    encode_node,
    encode_unixfs,
)

FANOUT = 256
MURMUR3_X64_64 = 0x22
SHARDING_THRESHOLD = 256 * 1024
_M64 = (1 << 64) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    k ^= k >> 33
    return k


def murmur3_x64_64(data: bytes, seed: int = 0) -> bytes:
    """First 64 bits (h1) of MurmurHash3 x64-128, big-endian: go-unixfs' HAMT hash."""
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = seed
    n = len(data)
    nblocks = n // 16
    for i in range(nblocks):
        k1 = int.from_bytes(data[16 * i : 16 * i + 8], "little")
        k2 = int.from_bytes(data[16 * i + 8 : 16 * i + 16], "little")
        k1 = (_rotl((k1 * c1) & _M64, 31) * c2) & _M64
        h1 ^= k1
        h1 = (_rotl(h1, 27) + h2) & _M64
        h1 = (h1 * 5 + 0x52DCE729) & _M64
        k2 = (_rotl((k2 * c2) & _M64, 33) * c1) & _M64
        h2 ^= k2
        h2 = (_rotl(h2, 31) + h1) & _M64
        h2 = (h2 * 5 + 0x38495AB5) & _M64
    tail = data[16 * nblocks :]
    k1 = int.from_bytes(tail[:8], "little") if tail else 0
    k2 = int.from_bytes(tail[8:16], "little") if len(tail) > 8 else 0
    if len(tail) > 8:
        k2 = (_rotl((k2 * c2) & _M64, 33) * c1) & _M64
        h2 ^= k2
    if tail:
        k1 = (_rotl((k1 * c1) & _M64, 31) * c2) & _M64
        h1 ^= k1
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _M64
    return h1.to_bytes(8, "big")


def estimated_size(links: list[PBLink]) -> int:
    """boxo's estimate of a basic directory's size: name bytes + CID bytes per link."""
    return sum(len(lk.name.encode("utf-8", "surrogateescape")) + len(bytes(lk.cid)) for lk in links)


# A bucket maps a slot to either an entry (name, link) or a nested bucket.
Bucket = dict[int, "tuple[str, PBLink] | Bucket"]


def _insert(bucket: Bucket, name: str, link: PBLink, hashes: Callable[[str], bytes], depth: int) -> None:
    h = hashes(name)
    if depth >= len(h):
        raise InvalidArgument(f"HAMT hash exhausted for {name!r}")
    slot = h[depth]
    cur = bucket.get(slot)
    if cur is None:
        bucket[slot] = (name, link)
    elif isinstance(cur, dict):
        _insert(cur, name, link, hashes, depth + 1)
    else:
        child: Bucket = {}
        _insert(child, cur[0], cur[1], hashes, depth + 1)
        _insert(child, name, link, hashes, depth + 1)
        bucket[slot] = child


def build(
    links: list[PBLink], store: Blockstore | None, cid_version: int, on_block: Callable[[CID, bytes], None] | None = None,
) -> tuple[CID, int, bytes]:
    """Write a HAMT for a directory's links; return (root CID, Tsize, root block)."""
    cache: dict[str, bytes] = {}

    def hashes(name: str) -> bytes:
        if name not in cache:
            cache[name] = murmur3_x64_64(name.encode("utf-8", "surrogateescape"))
        return cache[name]

    root: Bucket = {}
    for lk in links:
        _insert(root, lk.name, lk, hashes, 0)

    def write(bucket: Bucket) -> tuple[CID, int, bytes]:
        out: list[PBLink] = []
        bitmap = 0
        for slot in sorted(bucket):
            bitmap |= 1 << slot
            item = bucket[slot]
            label = f"{slot:02X}"
            if isinstance(item, dict):
                cid, tsize, _ = write(item)
                out.append(PBLink(cid, label, tsize))
            else:
                name, lk = item
                out.append(PBLink(lk.cid, label + name, lk.tsize))
        data = encode_unixfs(UnixFSData(
            HAMT_SHARD, data=bitmap.to_bytes((bitmap.bit_length() + 7) // 8, "big"),
            hash_type=MURMUR3_X64_64, fanout=FANOUT,
        ))
        block = encode_node(out, data)
        cid = CID.hash(block, DAG_PB, cid_version)
        if store is not None:
            store.put(cid, [block])
        if on_block is not None:
            on_block(cid, block)
        return cid, len(block) + sum(lk.tsize for lk in out), block

    return write(root)


def _shard_links(store: ReadableStore, cid: CID) -> list[PBLink]:
    node = decode_node(store.get(cid))
    u = decode_unixfs(node.data)
    if u.type != HAMT_SHARD:
        raise CorruptBlock(f"{cid} is not a HAMT shard")
    if u.fanout != FANOUT or u.hash_type != MURMUR3_X64_64:
        raise CorruptBlock(f"{cid}: unsupported HAMT (fanout {u.fanout}, hash 0x{u.hash_type or 0:x})")
    return node.links


def entries(store: ReadableStore, cid: CID) -> Iterator[PBLink]:
    """Every entry of a sharded directory, with its real name."""
    for lk in _shard_links(store, cid):
        if len(lk.name) > 2:
            yield PBLink(lk.cid, lk.name[2:], lk.tsize)
        elif len(lk.name) == 2:
            yield from entries(store, lk.cid)
        else:
            raise CorruptBlock(f"{cid}: HAMT link name {lk.name!r} is too short")


def lookup(store: ReadableStore, cid: CID, name: str) -> PBLink | None:
    """Find one entry by following its hash down the shards (O(depth) blocks)."""
    h = murmur3_x64_64(name.encode("utf-8", "surrogateescape"))
    for depth in range(len(h)):
        label = f"{h[depth]:02X}"
        for lk in _shard_links(store, cid):
            if lk.name == label:
                cid = lk.cid
                break
            if lk.name == label + name:
                return PBLink(lk.cid, name, lk.tsize)
        else:
            return None
    return None
