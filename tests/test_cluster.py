"""IPFS Cluster drives our nodes: three real ``ipfs-cluster-service`` peers (CRDT
consensus, a secret generated per run), each beside its own node of ours (separate
server processes and repos), calling our Kubo-shaped /api/v0 through its ipfshttp
connector; ``ipfs-cluster-ctl`` is the operator. All on 127.0.0.1.

What the connector calls and where it is exercised: ``id`` (peers ls), ``swarm/connect``
(the connector meshes our nodes), ``repo/stat?size-only`` (the freespace metric),
``pin/ls?stream&type`` and ``pin/ls?arg`` (status, and before every pin), ``pin/add?progress``
(fetching over our network retrieval), ``pin/rm``, ``pin/update``, ``block/put`` (cluster's
own adder streams blocks to every allocation), ``resolve`` (a path pin), ``repo/gc``
(``ipfs-cluster-ctl ipfs gc``), ``swarm/peers`` (``health graph``).

Skipped when the cluster binaries are absent (scripts/cluster.sh builds them; scripts/test.sh
exports their paths in IPFS_KIT_CLUSTER). The cluster peers' libp2p hosts are go-libp2p's with
NAT port mapping built in (no setting turns it off): they may send a UPnP/NAT-PMP discovery
probe to the local network; they listen, dial and connect on loopback only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cluster_fleet import CLUSTER, Fleet, blob, json_values, wait_until
from conftest import ServerProcess

pytestmark = [pytest.mark.skipif(CLUSTER is None, reason="IPFS Cluster not built (scripts/cluster.sh)"),
              pytest.mark.timeout(240)]

# a node IPFS Cluster drives waits for content like Kubo (the cluster pins on every peer at
# once, often before that peer's daemon is connected to the holder)
NODE_ENV = {"IPFS_KIT_RETRIEVAL_PIN_WAIT": "60"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    f = Fleet(tmp_path_factory.mktemp("cluster"), node_env=NODE_ENV).start()
    try:
        yield f
    finally:
        f.stop()


def rpc(node: ServerProcess, path: str, timeout: float = 60, **params: str) -> httpx.Response:
    return httpx.post(f"{node.url}/api/v0/{path}", params=params, timeout=timeout)


def add_unpinned(node: ServerProcess, data: bytes) -> str:
    """Add on one node only, not pinned there: every pin comes from the cluster."""
    r = httpx.post(f"{node.url}/api/v0/add", params={"pin": "false"}, files={"file": ("f", data)}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["Hash"]


def pinned_here(node: ServerProcess, cid: str) -> str | None:
    r = rpc(node, "pin/ls", arg=cid)
    return r.json()["Keys"][cid]["Type"] if r.status_code == 200 else None


def local_bytes(node: ServerProcess, path: str) -> bytes:
    r = rpc(node, "cat", arg=path, offline="true")  # from this node's own repo, never the network
    assert r.status_code == 200, (node.url, r.text)
    return r.content


def test_the_cluster_drives_our_nodes(fleet: Fleet) -> None:
    ours = [rpc(n, "id").json()["ID"] for n in fleet.nodes]
    for p in fleet.peers:
        assert {i["ipfs"]["id"] for i in fleet.cluster_peers(p)} == set(ours)  # each connector's `id`
    # the connectors meshed our nodes (swarm/connect to every peer's IPFS addresses; our nodes
    # have no bootstrap peers, so every connection was the cluster's doing)
    for i, me in enumerate(ours):
        assert set(ours) - {me} <= fleet.swarm_peers(i)
    # the freespace metric comes from our repo/stat (StorageMax - RepoSize)
    metrics = json_values(fleet.peers[0].ctl("health", "metrics", "freespace"))[0]
    assert len(metrics) == 3 and all(m["valid"] and int(m["value"]) > 0 for m in metrics)
    # the connectivity graph asks every daemon for swarm/peers: each sees the other two
    graph = fleet.peers[0].ctl("health", "graph")
    assert graph.count("/* The ipfs peers */") == 1 and sum(f'"{i}"' in graph for i in ours) == 3


def test_pin_reaches_every_node_then_unpin_and_gc(fleet: Fleet) -> None:
    a, b, c = fleet.nodes
    data = blob("cluster pin", 1_500_000)  # six blocks and a root
    cid = add_unpinned(a, data)
    assert [pinned_here(n, cid) for n in fleet.nodes] == [None, None, None]
    fleet.peers[1].ctl("pin", "add", "--name", "fleet-pin", cid)
    assert set(fleet.wait_status(cid, "pinned").values()) == {"pinned"}
    for n in fleet.nodes:  # b and c fetched it from a over our retrieval, and pinned it
        assert pinned_here(n, cid) == "recursive"
        assert local_bytes(n, cid) == data
    pins = {p["cid"]: p for p in json_values(fleet.peers[2].ctl("pin", "ls"))}
    assert pins[cid]["name"] == "fleet-pin"
    # unpin through another peer: gone from every node, and a cluster-wide GC collects it
    fleet.peers[2].ctl("pin", "rm", cid)
    fleet.wait_status(cid, "unpinned")
    assert [pinned_here(n, cid) for n in fleet.nodes] == [None, None, None]
    gc = json_values(fleet.peers[0].ctl("ipfs", "gc"))[0]["peer_map"]
    assert len(gc) == 3 and all(not p.get("error") and p["keys"] for p in gc.values())
    for n in fleet.nodes:
        assert rpc(n, "block/stat", arg=cid, offline="true").status_code == 404


def test_cluster_add_path_pin_and_update(fleet: Fleet, tmp_path: Path) -> None:
    a, b, c = fleet.nodes
    src = tmp_path / "site"
    (src / "sub").mkdir(parents=True)
    (src / "index.html").write_bytes(b"<h1>fleet</h1>\n")
    (src / "sub" / "data.bin").write_bytes(blob("cluster add", 700_000))
    # cluster's adder chunks here and streams the blocks to every allocated node (block/put)
    added = json_values(fleet.peers[2].ctl("add", "-r", "--name", "site", str(src), timeout=120))
    root = added[-1]["cid"]
    assert added[-1]["name"] == "site" and len(added[-1]["allocations"]) == 3
    fleet.wait_status(root, "pinned")
    for n in fleet.nodes:
        assert local_bytes(n, f"{root}/sub/data.bin") == blob("cluster add", 700_000)
        assert pinned_here(n, root) == "recursive"
    # a path pin: the connector asks our node to resolve it
    page = next(x["cid"] for x in added if x["name"] == "site/index.html")
    fleet.peers[0].ctl("pin", "add", f"/ipfs/{root}/index.html")
    fleet.wait_status(page, "pinned")
    # pin update: the connector uses our pin/update (old pin kept, unpin=false), which fetches the new DAG
    new = add_unpinned(b, blob("cluster update", 400_000))
    fleet.peers[1].ctl("pin", "update", page, new)
    fleet.wait_status(new, "pinned")
    for n in fleet.nodes:
        assert pinned_here(n, new) == "recursive" and local_bytes(n, new) == blob("cluster update", 400_000)


def test_a_node_stopped_and_restarted_recovers_its_pins(fleet: Fleet) -> None:
    a, b, c = fleet.nodes
    before = add_unpinned(a, blob("before the restart", 300_000))
    fleet.peers[0].ctl("pin", "add", before)
    fleet.wait_status(before, "pinned")
    # node 2 (our server and its cluster peer) goes down; the fleet pins something new meanwhile
    fleet.take_down(2)
    during = add_unpinned(a, blob("while node 2 was down", 900_000))
    fleet.peers[0].ctl("pin", "add", during)
    wait_until(lambda: {k: v for k, v in fleet.status(during).items() if k != "node2"}
               == {"node0": "pinned", "node1": "pinned"}, 60, "the live nodes to pin")
    assert fleet.status(during).get("node2") != "pinned"
    # back up on the same repo and port: its own pins survived, and it catches up on the new one
    fleet.bring_back(2)
    c = fleet.nodes[2]
    assert pinned_here(c, before) == "recursive"
    fleet.wait_status(during, "pinned", timeout=90)
    assert local_bytes(c, during) == blob("while node 2 was down", 900_000)
    assert fleet.status(before) == {"node0": "pinned", "node1": "pinned", "node2": "pinned"}
    assert json.loads(rpc(c, "pin/ls", type="recursive").text)["Keys"].keys() >= {before, during}
