"""The server and Circuit Relay v2 on loopback: a master node relays for others
(hop); ``swarm/connect`` to a ``/p2p-circuit`` address dials through a relay, and
``swarm/peers`` tells relayed connections from direct ones."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ServerProcess, start_server

from ipfs_kit_py.p2p.peer import IPFSLibp2pPeer
from ipfs_kit_py.p2p.relay import Relay, peer_connections


@pytest.fixture
def master(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path / "repo")
    try:
        yield srv
    finally:
        srv.stop()


def _peers(srv: ServerProcess) -> dict[str, dict]:
    r = httpx.post(f"{srv.url}/api/v0/swarm/peers", timeout=10)
    r.raise_for_status()
    return {p["Peer"]: p for p in r.json()["Peers"]}


async def _conns(peer: IPFSLibp2pPeer) -> list[dict]:
    return peer_connections(peer)


def test_master_relays_and_swarm_peers_shows_relayed(master: ServerProcess) -> None:
    info = httpx.post(f"{master.url}/api/v0/id", timeout=5).json()
    master_addr = info["Addresses"][0]

    async def run() -> None:
        a = IPFSLibp2pPeer(role="worker")
        relay_a = Relay(a)
        b = IPFSLibp2pPeer(role="leecher")
        relay_b = Relay(b)
        async with a, b:
            circuit = await relay_a.reserve(master_addr)  # the server's hop service takes the reservation
            assert circuit.endswith(f"/p2p/{info['ID']}/p2p-circuit/p2p/{a.get_id()}")
            await relay_b.dial_via(circuit)
            conns = {c["peer"]: c["kind"] for c in await b.bridge.call(_conns, b)}
            assert conns == {info["ID"]: "direct", a.get_id(): "relayed"}
            peers = await asyncio.to_thread(_peers, master)
            assert "Relayed" not in peers[a.get_id()] and "Relayed" not in peers[b.get_id()]  # only when true
            assert peers[a.get_id()]["Addr"].startswith("/ip4/127.0.0.1/tcp/")

    asyncio.run(asyncio.wait_for(run(), 60))


def test_swarm_connect_through_a_relay(master: ServerProcess) -> None:
    info = httpx.post(f"{master.url}/api/v0/id", timeout=5).json()

    async def run() -> None:
        relay = IPFSLibp2pPeer(role="master")
        Relay(relay, hop=True)
        target = IPFSLibp2pPeer(role="worker")
        reserve = Relay(target)
        async with relay, target:
            circuit = await reserve.reserve(relay.get_addrs()[0])
            r = await asyncio.to_thread(httpx.post, f"{master.url}/api/v0/swarm/connect",
                                        params={"arg": circuit}, timeout=30)
            assert r.status_code == 200, r.text
            peers = await asyncio.to_thread(_peers, master)
            assert peers[target.get_id()]["Relayed"] is True
            assert peers[target.get_id()]["Addr"].endswith("/p2p-circuit")  # Kubo: the relay's address, circuit
            assert "Relayed" not in peers[relay.get_id()]
            assert info["ID"] not in peers

    asyncio.run(asyncio.wait_for(run(), 60))


def test_worker_learns_reachability_from_its_bootstrap_master(master: ServerProcess, tmp_path: Path) -> None:
    """AutoNAT: the master answers the dial-back check; the worker's system_status says public."""
    from ws_client_helpers import WSClient

    addr = httpx.post(f"{master.url}/api/v0/id", timeout=5).json()["Addresses"][0]
    worker = start_server(tmp_path / "worker", env={
        "IPFS_KIT_LIBP2P_ROLE": "worker", "IPFS_KIT_LIBP2P_BOOTSTRAP_PEERS": addr,
        "IPFS_KIT_WEBSOCKET_STATUS_INTERVAL": "0.2"})

    async def run() -> str:
        async with await WSClient.connect(worker.host_port, "/ws/notifications") as c:
            await c.request("subscribe", notification_types=["system_status"])
            while True:  # status every 0.2 s; bounded by the wait_for below
                (ev,) = await c.events(1)
                if ev["data"].get("reachability") != "unknown":
                    return ev["data"]["reachability"]

    try:
        assert asyncio.run(asyncio.wait_for(run(), 45)) == "public"
    finally:
        worker.stop()
