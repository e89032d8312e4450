"""schemathesis against the real server: every operation of its OpenAPI schema, over HTTP.

The server is this module's own (its own repo): the fuzzer may unpin, remove
blocks and collect garbage without touching another test's data. Properties:
- no 5xx but the documented 503 on any route for any request, schema-conforming or not (Kubo answers
  bad input with a 4xx), and no request hangs;
- on ``/api/v0`` every 4xx has Kubo's error shape ``{"Message", "Code", "Type": "error"}``.

Bounded: a few examples per operation and generation mode, derandomized, no
example database. IPFS_KIT_FUZZ_API_EXAMPLES=50 hunts locally: more examples, new ones each run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
import websockets
from conftest import ServerProcess, start_server
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from websockets.sync.client import connect as ws_connect

from ipfs_kit_py import operations
from ipfs_kit_py.content.cid import CID, RAW, encode_varint

EXAMPLES = int(os.environ.get("IPFS_KIT_FUZZ_API_EXAMPLES", "5"))
HUNTING = "IPFS_KIT_FUZZ_API_EXAMPLES" in os.environ  # a local hunt: new random inputs on every run
REQUEST_TIMEOUT = 20.0  # seconds; a request that takes longer is reported as a hang
# routes that dial other nodes: never let the fuzzer hand them an address (loopback only in tests)
OUTBOUND = ("/api/v0/swarm/connect", "/api/v0/libp2p/", "/api/v0/routing/", "/api/v0/ipfs-kit/transfer")
ADDRESS_PARAMS = {"arg", "peer", "target"}
# routes the fuzzer leaves alone: shutdown ends the server under test (test_kubo_rpc_extra covers it)
UNFUZZED = ("/api/v0/shutdown",)
# parameters that make an answer endless by design (Kubo's stats/bw --poll streams until the client
# leaves): a case with one set to anything but false would only time out
ENDLESS = {"poll"}
TRUE_WORDS = {"", "1", "t", "true", "yes", "on"}  # what the API reads as true (server/rpc_wire.py)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """Its own server, seeded with a file and a directory so that some requests reach real content."""
    srv = start_server(tmp_path_factory.mktemp("fuzz-api") / "repo")
    try:
        files = [("file", ("dir", b"", "application/x-directory")),
                 ("file", ("dir%2Fa.txt", b"hello fuzz\n" * 50, "application/octet-stream")),
                 ("file", ("dir%2Fb.bin", bytes(range(256)) * 8, "application/octet-stream"))]
        r = httpx.post(f"{srv.url}/api/v0/add", files=files, timeout=30)
        assert r.status_code == 200, r.text
        lines = {d["Name"]: d["Hash"] for d in map(json.loads, r.text.splitlines())}
        yield srv, {"dir": lines["dir"], "file": lines["dir/a.txt"]}
    finally:
        srv.stop()


def _check(case: Any, response: requests.Response) -> None:
    where = f"{case.method} {case.formatted_path} query={case.query!r}"
    # 503 is the documented "the network cannot serve this now" (a name published with no DHT peer,
    # a connection cap); any other 5xx is a server fault
    assert response.status_code < 500 or response.status_code == 503, \
        f"{where} -> {response.status_code}: {response.text[:500]}"
    if case.path.startswith("/api/v0/") and 400 <= response.status_code < 600:
        try:
            body = response.json()
        except ValueError:
            body = None
        assert isinstance(body, dict) and isinstance(body.get("Message"), str) and body.get("Type") == "error" \
            and isinstance(body.get("Code"), int), \
            f"{where} -> {response.status_code} without Kubo's error shape: {response.text[:300]}"


def _strategy(op: Any, mode: GenerationMode, known: dict[str, str]) -> st.SearchStrategy[Any]:
    """Cases for one operation: free ones, and ones whose CID argument names seeded content."""
    strategies = [op.as_strategy(generation_mode=mode)]
    params = {p["name"] for p in op.definition.raw.get("parameters", [])}
    if "arg" in params:
        args = (known["file"], known["dir"], f"/ipfs/{known['dir']}/a.txt", f"{known['dir']}/b.bin")
        strategies += [op.as_strategy(generation_mode=mode, query={"arg": a}) for a in args]
    if "rest" in params:
        strategies += [op.as_strategy(generation_mode=mode, path_parameters={"rest": r})
                       for r in (known["file"], f"{known['dir']}/a.txt", known["dir"])]
    return st.one_of(strategies)


def _negatable(op: Any) -> bool:
    """Whether schemathesis can make a request to ``op`` that breaks its schema: not when the
    operation has no body and no parameter but string path segments (it searches long, in vain)."""
    raw = op.definition.raw
    return "requestBody" in raw or any(p["in"] != "path" or p.get("schema", {}).get("type") != "string"
                                       for p in raw.get("parameters", []))


def _fuzz_operation(op: Any, mode: GenerationMode, srv: ServerProcess, known: dict[str, str],
                    session: requests.Session) -> None:
    """Run ``EXAMPLES`` generated requests against one operation; raise on the first failure."""
    outbound = op.path.startswith(OUTBOUND)

    @settings(max_examples=EXAMPLES, derandomize=not HUNTING, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=_strategy(op, mode, known))
    def run(case: Any) -> None:
        if outbound:
            assume(not ADDRESS_PARAMS & set(case.query or {}))
        assume(not any(str(v).lower() in TRUE_WORDS for p, v in (case.query or {}).items() if p in ENDLESS))
        _check(case, case.call(base_url=srv.url, session=session, timeout=REQUEST_TIMEOUT))

    run()


def test_no_server_error_on_any_operation(fuzz_server: tuple[ServerProcess, dict[str, str]]) -> None:
    srv, known = fuzz_server
    schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json")
    session = requests.Session()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1
        if op.path in UNFUZZED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode == GenerationMode.NEGATIVE and not _negatable(op):
                continue  # every request is valid (hypothesis would search long for an invalid one)
            try:
                _fuzz_operation(op, mode, srv, known, session)
            except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body
                assert mode == GenerationMode.NEGATIVE, f"no case for {op.method.upper()} {op.path}"
            except Exception as e:  # noqa: BLE001 - gather every operation's failure, then report them all
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {type(e).__name__}: {e}")
    assert operations >= 30, f"only {operations} operations in the schema"
    assert not failures, "\n\n".join(failures)
    # after all that, the server still answers (nothing wedged)
    assert httpx.post(f"{srv.url}/api/v0/version", timeout=5).status_code == 200


def _hostile(known: dict[str, str]) -> dict[str, list[str]]:
    """Values by parameter type that broke servers before (see issue 9's findings)."""
    big_identity = str(CID(1, RAW, b"\x00" + encode_varint(5000) + b"x" * 5000))  # used to leak the repo path
    digits = "9" * 5000  # past Python's int-string limit
    return {
        "string": [big_identity, f"/ipfs/{known['dir']}/" + "a" * 5000, "Qm" + "1" * 5000, digits, "\x00%ff",
                   "\ud800".encode("utf-8", "surrogatepass").decode("latin-1")],
        "integer": [digits, "-" + digits, "-1", "1e3"],
        "boolean": ["maybe", digits],
    }


def test_hostile_values_on_every_parameter(fuzz_server: tuple[ServerProcess, dict[str, str]]) -> None:
    """Every documented parameter of every operation gets each hostile value of its type
    (deterministic, complete: the random fuzzer above might miss one); the gateway also
    gets hostile Range headers."""
    srv, known = fuzz_server
    spec = httpx.get(f"{srv.url}/openapi.json", timeout=10).json()
    hostile = _hostile(known)
    requests_: list[tuple[str, str, dict[str, str], dict[str, str], str]] = []  # method, url, query, headers, label
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                name, kind = param["name"], param.get("schema", {}).get("type", "string")
                if path.startswith(OUTBOUND) and name in ADDRESS_PARAMS:
                    continue
                for value in hostile.get(kind, hostile["string"]):
                    label = f"{name}={value[:40]!r}"
                    if param["in"] == "path":
                        requests_.append((method, path.replace("{" + name + "}", quote(value, safe="/")), {}, {}, label))
                    else:
                        requests_.append((method, path.replace("{rest}", known["file"]), {name: value}, {}, label))
    for rng in ("bytes=" + "9" * 5000 + "-", "bytes=-" + "9" * 5000, "bytes=0-" + "9" * 5000, "bytes=5-1",
                "bytes=a-b", "bytes=0-1,2-3", "items=0-1", "bytes=" + "0-1," * 2000):
        for target in (known["file"], f"{known['dir']}/b.bin"):
            requests_.append(("get", f"/ipfs/{target}", {}, {"Range": rng}, f"Range {rng[:30]!r}"))

    with httpx.Client(base_url=srv.url, timeout=REQUEST_TIMEOUT) as client:

        def send(req: tuple[str, str, dict[str, str], dict[str, str], str]) -> str | None:
            method, url, query, headers, label = req
            r = client.request(method.upper(), url, params=query, headers=headers)
            return f"{method.upper()} {url[:80]} {label}: {r.status_code} {r.text[:200]}" if r.status_code >= 500 else None

        with ThreadPoolExecutor(4) as pool:  # the server serves them concurrently: about 2x faster
            failures = [f for f in pool.map(send, requests_) if f]
    assert len(requests_) > 200
    assert not failures, "\n".join(failures)


def _ws_requests(known: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    """Operation requests for /ws: any operation (and a few unknown actions) with any subset of
    every operation's parameter names, valued with seeded CIDs, base64, hostile strings or any JSON."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=8)
    cids = st.sampled_from([known["file"], known["dir"], f"/ipfs/{known['dir']}/a.txt", f"{known['dir']}/b.bin"])
    values = st.one_of(json_values, cids, st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
                       st.sampled_from(_hostile(known)["string"] + ["dag-pb", "raw", "v1raw", "all", "recursive"]),
                       st.integers(-3, 1 << 70))
    names = sorted({"cid", "recursive", "type", "values", "replace", "offset", "length", "content", "name", "pin",
                    "profile", "cid_version", "raw_leaves", "only_hash", "data", "codec"})
    return st.fixed_dictionaries(
        {"action": st.sampled_from([*sorted(set(operations.OPERATIONS) - {"shutdown"}), "nope", "get_history", "ping"]),
         "id": st.integers(0, 1 << 40)},
        optional={n: values for n in names})


def test_ws_operations_answer_every_request_without_internal_error(
        fuzz_server: tuple[ServerProcess, dict[str, str]]) -> None:
    """The /ws RPC (the operation set libp2p's mcp protocol shares) with fuzzed parameters:
    every request gets exactly its reply, a result or a documented error, never internal_error."""
    srv, known = fuzz_server
    with ws_connect(srv.url.replace("http", "ws", 1) + "/ws", max_size=None, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"

        @settings(max_examples=EXAMPLES * 25, derandomize=not HUNTING, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(_ws_requests(known))
        def run(request: dict[str, Any]) -> None:
            ws.send(json.dumps(request))
            while True:  # skip cat's binary frames and its content header
                reply = ws.recv(timeout=REQUEST_TIMEOUT)
                if isinstance(reply, str) and json.loads(reply).get("type") in ("result", "error", "history", "pong"):
                    break
            msg = json.loads(reply)
            assert msg.get("id") == request["id"], (request, msg)
            assert msg.get("code") != "internal_error", (request, msg)

        run()


def test_signaling_answers_every_request_without_internal_error(
        fuzz_server: tuple[ServerProcess, dict[str, str]]) -> None:
    """/ws/webrtc with fuzzed requests about sessions (answer, candidate, close, stats,
    quality, ping; no offers: they would start real media sessions): one reply each, never
    internal_error, and the connection stays open."""
    srv, known = fuzz_server
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=8)
    sdp = st.sampled_from(["v=0\r\n", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
                           "", "x" * 5000])
    candidate = st.fixed_dictionaries({}, optional={
        "candidate": st.sampled_from(["candidate:1 1 udp 1 127.0.0.1 9 typ host", "candidate:", "garbage"]) | json_values,
        "sdpMid": json_values, "sdpMLineIndex": json_values})
    requests_ = st.fixed_dictionaries(
        {"type": st.sampled_from(["answer", "candidate", "close", "stats_request", "quality_change", "ping", "bogus"]),
         "id": st.integers(0, 1 << 40)},
        optional={"pc_id": json_values | st.uuids().map(str), "sdp": sdp | json_values,
                  "candidate": candidate | json_values, "quality": st.sampled_from(["auto", "high", "low"]) | json_values,
                  "cid": json_values | st.just(known["file"])})
    with ws_connect(srv.url.replace("http", "ws", 1) + "/ws/webrtc", max_size=None, open_timeout=10) as ws:

        @settings(max_examples=EXAMPLES * 15, derandomize=not HUNTING, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(requests_)
        @example({"type": "bogus", "id": 7})  # an unknown type's error came without the request's id
        def run(request: dict[str, Any]) -> None:
            ws.send(json.dumps(request))
            msg = json.loads(ws.recv(timeout=REQUEST_TIMEOUT))
            assert msg.get("id") == request["id"], (request, msg)
            assert msg.get("code") != "internal_error", (request, msg)

        run()


@pytest.mark.parametrize("path", ["/ws", "/ws/webrtc"])
def test_lone_surrogate_in_a_websocket_request_keeps_the_connection(
        fuzz_server: tuple[ServerProcess, dict[str, str]], path: str) -> None:
    """A request id of "\\ud800" (valid JSON, not encodable as UTF-8) is echoed in the reply:
    the reply used to kill the connection's writer, and the client never heard from it again."""
    srv, _ = fuzz_server

    async def main() -> list[dict[str, Any]]:
        async with websockets.connect(srv.url.replace("http", "ws", 1) + path) as ws:
            if path == "/ws":
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "welcome"
            key = "action" if path == "/ws" else "type"
            await ws.send(f'{{"{key}":"ping","id":"\\ud800"}}')
            await ws.send(f'{{"{key}":"ping","id":"after"}}')
            return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]

    first, second = asyncio.run(main())
    assert first["type"] == "pong" and first["id"] == "\ud800", first
    assert second["type"] == "pong" and second["id"] == "after"
