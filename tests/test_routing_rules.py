"""Routing without sockets: the /routing/v1 rules (negotiation, IPIP-484 filters, peer
IDs, cache headers), the reprovider's schedule and key selection, and the network
profiles as settings (selecting ``public`` never starts a network here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, stream_bytes

from ipfs_kit_py import network_profiles
from ipfs_kit_py.config import load_settings
from ipfs_kit_py.content.cid import CID, b58decode
from ipfs_kit_py.errors import InvalidArgument
from ipfs_kit_py.mcp import server
from ipfs_kit_py.node import Node
from ipfs_kit_py.routing import delegated as d
from ipfs_kit_py.routing.reprovider import (
    ReproviderState,
    check_strategy,
    keys_to_provide,
    next_run_at,
)

PEER = "12D3KooWEPHQgjix36gCQw2SnLpC2hrLE3ziP3RwaoxZr9eKutEB"


# -- content negotiation -----------------------------------------------------------------------
@pytest.mark.parametrize(("accept", "expected"), [
    ([], d.JSON),
    (["application/json"], d.JSON),
    (["*/*"], d.JSON),
    (["application/x-ndjson"], d.NDJSON),
    (["application/x-ndjson, application/json;q=0.8"], d.NDJSON),  # what Helia sends
    (["text/html", "application/x-ndjson"], d.NDJSON),
])
def test_negotiate(accept: list[str], expected: str) -> None:
    assert d.negotiate(accept) == expected


def test_negotiate_refuses_what_it_cannot_send() -> None:
    with pytest.raises(ValueError, match="no supported content type"):
        d.negotiate(["text/html"])


# -- peer IDs ---------------------------------------------------------------------------------------
def test_peer_id_forms() -> None:
    mh = b58decode(PEER)
    as_cid = CID(1, d.LIBP2P_KEY, mh)
    assert d.parse_peer_id(PEER) == PEER
    assert d.parse_peer_id(str(as_cid)) == PEER  # base32 CIDv1 (bafz...)
    # base36 CIDv1 (k51...), written here with Python's own int() as the independent encoder
    n = int.from_bytes(bytes(as_cid), "big")
    digits = ""
    while n:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    assert digits and int(digits, 36) == int.from_bytes(bytes(as_cid), "big")
    assert d.parse_peer_id("k" + digits) == PEER
    # a sha2-256 peer ID (RSA keys); any sha2-256 multihash has that form
    qm = "QmVPZucXUykryvJZyAwHL3g7nG9uveLfr1e5eNWxZT2g71"
    assert d.parse_peer_id(qm) == qm


@pytest.mark.parametrize("bad", ["", "hello", "12D3KooW", "bafkqaaa", "QmVPZucXUykryvJZyAwHL3g7nG9uveLfr1e5eNWxZT2g7"])
def test_bad_peer_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        d.parse_peer_id(bad)


# -- filters (IPIP-484) -------------------------------------------------------------------------------
ADDRS = ["/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1",
         "/ip4/127.0.0.1/udp/4001/quic-v1/webtransport"]


def test_parse_filter() -> None:
    assert d.parse_filter(None) == [] and d.parse_filter("") == []
    assert d.parse_filter("TCP,!ip6,,") == ["tcp", "!ip6"]


@pytest.mark.parametrize(("filters", "kept"), [
    ([], ADDRS),
    (["tcp"], ADDRS[:2]),
    (["!ip6"], [ADDRS[0], ADDRS[2], ADDRS[3]]),
    (["!ip6", "!quic-v1"], [ADDRS[0]]),
    (["quic-v1", "!webtransport"], [ADDRS[2]]),
    (["webrtc-direct"], []),
    (["nonsense-proto"], []),
])
def test_filter_addrs(filters: list[str], kept: list[str]) -> None:
    assert d.filter_addrs(ADDRS, filters) == kept


def test_apply_filters() -> None:
    rec = d.peer_record(PEER, [a + f"/p2p/{PEER}" for a in ADDRS[:2]], [d.TRANSPORT_BITSWAP])
    assert rec["Addrs"] == ADDRS[:2]  # /p2p/ suffixes dropped: the record names the peer in ID
    assert d.apply_filters(rec, [], []) is rec
    assert d.apply_filters(rec, ["!ip6"], [])["Addrs"] == [ADDRS[0]]
    assert d.apply_filters(rec, ["udp"], []) is None  # no address left: the record goes
    assert d.apply_filters(rec, [], ["TRANSPORT-BITSWAP"]) is rec  # protocols match case-insensitively
    assert d.apply_filters(rec, [], ["transport-ipfs-gateway-http"]) is None
    assert d.apply_filters(rec, [], ["unknown"]) is None
    unknown = d.peer_record(PEER, [])
    assert "Protocols" not in unknown
    assert d.apply_filters(unknown, ["unknown"], ["unknown"]) == unknown
    assert d.apply_filters(unknown, ["tcp"], []) is None


def test_cache_headers() -> None:
    found = d.response_headers(d.JSON, True, now=0)
    none = d.response_headers(d.NDJSON, False, now=0)
    assert found["Cache-Control"] == "public, max-age=300, stale-while-revalidate=172800, stale-if-error=172800"
    assert none["Cache-Control"].startswith("public, max-age=15,")
    assert found["Last-Modified"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert found["Vary"] == "Accept" and found["Access-Control-Allow-Origin"] == "*"


# -- reprovider ------------------------------------------------------------------------------------
def test_schedule() -> None:
    assert next_run_at(None, 100, started=50) == 50  # never ran: at start
    assert next_run_at(40, 100, started=50) == 50  # ran before this process started: at start again
    assert next_run_at(60, 100, started=50) == 160
    assert next_run_at(60, 0, started=50) is None  # interval 0: no periodic runs
    with pytest.raises(InvalidArgument, match="provide.strategy"):
        check_strategy("flat")
    assert ReproviderState.from_json("not json") == ReproviderState()


def test_keys_to_provide_by_strategy(tmp_path: Path) -> None:
    import asyncio

    node = Node(tmp_path / "repo")
    try:
        model = node.model

        async def fill() -> tuple[CID, CID, CID, list[tuple[str, str]]]:
            big = await model.add_bytes(stream_bytes(700_000), "big")  # 3 chunks + root, pinned
            small = await model.add_bytes(b"small and pinned", "small")
            loose = await model.block_put(b"an unpinned block")
            await model.pin_rm(small.cid)
            await model.pin_add(small.cid, recursive=False)  # a direct pin
            return CID.decode(str(big.cid)), CID.decode(str(small.cid)), CID.decode(str(loose)), await model.pin_ls("all")

        big, small, loose, pins = asyncio.run(fill())
        store = model.store

        def keys(strategy: str) -> set[bytes]:
            out = list(keys_to_provide(store, pins, strategy))
            assert len(out) == len({c.multihash for c in out})  # each key once
            return {c.multihash for c in out}

        assert keys("roots") == {big.multihash, small.multihash}
        pinned = keys("pinned")
        assert len(pinned) == 5 and {big.multihash, small.multihash} <= pinned
        assert loose.multihash not in pinned
        assert keys("all") == pinned | {loose.multihash}
    finally:
        node.close()


# -- network profiles ------------------------------------------------------------------------------------
def test_default_profile_stays_private() -> None:
    s = load_settings(None, environ={})
    assert s.network.profile == "local"
    assert s.libp2p.listen_addrs == ["/ip4/127.0.0.1/tcp/4001"]
    assert s.libp2p.bootstrap_peers == [] and s.libp2p.dht_protocol == "/ipfs/lan/kad/1.0.0"


def test_public_profile_sets_the_public_network_settings(tmp_path: Path) -> None:
    args = server.parse_args(["--profile", "public", "--repo", str(tmp_path)])
    s = server.settings_from_args(args, tmp_path)
    assert s.network.profile == "public" and s.libp2p.dht_protocol == "/ipfs/kad/1.0.0"
    # this test process sets the loopback environment (conftest): explicit values win over the profile
    assert s.libp2p.listen_addrs == ["/ip4/127.0.0.1/tcp/0"] and s.libp2p.bootstrap_peers == []
    s = load_settings(tmp_path, {"network": {"profile": "public"}}, environ={})
    assert s.libp2p.bootstrap_peers == network_profiles.KUBO_BOOTSTRAP_PEERS
    assert s.libp2p.dht_protocol == "/ipfs/kad/1.0.0"
    assert "/ip4/0.0.0.0/tcp/4001" in s.libp2p.listen_addrs
    assert s.server.host == "127.0.0.1"  # the API stays on loopback
    # explicit settings win over the profile, whatever their source
    s = load_settings(tmp_path, {"libp2p": {"dht_protocol": "/ipfs/lan/kad/1.0.0"}},
                      environ={"IPFS_KIT_NETWORK_PROFILE": "public", "IPFS_KIT_LIBP2P_LISTEN_ADDRS": "/ip4/127.0.0.1/tcp/0"})
    assert s.libp2p.listen_addrs == ["/ip4/127.0.0.1/tcp/0"] and s.libp2p.dht_protocol == "/ipfs/lan/kad/1.0.0"
    assert s.libp2p.bootstrap_peers == network_profiles.KUBO_BOOTSTRAP_PEERS


def test_public_profile_warns(caplog: pytest.LogCaptureFixture) -> None:
    s = load_settings(None, {"network": {"profile": "public"}}, environ={})
    with caplog.at_level("WARNING", logger="ipfs_kit_py.network"):
        assert network_profiles.warn_if_public(s)
    assert "JOINS THE PUBLIC IPFS NETWORK" in caplog.text and "0.0.0.0" in caplog.text
    assert not network_profiles.warn_if_public(load_settings(None, environ={}))


def test_unknown_profile_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="unknown network profile 'galaxy'"):
        load_settings(None, {"network": {"profile": "galaxy"}}, environ={})
    proc = subprocess.run([sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(tmp_path / "r"), "serve",
                           "--profile", "galaxy"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2 and "unknown network profile 'galaxy'" in proc.stderr


def test_public_addresses_live_only_in_the_profile() -> None:
    """Kubo's bootstrap peers appear in no test, benchmark, example or other module."""
    needles = {a.split("/p2p/")[-1] for a in network_profiles.KUBO_BOOTSTRAP_PEERS}
    needles |= {a.split("/")[2] for a in network_profiles.KUBO_BOOTSTRAP_PEERS}  # hosts and IPs
    profile_file = Path(network_profiles.__file__).resolve()
    offenders = []
    for top in ("tests", "benchmarks", "examples", "ipfs_kit_py"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in (".py", ".mjs", ".js", ".json", ".sh", ".md") or "node_modules" in path.parts:
                continue
            if path.resolve() == profile_file or path.name == "package-lock.json":
                continue
            text = path.read_text(errors="replace")
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in needles if n in text]
    assert not offenders, offenders
