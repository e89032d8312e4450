"""Peer reputation: the ledger per peer (pure), then our nodes in separate processes:
Kubo's ``bitswap/stat`` and ``bitswap/ledger`` shapes, the ``peer_reputation`` view,
standing events, a bad provider banned across a restart, and sessions that prefer
peers with good records."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import test_retrieval
from conftest import ServerProcess, start_server, stream_bytes
from test_retrieval import (
    FAST,
    add,
    api,
    connect,
    corrupt_every_block,
    history,
    peer_addr,
    peer_id,
    wait_for,
)

from ipfs_kit_py.p2p.reputation import BANNED, GOOD, NEUTRAL, POOR, PeerLedger

nodes = test_retrieval.nodes  # the fixture: our nodes in separate processes


def test_ledger_scores_standings_and_persistence(tmp_path: Path) -> None:
    changes: list[tuple[str, str, str]] = []
    path = tmp_path / "peer_ledger.json"
    led = PeerLedger(path, on_change=lambda p, now, before, _r: changes.append((p, before, now)))
    assert led.standing("a") == NEUTRAL and led.score("a") == 0.5
    led.received("a", 1000)
    led.measured("a", latency=0.010, throughput=1e6)
    led.measured("a", latency=0.020, throughput=2e6)
    assert led.standing("a") == GOOD and ("a", NEUTRAL, GOOD) in changes
    rec = led.get("a")
    assert rec is not None and 10 < (rec.latency_ms or 0) < 20 and 1e6 < (rec.throughput or 0) < 2e6
    for _ in range(6):
        led.failed("b", "want-block timeout")
    assert led.standing("b") == POOR and ("b", NEUTRAL, POOR) in changes
    led.bad_block("c", "sent a block matching no CID we asked for", 300)
    assert led.standing("c") == BANNED and 299 < led.banned()["c"] <= 300
    led.sent("a", 2, 500)
    led.save()
    # a restart reads the same records back: the ban still holds
    again = PeerLedger(path)
    assert again.standing("c") == BANNED and again.get("c").ban_reason.startswith("sent a block")  # type: ignore[union-attr]
    assert again.get("a").bytes_sent == 500 and again.standing("b") == POOR  # type: ignore[union-attr]
    # a ban that ran out is published once
    again.on_change = lambda p, now, before, _r: changes.append((p, before, now))
    again.get("c").banned_until = time.time() - 1  # type: ignore[union-attr]
    again.expire_bans()
    again.expire_bans()
    assert changes.count(("c", BANNED, POOR)) == 1  # a bad block still weighs on its score
    # a damaged file starts an empty ledger rather than a failed node
    path.write_text("{not json")
    assert PeerLedger(path).records == {}


def test_ledger_views_events_and_bans_across_a_restart(nodes: Callable[..., ServerProcess], tmp_path: Path) -> None:
    data = stream_bytes(6 << 20)
    a, bad, b = nodes("a"), nodes("bad"), nodes("b")
    cid = add(a, data)
    assert add(bad, data) == cid
    assert corrupt_every_block(bad.repo) > 20
    a_id, bad_id, b_id = peer_id(a), peer_id(bad), peer_id(b)
    connect(b, a)
    connect(b, bad)
    r = api(b, "cat", arg=cid)
    assert r.status_code == 200 and r.content == data

    # Kubo's bitswap/stat
    st = api(b, "bitswap/stat").json()
    assert set(st) == {"BlocksReceived", "BlocksSent", "DataReceived", "DataSent", "DupBlksReceived",
                       "DupDataReceived", "MessagesReceived", "Peers", "Wantlist"}
    assert st["BlocksReceived"] >= 25 and st["DataReceived"] >= len(data) and st["MessagesReceived"] > 0
    assert a_id in st["Peers"] and bad_id not in st["Peers"] and st["Wantlist"] == []
    # Kubo's bitswap/ledger, from both sides
    led = api(b, "bitswap/ledger", arg=a_id).json()
    assert set(led) == {"Exchanged", "Peer", "Recv", "Sent", "Value"}
    assert led["Peer"] == a_id and led["Recv"] >= len(data) - (1 << 20) and led["Exchanged"] > 0
    theirs = api(a, "bitswap/ledger", arg=b_id).json()
    assert theirs["Sent"] == led["Recv"] and theirs["Value"] > 1
    assert api(b, "bitswap/ledger").status_code == 400
    assert api(a, "bitswap/stat").json()["BlocksSent"] >= led["Exchanged"]

    # the peer_reputation view
    view = {p["peer"]: p for p in api(b, "ipfs-kit/peer_reputation").json()["Peers"]}
    assert view[a_id]["standing"] == GOOD and view[a_id]["blocks_received"] > 0
    assert view[a_id]["latency_ms"] > 0 and view[a_id]["throughput"] > 0 and view[a_id]["bad_blocks"] == 0
    assert view[bad_id]["standing"] == BANNED and view[bad_id]["bad_blocks"] >= 1
    assert 0 < view[bad_id]["banned_for"] <= 300 and view[bad_id]["score"] == 0
    one = api(b, "ipfs-kit/peer_reputation", arg=bad_id).json()["Peers"]
    assert [p["peer"] for p in one] == [bad_id]
    assert api(b, "ipfs-kit/peer_reputation", arg="12D3KooWnobody").status_code == 404
    # standing changes are events
    ev = [e["data"] for e in history(b, ["peer_reputation_changed"])]
    assert {"peer_id": bad_id, "standing": BANNED} in [{k: e[k] for k in ("peer_id", "standing")} for e in ev]
    assert any(e["peer_id"] == a_id and e["standing"] == GOOD and e["previous"] == NEUTRAL for e in ev)

    # the ban and the records outlive a restart of b
    b.stop()
    b2 = start_server(b.repo, env=FAST)
    try:
        view = {p["peer"]: p for p in api(b2, "ipfs-kit/peer_reputation").json()["Peers"]}
        assert view[bad_id]["standing"] == BANNED and view[a_id]["bytes_received"] == led["Recv"]
        r = api(b2, "swarm/connect", arg=peer_addr(bad))
        assert r.status_code == 403 and "banned" in r.json()["Message"]
        connect(b2, a)
        assert api(b2, "bitswap/ledger", arg=a_id).json()["Recv"] == led["Recv"]
    finally:
        b2.stop()


def two_providers(nodes: Callable[..., ServerProcess], data: bytes, first: str, second: str
                  ) -> tuple[str, ServerProcess, ServerProcess, str, str]:
    """Two nodes holding ``data``: (its CID, the nodes, their peer IDs)."""
    a, b = nodes(first), nodes(second)
    cid = add(a, data)
    assert add(b, data) == cid
    return cid, a, b, peer_id(a), peer_id(b)


def seed_ledger(repo: Path, *records: dict[str, object]) -> None:
    """A repo whose peer ledger already holds ``records`` (seen just now)."""
    repo.mkdir()
    now = time.time()
    (repo / "peer_ledger.json").write_text(json.dumps({"version": 1, "peers": [
        {"first_seen": now, "last_seen": now, **r} for r in records]}))


def test_sessions_prefer_peers_with_good_records(nodes: Callable[..., ServerProcess], tmp_path: Path) -> None:
    data = stream_bytes(24 << 20)
    cid, slow, good, slow_id, good_id = two_providers(nodes, data, "slow", "good")
    # b's ledger remembers the first provider sitting on want-blocks (a poor record)
    repo, now = tmp_path / "b", time.time()
    seed_ledger(repo, {"peer": slow_id, "failures": 40})
    b = nodes("b")
    assert {p["peer"]: p["standing"] for p in api(b, "ipfs-kit/peer_reputation").json()["Peers"]} == {slow_id: POOR}
    connect(b, slow)
    connect(b, good)
    r = httpx.post(f"{b.url}/api/v0/pin/add", params={"arg": cid}, timeout=120)
    assert r.status_code == 200, r.text
    got_slow = api(b, "bitswap/ledger", arg=slow_id).json()["Recv"]
    got_good = api(b, "bitswap/ledger", arg=good_id).json()["Recv"]
    assert got_slow + got_good >= len(data)
    # without the records both would serve about half
    assert got_good > 2 * got_slow, (got_good, got_slow)
    wait_for(lambda: (repo / "peer_ledger.json").stat().st_mtime > now + 0.5)


def test_a_peer_measured_slow_once_still_gets_a_share(nodes: Callable[..., ServerProcess], tmp_path: Path) -> None:
    """Rates are measured from a peer's own deliveries: one that measured low once must
    still be asked (and so re-measured), or the best peer takes every want for good."""
    data = stream_bytes(24 << 20)
    cid, fast, slow, fast_id, slow_id = two_providers(nodes, data, "fast", "slow")
    good = {"blocks_received": 100, "bytes_received": 100 << 18}
    seed_ledger(tmp_path / "b",  # as measured from one block each (the first one's round trip, then a burst)
                {"peer": fast_id, "throughput": 400e6, **good}, {"peer": slow_id, "throughput": 0.25e6, **good})
    b = nodes("b")
    connect(b, fast)
    connect(b, slow)

    def recv(peer: str) -> int:
        return int(api(b, "bitswap/ledger", arg=peer).json()["Recv"])

    before = {p: recv(p) for p in (fast_id, slow_id)}
    with httpx.stream("POST", f"{b.url}/api/v0/cat", params={"arg": cid}, timeout=120) as r:
        assert r.status_code == 200
        assert sum(len(c) for c in r.iter_raw()) == len(data)
    got_fast, got_slow = (recv(p) - before[p] for p in (fast_id, slow_id))
    assert got_slow + got_fast >= len(data)
    # both serve at the same real speed: once re-measured, the slow one gets a fair share
    assert got_slow >= len(data) // 8, (got_fast, got_slow)
