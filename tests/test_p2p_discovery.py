"""Discovery between our own servers: bootstrap peers from settings, peer events,
pinned content provided on the DHT and found by another node."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from conftest import ServerProcess, start_server, stream_bytes
from websockets.sync.client import connect as ws_connect


def api(srv: ServerProcess, path: str, **params: str) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=60)


def peer_events(srv: ServerProcess) -> list[dict]:
    with ws_connect(srv.url.replace("http://", "ws://") + "/ws/notifications", open_timeout=10) as ws:
        ws.send(json.dumps({"action": "get_history", "notification_types": ["peer_connected", "peer_disconnected"],
                            "limit": 1000}))
        while True:
            msg = json.loads(ws.recv(timeout=10))
            if msg.get("type") == "history":
                return msg["events"]


def wait_for(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_bootstrap_events_and_providers(tmp_path: Path) -> None:
    a = start_server(tmp_path / "a")
    b = None
    try:
        info_a = api(a, "id").json()
        b = start_server(tmp_path / "b", env={"IPFS_KIT_LIBP2P_BOOTSTRAP_PEERS": info_a["Addresses"][0]})
        id_b = api(b, "id").json()["ID"]
        # B dialled its bootstrap peer by itself
        wait_for(lambda: info_a["ID"] in [p["Peer"] for p in api(b, "swarm/peers").json()["Peers"]])
        wait_for(lambda: any(e["type"] == "peer_connected" and e["data"]["peer_id"] == id_b for e in peer_events(a)))
        assert any(e["type"] == "peer_connected" and e["data"]["peer_id"] == info_a["ID"] for e in peer_events(b))
        # pinned content is provided without being asked; B finds A as its provider
        data = stream_bytes(400_000) + b"discover me"
        cid = httpx.post(f"{a.url}/api/v0/add", files={"file": ("f", data)}, timeout=60).json()["Hash"]

        def b_finds_a() -> bool:
            lines = api(b, "routing/findprovs", arg=cid).text.splitlines()
            return info_a["ID"] in [r["ID"] for line in lines for r in json.loads(line)["Responses"]]

        wait_for(b_finds_a, 20)
        r = api(b, "libp2p/bitswap/fetch", arg=cid, peer=info_a["ID"])
        assert r.status_code == 200, r.text
        assert api(b, "cat", arg=cid).content == data
        b.stop()
        b = None
        wait_for(lambda: any(e["type"] == "peer_disconnected" and e["data"]["peer_id"] == id_b
                             for e in peer_events(a)))
    finally:
        if b is not None:
            b.stop()
        a.stop()


def test_unreachable_bootstrap_peer_does_not_stop_the_server(tmp_path: Path) -> None:
    ghost = "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWEPHQgjix36gCQw2SnLpC2hrLE3ziP3RwaoxZr9eKutEB"
    srv = start_server(tmp_path / "repo", env={"IPFS_KIT_LIBP2P_BOOTSTRAP_PEERS": ghost})
    try:
        assert api(srv, "id").json()["Addresses"]
        assert api(srv, "swarm/peers").json()["Peers"] == []
    finally:
        srv.stop()


def test_leecher_answers_dont_have(tmp_path: Path) -> None:
    master = start_server(tmp_path / "m")
    leecher = start_server(tmp_path / "l", env={"IPFS_KIT_LIBP2P_ROLE": "leecher"})
    try:
        cid = httpx.post(f"{leecher.url}/api/v0/add", files={"file": ("f", b"only the leecher has this")},
                         timeout=30).json()["Hash"]
        addr = api(leecher, "id").json()["Addresses"][0]
        t = time.monotonic()
        r = api(master, "libp2p/bitswap/fetch", arg=cid, peer=addr)
        assert r.status_code == 404 and time.monotonic() - t < 10  # DONT_HAVE, not a timeout
        # the leecher itself fetches fine from the master
        data = stream_bytes(300_000)
        cid2 = httpx.post(f"{master.url}/api/v0/add", files={"file": ("f", data)}, timeout=30).json()["Hash"]
        r = api(leecher, "libp2p/bitswap/fetch", arg=cid2, peer=api(master, "id").json()["Addresses"][0])
        assert r.status_code == 200, r.text
        assert api(leecher, "cat", arg=cid2).content == data
    finally:
        leecher.stop()
        master.stop()
