"""The importer's hand-written fast paths write the very bytes of the general encoders
(issue 10, the CLI's add -n benchmark): ``dagpb.file_parent`` is ``encode_node`` over
unnamed links and a File ``UnixFSData``, and the CIDs the importer hands to a block sink
are the ordinary ones."""

from __future__ import annotations

import hashlib
import random

import pytest

from ipfs_kit_py.content.cid import CID, DAG_PB, RAW
from ipfs_kit_py.content.dagpb import (
    FILE,
    PBLink,
    UnixFSData,
    decode_node,
    encode_node,
    encode_unixfs,
    file_parent,
)
from ipfs_kit_py.content.importer import PROFILES, FileImporter


def general(children: list[tuple[bytes, int, int]]) -> bytes:
    links = [PBLink(CID.from_bytes(cid), "", tsize) for cid, tsize, _ in children]
    sizes = [size for _, _, size in children]
    return encode_node(links, encode_unixfs(UnixFSData(FILE, filesize=sum(sizes), blocksizes=sizes)))


@pytest.mark.parametrize("seed", range(20))
def test_file_parent_is_encode_node(seed: int) -> None:
    rng = random.Random(seed)
    children = []
    for _ in range(rng.choice([1, 2, 174, rng.randint(1, 1024)])):
        digest = hashlib.sha256(rng.randbytes(8)).digest()
        cid = rng.choice([CID(0, DAG_PB, b"\x12\x20" + digest), CID(1, DAG_PB, b"\x12\x20" + digest),
                          CID(1, RAW, b"\x12\x20" + digest)])
        size = rng.choice([0, 1, 127, 128, 262144, 1 << 20, rng.randint(0, 1 << 40)])
        tsize = size + rng.choice([0, 14, rng.randint(0, 1 << 45)])
        children.append((bytes(cid), tsize, size))
    assert file_parent(children) == general(children)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_the_sinks_cids_are_ordinary_cids(profile: str) -> None:
    blocks: list[tuple[CID, bytes]] = []
    imp = FileImporter(None, PROFILES[profile], on_block=lambda cid, parts: blocks.append((cid, b"".join(parts))))
    imp.write(random.Random(3).randbytes(PROFILES[profile].chunk_size * 180 + 5))
    root = imp.finish().cid
    assert blocks[-1][0] == root
    for cid, block in blocks:
        assert CID.decode(str(cid)) == cid and type(cid.version) is int and cid.verify(block)
        if cid.codec == DAG_PB:
            decode_node(block)
