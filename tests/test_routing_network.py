"""Routing between our own servers (separate processes, loopback): /routing/v1 on B
lists A for content only A holds (JSON, NDJSON, filters, CORS); the Kubo RPC routing
verbs and their dht/* aliases; provide/stat; the reprovider re-announcing after a restart."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ServerProcess, start_server, stream_bytes

from ipfs_kit_py.content.car import read_car

FAST = {"IPFS_KIT_ROUTING_TIMEOUT": "10"}
GHOST = "12D3KooWEPHQgjix36gCQw2SnLpC2hrLE3ziP3RwaoxZr9eKutEB"  # a valid peer ID nobody runs


def api(srv: ServerProcess, path: str, files: dict | None = None, **params: str) -> httpx.Response:
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, files=files, timeout=60)


def lines(r: httpx.Response) -> list[dict]:
    return [json.loads(x) for x in r.text.splitlines() if x.strip()]


def wait_for(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def v1(srv: ServerProcess, path: str, accept: str | None = None, **params: str) -> httpx.Response:
    headers = {"Accept": accept} if accept else {}
    return httpx.get(f"{srv.url}/routing/v1/{path}", params=params, headers=headers, timeout=60)


def provider_ids(srv: ServerProcess, cid: str) -> list[str]:
    return [p["ID"] for p in v1(srv, f"providers/{cid}").json()["Providers"]]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess, dict, dict]]:
    """A holds content; B bootstraps to A (and knows nothing else)."""
    tmp = tmp_path_factory.mktemp("routing")
    a = start_server(tmp / "a", env=FAST)
    b = None
    try:
        info_a = api(a, "id").json()
        b = start_server(tmp / "b", env={**FAST, "IPFS_KIT_LIBP2P_BOOTSTRAP_PEERS": info_a["Addresses"][0]})
        info_b = api(b, "id").json()
        wait_for(lambda: info_a["ID"] in [p["Peer"] for p in api(b, "swarm/peers").json()["Peers"]])
        yield a, b, info_a, info_b
    finally:
        if b is not None:
            b.stop()
        a.stop()


def add(srv: ServerProcess, data: bytes) -> str:
    r = httpx.post(f"{srv.url}/api/v0/add", files={"file": ("f", data)}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["Hash"]


def test_routing_v1_on_b_lists_a(pair: tuple) -> None:
    a, b, info_a, info_b = pair
    cid = add(a, stream_bytes(300_000) + b"only A has this")
    wait_for(lambda: info_a["ID"] in provider_ids(b, cid))
    r = v1(b, f"providers/{cid}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["access-control-allow-origin"] == "*" and r.headers["vary"] == "Accept"
    assert "max-age=300" in r.headers["cache-control"] and r.headers["last-modified"].endswith("GMT")
    (rec,) = r.json()["Providers"]  # B does not hold it: A only
    assert rec["Schema"] == "peer" and rec["ID"] == info_a["ID"]
    assert rec["Addrs"] and all(x.startswith("/ip4/127.0.0.1/tcp/") and "/p2p/" not in x for x in rec["Addrs"])
    assert rec["Protocols"] == ["transport-bitswap"]  # B learned it from identify
    # NDJSON, as Helia asks for it
    r = v1(b, f"providers/{cid}", accept="application/x-ndjson, application/json;q=0.8")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert [x["ID"] for x in lines(r)] == [info_a["ID"]]
    # filters (IPIP-484)
    assert [p["ID"] for p in v1(b, f"providers/{cid}", **{"filter-addrs": "tcp"}).json()["Providers"]] == [info_a["ID"]]
    assert v1(b, f"providers/{cid}", **{"filter-addrs": "!tcp"}).json() == {"Providers": []}
    assert v1(b, f"providers/{cid}", **{"filter-addrs": "webtransport"}).json() == {"Providers": []}
    assert len(v1(b, f"providers/{cid}", **{"filter-protocols": "transport-bitswap"}).json()["Providers"]) == 1
    r = v1(b, f"providers/{cid}", accept="application/x-ndjson", **{"filter-protocols": "transport-ipfs-gateway-http"})
    assert r.status_code == 200 and r.text == "" and "max-age=15" in r.headers["cache-control"]
    # A itself lists itself: it holds the block
    assert provider_ids(a, cid)[0] == info_a["ID"]


def test_routing_v1_none_peers_and_errors(pair: tuple) -> None:
    a, b, info_a, info_b = pair
    nobody = add(b, b"x")  # a CID B holds; then ask A about a CID nobody holds
    missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    r = v1(a, f"providers/{missing}")
    assert r.status_code == 200 and r.json() == {"Providers": []}  # 200, not 404 (IPIP-513)
    assert "max-age=15" in r.headers["cache-control"]
    wait_for(lambda: info_b["ID"] in provider_ids(a, nobody))
    # peers: by base58 and by CIDv1 (libp2p-key, base32)
    (rec,) = v1(b, f"peers/{info_a['ID']}").json()["Peers"]
    assert rec["ID"] == info_a["ID"] and rec["Addrs"]
    from ipfs_kit_py.content.cid import CID, b58decode

    as_cid = str(CID(1, 0x72, b58decode(info_a["ID"])))
    assert [p["ID"] for p in lines(v1(b, f"peers/{as_cid}", accept="application/x-ndjson"))] == [info_a["ID"]]
    assert v1(b, f"peers/{GHOST}").json() == {"Peers": []}
    # bad input: 400 with a reason; unsupported parts of the spec: 501; CORS preflight
    assert v1(b, "providers/not-a-cid").status_code == 400
    assert v1(b, "peers/not-a-peer").status_code == 400
    assert v1(b, f"providers/{missing}", accept="text/html").status_code == 400
    assert v1(b, f"ipns/{as_cid}").status_code == 404  # IPNS is served (issue 15); A published nothing
    r = httpx.options(f"{b.url}/routing/v1/providers/{missing}",
                      headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"})
    assert r.status_code in (200, 204) and r.headers["access-control-allow-origin"] == "*"


def test_kubo_rpc_routing_verbs(pair: tuple) -> None:
    a, b, info_a, info_b = pair
    data = stream_bytes(700_000) + b"provide me recursively"
    cid = add(a, data)
    blocks = [str(c) for c, _ in read_car([api(a, "dag/export", arg=cid).content])]
    assert len(blocks) == 4
    for verb in ("routing", "dht"):
        wait_for(lambda v=verb: any(r["ID"] == info_a["ID"] for e in lines(api(b, f"{v}/findprovs", arg=cid))
                                    for r in e["Responses"]))
        events = lines(api(b, f"{verb}/findprovs", arg=cid, **{"num-providers": "1"}))
        assert len(events) == 1 and events[0]["Type"] == 4 and events[0]["ID"] == ""
        assert events[0]["Responses"][0]["ID"] == info_a["ID"] and events[0]["Responses"][0]["Addrs"]
        r = api(b, f"{verb}/findpeer", arg=info_a["ID"])
        (ev,) = lines(r)
        assert ev["Type"] == 2 and ev["Responses"][0]["ID"] == info_a["ID"] and ev["Responses"][0]["Addrs"]
    r = api(b, "routing/findprovs", arg=cid, **{"num-providers": "0"})
    assert r.status_code == 400 and r.json()["Type"] == "error"
    assert api(b, "routing/findprovs", arg="nonsense").status_code == 400
    assert "own node" in api(b, "routing/findpeer", arg=info_b["ID"]).json()["Message"]
    r = api(b, "routing/findpeer", arg=GHOST)
    assert r.status_code >= 400 and "not found" in r.json()["Message"]
    # provide: the leaf blocks were never announced (roots strategy); recursive announces them
    r = api(a, "routing/provide", arg=cid, recursive="true")
    assert r.status_code == 200, r.text
    events = lines(r)
    assert [e["ID"] for e in events if e["Type"] == 2] == [info_b["ID"]] * 4, events
    assert not [e for e in events if e["Type"] == 3]
    leaf = blocks[-1]
    assert info_a["ID"] in [p["ID"] for p in v1(b, f"providers/{leaf}").json()["Providers"]]
    assert api(b, "routing/provide", arg=cid).status_code == 404  # B does not hold it
    # DHT values: A's public key under /pk/<A>, stored by A, read by B
    pub = base64.b64decode(info_a["PublicKey"])
    r = api(a, "routing/put", files={"value-file": ("v", pub)}, arg=f"/pk/{info_a['ID']}")
    assert r.status_code == 200, r.text
    assert lines(r) == [{"Extra": "", "ID": info_a["ID"], "Responses": None, "Type": 5}]
    (ev,) = lines(api(b, "dht/get", arg=f"/pk/{info_a['ID']}"))
    assert ev["Type"] == 5 and base64.b64decode(ev["Extra"]) == pub
    bad = api(a, "routing/put", files={"value-file": ("v", b"not a key")}, arg=f"/pk/{info_a['ID']}")
    assert bad.status_code == 400 and bad.json()["Type"] == "error"
    wrong = api(a, "routing/put", files={"value-file": ("v", pub)}, arg=f"/pk/{info_b['ID']}")
    assert wrong.status_code == 400
    assert api(b, "routing/get", arg="/foo/bar").status_code == 400


def test_provide_stat_and_reprovide(pair: tuple) -> None:
    a, b, info_a, info_b = pair
    wait_for(lambda: api(a, "provide/stat").json()["Legacy"]["TotalReprovides"] >= 1)  # the run at start
    before = api(a, "provide/stat").json()
    assert before["Strategy"] == "roots" and before["Legacy"]["ReprovideInterval"] == 22 * 3600 * 10**9
    assert before["NextRun"] is not None and before["Legacy"]["LastRun"].endswith("Z")
    pins = [c for c, v in api(a, "pin/ls").json()["Keys"].items() if v["Type"] != "indirect"]  # the roots
    assert api(a, "routing/reprovide").status_code == 200
    after = api(a, "provide/stat").json()
    assert after["Legacy"]["TotalReprovides"] == before["Legacy"]["TotalReprovides"] + 1
    assert after["Legacy"]["LastReprovideBatchSize"] == len(pins)
    assert after["TotalProvides"] >= before["TotalProvides"] + len(pins)
    assert after["LastReprovideFailed"] == 0


def test_reprovider_reannounces_after_restart(tmp_path: Path) -> None:
    """D keeps provider records. A announces to D, stops; D restarts (records gone);
    A restarts with no new pin: its reprovider announces again, and D keeps the record
    after A is gone again, so it came from A's announcement, not from asking A."""
    d = start_server(tmp_path / "d", env=FAST)
    a = None
    try:
        d_addr = api(d, "id").json()["Addresses"][0]
        env_a = {**FAST, "IPFS_KIT_LIBP2P_BOOTSTRAP_PEERS": d_addr, "IPFS_KIT_PROVIDE_INTERVAL": "1"}
        a = start_server(tmp_path / "a", env=env_a)
        a_id = api(a, "id").json()["ID"]
        cid = add(a, stream_bytes(50_000) + b"reprovide me")
        wait_for(lambda: a_id in provider_ids(d, cid))
        # the interval repeats runs
        wait_for(lambda: api(a, "provide/stat").json()["Legacy"]["TotalReprovides"] >= 3)
        runs_before = api(a, "provide/stat").json()["Legacy"]["TotalReprovides"]
        a.stop()
        a = None
        assert a_id in provider_ids(d, cid)  # D holds the record, A is gone
        d.stop()
        d = start_server(tmp_path / "d", env=FAST)
        assert provider_ids(d, cid) == []  # records were in D's memory only
        d_addr = api(d, "id").json()["Addresses"][0]
        a = start_server(tmp_path / "a", env={**FAST, "IPFS_KIT_LIBP2P_BOOTSTRAP_PEERS": d_addr,
                                              "IPFS_KIT_PROVIDE_INTERVAL": "3600"})
        wait_for(lambda: api(a, "provide/stat").json()["Legacy"]["TotalReprovides"] > runs_before)
        stat = api(a, "provide/stat").json()
        assert stat["Legacy"]["LastReprovideBatchSize"] == 1 and stat["LastReprovideFailed"] == 0
        a.stop()
        a = None
        assert a_id in provider_ids(d, cid)
    finally:
        if a is not None:
            a.stop()
        d.stop()


def test_routing_v1_is_public_on_the_gateway_listener(tmp_path: Path) -> None:
    """/routing/v1 is served, with CORS, on the gateway-only listener too (Kubo serves it
    beside its gateway); control paths stay refused there."""
    s = start_server(tmp_path / "repo", env={"IPFS_KIT_GATEWAY_LISTEN": "127.0.0.1:0"})
    try:
        gw = (s.repo / "gateway").read_text().strip()
        cid = add(s, b"public routing")
        me = api(s, "id").json()["ID"]
        r = httpx.get(f"{gw}/routing/v1/providers/{cid}", headers={"Origin": "https://elsewhere.example"}, timeout=30)
        assert r.status_code == 200 and [p["ID"] for p in r.json()["Providers"]] == [me]
        assert r.headers["access-control-allow-origin"] == "*"
        assert httpx.post(f"{gw}/api/v0/id", timeout=30).status_code == 404
    finally:
        s.stop()
