"""Trustless gateways as a block source: our own nodes' gateways (``?format=raw``)
serve a node without libp2p, and a node with no peer; a gateway whose blocks are
corrupt is refused block by block and nothing bad is stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import test_retrieval
from conftest import ServerProcess, stream_bytes
from test_retrieval import add, api, corrupt_every_block, history

nodes = test_retrieval.nodes  # the fixture: our nodes in separate processes


def test_node_without_libp2p_reads_through_gateways(nodes: Callable[..., ServerProcess], tmp_path: Path) -> None:
    data = stream_bytes(3 << 20)
    good, bad = nodes("good"), nodes("bad")
    cid = add(good, data)
    assert add(bad, data) == cid
    assert corrupt_every_block(bad.repo) > 10
    b = nodes("b", {"IPFS_KIT_LIBP2P_ENABLED": "false", "IPFS_KIT_RETRIEVAL_GATEWAYS": f"{bad.url},{good.url}"})
    assert api(b, "cat", arg=cid, offline="true").status_code == 404
    # a Range in the middle through b's own gateway fetches only what it covers
    r = httpx.get(f"{b.url}/ipfs/{cid}", headers={"Range": "bytes=1500000-1600000"}, timeout=60)
    assert r.status_code == 206 and r.content == data[1500000:1600001]
    partial = api(b, "repo/stat").json()["NumObjects"]
    assert 2 <= partial <= 6
    r = api(b, "cat", arg=cid)
    assert r.status_code == 200 and r.content == data
    # every block came verified: the corrupt gateway's bytes were refused, not stored
    verify = api(b, "repo/verify").text.splitlines()
    assert json.loads(verify[-1])["Msg"] == "verify complete, all blocks validated."
    done = [e["data"] for e in history(b, ["transfer_completed"]) if e["data"]["cid"] == cid]
    assert done and done[-1]["providers"] == [good.url]
    # and offline stays offline
    missing = add(good, b"only on the good node")
    assert api(b, "cat", arg=missing, offline="true").status_code == 404


def test_gateways_behind_peers_when_no_peer_has_it(nodes: Callable[..., ServerProcess]) -> None:
    data = stream_bytes(2 << 20)
    g = nodes("g")
    cid = add(g, data)
    b = nodes("b", {"IPFS_KIT_RETRIEVAL_GATEWAYS": g.url})  # libp2p on, but connected to nobody
    r = api(b, "cat", arg=cid)
    assert r.status_code == 200 and r.content == data
    assert any(p["peer"] == g.url and p["blocks_received"] >= 9
               for p in api(b, "ipfs-kit/peer_reputation").json()["Peers"])
    # nobody has it: a clear 404, not a hang
    absent = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    r = api(b, "cat", arg=absent, timeout=60)
    assert r.status_code == 404, r.text
