"""The registry drives every channel: each operation answers on HTTP (/api/v0), /ws,
the libp2p /ipfs-kit/mcp/1.0.0 protocol and the CLI (where it declares a command)
with the same meaning, and every /api/v0 route of the app belongs to an operation.

One real server (libp2p on, this test's peer on its allowlist); each operation is
probed on every channel with the same parameters, and the answers are compared:
the same result (the Kubo shape over HTTP, the typed shape elsewhere) or the same
error (one code; over HTTP the status of that code).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tarfile
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from conftest import ServerProcess, start_server, stream_bytes

from ipfs_kit_py import errors, registry
from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer
from ipfs_kit_py.registry import Upload

MISSING = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"  # never stored
NO_PEER = "/ip4/127.0.0.1/tcp/1"  # a multiaddr without /p2p/<id>: refused before any dial


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Probe:
    params: dict[str, Any]
    error: str | None = None  # the error code every channel must answer with
    # (http answer, typed JSON answer) -> None; asserts they mean the same
    same: Callable[[Any, Any], None] | None = None
    http_error_line: bool = False  # Kubo reports this error inside a 200 NDJSON line (block/rm)
    upload: bytes | None = None  # the Upload's bytes (multipart part over HTTP, frames over /ws)
    extra: dict[str, Any] = field(default_factory=dict)
    skip: str = ""  # why this operation is not probed here (tested in its own file)


@dataclass
class World:
    srv: ServerProcess
    data: bytes
    cid: str
    block: bytes
    block_cid: str
    car: bytes
    peer: IPFSLibp2pPeer
    info: dict[str, Any]


def probes(w: World) -> dict[str, Probe]:
    tar_of = w.data

    def tar_file(raw: bytes) -> bytes:
        with tarfile.open(fileobj=io.BytesIO(raw)) as t:
            member = t.getmembers()[0]
            f = t.extractfile(member)
            assert f is not None and member.name == w.cid
            return f.read()

    return {
        "add": Probe({"name": "parity.txt"}, upload=b"parity add",
                     same=lambda h, t: _eq(h[-1]["Hash"], t["cid"])),
        "cat": Probe({"cid": w.cid}, same=lambda h, t: _eq(h, base64.b64decode(t["content"])) or _eq(h, w.data)),
        "get_content": Probe({"cid": w.cid}, same=lambda h, t: _eq(base64.b64decode(t["content"]), w.data)),
        "get": Probe({"cid": w.cid}, same=lambda h, t: _eq(tar_file(h), tar_file(base64.b64decode(t["content"])))
                     or _eq(tar_file(h), tar_of)),
        "ls": Probe({"cid": w.cid}, same=lambda h, t: _eq([x["Hash"] for x in h["Objects"][0]["Links"]],
                                                          [x["cid"] for x in t["links"]])),
        "stat": Probe({"cid": f"/ipfs/{w.cid}"}, same=lambda h, t: _eq(
            (h["Hash"], h["Size"], h["CumulativeSize"], h["Type"]), (t["cid"], t["size"], t["cumulative_size"], t["type"]))),
        "pin_add": Probe({"cid": w.block_cid, "recursive": False}, same=lambda h, t: _eq(h["Pins"], t["pins"])),
        "pin_rm": Probe({"cid": MISSING}, error="not_found"),
        "pin_ls": Probe({"cid": w.cid}, same=lambda h, t: _eq(
            {c: v["Type"] for c, v in h["Keys"].items()}, {p["cid"]: p["type"] for p in t["pins"]})),
        "metadata_get": Probe({"cid": w.cid}, same=lambda h, t: _eq(h, t)),
        "metadata_set": Probe({"cid": w.cid, "values": {"parity": 1}}, same=lambda h, t: _eq(h["user"], t["user"])),
        "block_get": Probe({"cid": w.block_cid}, same=lambda h, t: _eq(h, base64.b64decode(t["data"]))),
        "block_put": Probe({}, upload=b"parity block", same=lambda h, t: _eq((h[0]["Key"], h[0]["Size"]),
                                                                             (t["cid"], t["size"]))),
        "block_stat": Probe({"cid": w.block_cid}, same=lambda h, t: _eq((h["Key"], h["Size"]), (t["cid"], t["size"]))),
        "block_rm": Probe({"cid": MISSING}, error="block_not_found", http_error_line=True),
        "dag_export": Probe({"cid": w.cid}, same=lambda h, t: _eq(h, base64.b64decode(t["content"])) or _eq(h, w.car)),
        "dag_import": Probe({}, upload=w.car, same=lambda h, t: _eq([r["Root"]["Cid"]["/"] for r in h], t["roots"])),
        "gc": Probe({}, same=lambda h, t: _eq(isinstance(h, list), isinstance(t["removed"], list))),
        "repo_stat": Probe({}, same=lambda h, t: _eq(h["RepoPath"], t["repo_path"])),
        "repo_verify": Probe({}, same=lambda h, t: _eq(h[-1]["Msg"], "verify complete, all blocks validated.")
                             or _eq(t["corrupt"], [])),
        "id": Probe({}, same=lambda h, t: _eq((h["ID"], h["Addresses"]), (t["id"], t["addresses"]))),
        "version": Probe({}, same=lambda h, t: _eq(h["Version"], t["version"])),
        # an SFrame package needs H.264: the parity content is not media (success: test_webrtc_sframe)
        "add_encrypted_media": Probe({"cid": w.cid}, error="invalid_argument"),
        "cid_format": Probe({"cid": w.cid, "format": "%P %s", "base": "base32"},
                            same=lambda h, t: _eq(h[0]["Formatted"], t["formatted"])),
        "swarm_connect": Probe({"address": NO_PEER}, error="invalid_argument"),
        "swarm_peers": Probe({}, same=lambda h, t: _eq(isinstance(h["Peers"], list), isinstance(t["peers"], list))),
        "transfer_via_libp2p": Probe({"cid": w.cid, "target_peer": NO_PEER}, error="invalid_argument"),
        "fetch_via_libp2p": Probe({"cid": w.cid, "source_peer": NO_PEER}, error="invalid_argument"),
        "bitswap_fetch": Probe({"cid": w.cid, "peer": NO_PEER}, error="invalid_argument"),
        "transfer_cancel": Probe({"transfer_id": "no-such-transfer"}, error="not_found"),
        "transfers": Probe({}, same=lambda h, t: _eq(h, t)),
        "bitswap_stat": Probe({}, same=lambda h, t: _eq(h["Peers"], t["peers"]) or _eq(h["Wantlist"], [])),
        "bitswap_wantlist": Probe({}, same=lambda h, t: _eq(h["Keys"], t["keys"])),
        "bitswap_ledger": Probe({"peer": w.info["ID"]}, same=lambda h, t: _eq(h["Peer"], t["peer"])
                                or _eq(h["Recv"], t["recv"])),
        "peer_reputation": Probe({}, same=lambda h, t: _eq(h["Peers"], t["peers"])),
        # routing (ops/routing.py); their successes between two servers: tests/test_routing_network.py
        "find_providers": Probe({"cid": "not-a-cid"}, error="invalid_cid"),
        "find_peer": Probe({"peer": w.info["ID"]}, error="invalid_argument"),  # ourselves: refused, as Kubo
        "provide": Probe({"cid": MISSING}, error="not_found"),
        "routing_get": Probe({"key": "/foo/bar"}, error="invalid_argument"),
        "routing_put": Probe({"key": f"/pk/{w.info['ID']}"}, upload=b"not a public key", error="invalid_argument"),
        "provide_stat": Probe({}, same=lambda h, t: _eq((h["Strategy"], h["Legacy"]["ReprovideInterval"]),
                                                         (t["strategy"], t["interval_ns"]))),
        "reprovide": Probe({}, same=lambda h, t: _eq(h, b"") or _eq(t["total_reprovides"] >= 1, True)),
        "transfer_content": Probe({"cid": MISSING, "target": "http://127.0.0.1:1"}, error="block_not_found"),
        # keys and IPNS (ops/names.py)
        "key_gen": Probe({"name": "self"}, error="invalid_argument"),
        "key_list": Probe({}, same=lambda h, t: _eq([k["Id"] for k in h["Keys"]], [k["id"] for k in t["keys"]])),
        "key_rename": Probe({"old": "self", "new": "x"}, error="invalid_argument"),
        "key_rm": Probe({"name": "self"}, error="invalid_argument"),
        "key_import": Probe({"name": "imported"}, upload=b"not a key", error="invalid_argument"),
        "key_export": Probe({"name": "no-such-key"}, error="not_found"),
        "key_sign": Probe({"key": "no-such-key"}, upload=b"data", error="not_found"),
        "key_verify": Probe({"signature": "!nope"}, upload=b"data", error="invalid_argument"),
        "name_publish": Probe({"path": "/nope/x"}, error="invalid_argument"),
        "name_resolve": Probe({"name": "not-a-name"}, error="invalid_argument"),
        "name_get": Probe({"name": "not-a-name"}, error="invalid_argument"),
        "name_put": Probe({"name": "not-a-name"}, upload=b"record", error="invalid_argument"),
        "name_inspect": Probe({}, upload=b"\x0a\xff", error="invalid_argument"),
        "name_pubsub_state": Probe({}, same=lambda h, t: _eq(h["Enabled"], t["enabled"])),
        "name_pubsub_subs": Probe({}, error="invalid_argument"),  # ipns.use_pubsub is off here
        "name_pubsub_cancel": Probe({"name": "not-a-name"}, error="invalid_argument"),
        # pubsub (ops/pubsub.py; topics are multibase on /api/v0, plain elsewhere)
        "pubsub_pub": Probe({"topic": ""}, upload=b"m", error="invalid_argument"),
        "pubsub_sub": Probe({"topic": ""}, error="invalid_argument"),
        "pubsub_ls": Probe({}, same=lambda h, t: _eq(len(h["Strings"]), len(t["topics"]))),
        "pubsub_peers": Probe({}, same=lambda h, t: _eq(h["Strings"], t["peers"])),
        **kubo_rpc_probes(w),
    }


SOME_PEER = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"


def kubo_rpc_probes(w: World) -> dict[str, Probe]:
    """Issue 14's operations (ops/mfs.py, ops/kubo_extra.py); MFS probes leave the tree as they found it."""
    return {
        "files_mkdir": Probe({"path": "/parity", "parents": True}, same=lambda h, t: _eq(h, b"")),
        # the same bytes over the same bytes, in place: every channel ends with the same tree
        # (with truncate, each write would leave Kubo's empty first leaf and a new CID)
        "files_write": Probe({"path": "/parity/w", "create": True}, upload=b"parity write",
                             same=lambda h, t: _eq(h, b"")),
        "files_read": Probe({"path": "/parity/w"}, same=lambda h, t: _eq(h, base64.b64decode(t["content"]))),
        "files_ls": Probe({"path": "/parity", "long": True}, same=lambda h, t: _eq(
            [(e["Name"], e["Hash"]) for e in h["Entries"]], [(e["name"], e["cid"]) for e in t["entries"]])),
        "files_stat": Probe({"path": f"/ipfs/{w.cid}"}, same=lambda h, t: _eq(
            (h["Hash"], h["Size"], h["CumulativeSize"], h["Type"]), (t["cid"], t["size"], t["cumulative_size"], t["type"]))),
        "files_cp": Probe({"source": f"/ipfs/{w.cid}", "dest": "/parity/w"}, error="invalid_argument"),
        "files_mv": Probe({"source": "/nope", "dest": "/parity/x"}, error="not_found"),
        "files_rm": Probe({"path": "/nope", "force": True}, same=lambda h, t: _eq(h, b"")),
        "files_flush": Probe({"path": "/parity"}, same=lambda h, t: _eq(h["Cid"], t["cid"])),
        "files_chcid": Probe({"path": "/parity"}, same=lambda h, t: _eq(h, b"")),
        "config_show": Probe({}, same=lambda h, t: _eq(h, t["config"])),
        "config": Probe({"key": "Bootstrap"}, same=lambda h, t: _eq((h["Key"], h["Value"]), (t["key"], t["value"]))),
        "config_replace": Probe({}, upload=b"{}", same=lambda h, t: _eq(h, {})),
        "pin_update": Probe({"from_": MISSING, "to": w.cid}, error="invalid_argument"),
        "pin_verify": Probe({}, same=lambda h, t: _eq(len(h), len(t["pins"]))),
        "resolve": Probe({"path": f"/ipfs/{w.cid}"}, same=lambda h, t: _eq(h["Path"], t["path"])),
        "refs": Probe({"path": w.cid}, same=lambda h, t: _eq([r["Ref"] for r in h], t["refs"])),
        "refs_local": Probe({}, same=lambda h, t: _eq(sorted(r["Ref"] for r in h), sorted(t["refs"]))),
        "dag_get": Probe({"path": w.cid}, same=lambda h, t: _eq(json.loads(h), t["node"])
                         or _eq(h, base64.b64decode(t["data"]))),
        "dag_put": Probe({"store_codec": "dag-cbor"}, upload=b'{"parity": [1, {"/": "%s"}]}' % w.cid.encode(),
                         same=lambda h, t: _eq(h[0]["Cid"]["/"], t["cid"])),
        "dag_resolve": Probe({"path": w.cid}, same=lambda h, t: _eq(h["Cid"]["/"], t["cid"])),
        # Kubo streams a line per block (progress), then the summary
        "dag_stat": Probe({"path": w.cid}, same=lambda h, t: _eq(h[-1]["TotalSize"], t["size"])),
        "cid_base32": Probe({"cid": w.cid}, same=lambda h, t: _eq(h[0]["Formatted"], t["formatted"])),
        "cid_codecs": Probe({}, same=lambda h, t: _eq(len(h), len(t["codecs"]))),
        "multibase_encode": Probe({"base": "base32"}, upload=b"parity",
                                  same=lambda h, t: _eq(h.decode(), t["text"])),
        "multibase_decode": Probe({}, upload=b"mcGFyaXR5", same=lambda h, t: _eq(h, base64.b64decode(t["data"]))),
        "bootstrap_list": Probe({}, same=lambda h, t: _eq(h["Peers"], t["peers"])),
        "bootstrap_add": Probe({"address": NO_PEER}, error="invalid_argument"),
        "bootstrap_rm": Probe({"address": SOME_PEER}, same=lambda h, t: _eq(h["Peers"], t["peers"])),
        "swarm_addrs_local": Probe({}, same=lambda h, t: _eq(h["Strings"], t["strings"])),
        # the swarm (ops/swarm.py): this test's own peer stays connected, so nothing disconnects it
        "swarm_addrs_listen": Probe({}, same=lambda h, t: _eq(h["Strings"], t["strings"])),
        "swarm_addrs": Probe({}, same=lambda h, t: _eq(h["Addrs"], t["addrs"])),
        "swarm_disconnect": Probe({"address": "not-a-peer"}, error="invalid_argument"),
        "swarm_peering_add": Probe({"address": NO_PEER}, error="invalid_argument"),
        "swarm_peering_ls": Probe({}, same=lambda h, t: _eq(h["Peers"], t["peers"])),
        "swarm_peering_rm": Probe({"peer": SOME_PEER.rsplit("/", 1)[1]},
                                  same=lambda h, t: _eq((h[0]["ID"], h[0]["Status"]), (t["id"], t["status"]))),
        "ping_peer": Probe({"peer": w.info["ID"]}, error="invalid_argument"),  # ourselves: refused, as Kubo
        "stats_bw": Probe({}, same=lambda h, t: _eq(set(h[0]), {"TotalIn", "TotalOut", "RateIn", "RateOut"})
                          or _eq(set(t), {"total_in", "total_out", "rate_in", "rate_out"})),
        "stats_bitswap": Probe({}, same=lambda h, t: _eq(h["Peers"], t["peers"])),
        "log_level": Probe({"subsystem": "all", "level": "nope"}, error="invalid_argument"),
        "shutdown": Probe({}, skip="it stops the server: tests/test_kubo_rpc_extra.py"),
        "stats_repo": Probe({}, same=lambda h, t: _eq(h["RepoPath"], t["repo_path"])),
    }


def _eq(a: Any, b: Any) -> None:
    assert a == b, (a, b)


# -- the four channels ------------------------------------------------------------------------------
def http_call(w: World, op: registry.Operation[Any, Any], p: Probe) -> tuple[int, Any]:
    assert op.kubo is not None
    query: list[tuple[str, str]] = []
    body: dict[str, Any] = {}
    for spec in op.param_specs:
        if spec.name not in p.params:
            continue
        v = p.params[spec.name]
        if spec.kind is dict:
            body["content"] = json.dumps(v)
            continue
        query.append((spec.kubo, ("true" if v else "false") if isinstance(v, bool) else str(v)))
    if p.upload is not None:
        body["files"] = {"file": ("parity.txt", p.upload)}
    r = httpx.post(f"{w.srv.url}/api/v0/{op.kubo.path}", params=query, timeout=60, **body)
    ctype = r.headers.get("content-type", "")
    if r.status_code != 200 or ctype.startswith("application/json") and "X-Chunked-Output" not in r.headers:
        return r.status_code, r.json()
    if "X-Chunked-Output" in r.headers:
        return r.status_code, [json.loads(line) for line in r.text.splitlines() if line.strip()]
    return r.status_code, r.content


async def ws_call(w: World, name: str, p: Probe) -> dict[str, Any]:
    url = w.srv.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, max_size=None) as ws:
        welcome = json.loads(await ws.recv())
        assert name in welcome["actions"]
        params = dict(p.params)
        op = registry.get(name)
        if p.upload is not None and not op.frames:
            params[op.data_field or ""] = b64(p.upload)
        await ws.send(json.dumps({"id": 1, "action": name, **params}))
        if p.upload is not None and op.frames:
            await ws.send(p.upload)
            await ws.send(b"")
        frames = b""
        streamed = False
        while True:
            msg = await asyncio.wait_for(ws.recv(), 60)
            if isinstance(msg, bytes):
                frames += msg
                continue
            reply = json.loads(msg)
            if reply.get("type") == "content":
                streamed = True
            elif reply.get("type") in ("result", "error"):
                assert reply["id"] == 1
                if reply["type"] == "result" and streamed:  # the same JSON as the inline form
                    return {"type": "result", "result": {**reply["result"], "content": b64(frames)}}
                return reply


async def libp2p_call(w: World, name: str, p: Probe) -> dict[str, Any]:
    params = dict(p.params)
    if p.upload is not None:
        params[registry.get(name).data_field or ""] = b64(p.upload)
    stream = await w.peer.new_stream(w.info["ID"], "/ipfs-kit/mcp/1.0.0")
    await stream.write(json.dumps({"action": name, "params": params}).encode())
    await stream.close()
    return json.loads(await stream.read(10 * 1024 * 1024))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("parity")
    peer = IPFSLibp2pPeer(identity_dir=tmp / "client-id", role="leecher")
    srv = start_server(tmp / "repo", env={"IPFS_KIT_LIBP2P_MCP_ALLOWLIST": peer.get_id()})
    try:
        data = stream_bytes(300_000)  # two chunks: a DAG with links
        cid = httpx.post(f"{srv.url}/api/v0/add", files={"file": ("parity.bin", data)}, timeout=30).json()["Hash"]
        block = b"parity raw block"
        block_cid = httpx.post(f"{srv.url}/api/v0/block/put", params={"pin": "true"},
                               files={"file": ("b", block)}, timeout=30).json()["Key"]
        car = httpx.post(f"{srv.url}/api/v0/dag/export", params={"arg": cid}, timeout=30).content
        info = httpx.post(f"{srv.url}/api/v0/id", timeout=10).json()
        yield World(srv, data, cid, block, block_cid, car, peer, info)
    finally:
        srv.stop()


async def test_every_operation_means_the_same_on_every_channel(world: World) -> None:
    table = probes(world)
    assert set(table) == set(registry.OPERATIONS), "every operation needs a probe here"
    await world.peer.connect_to_peer(world.info["ID"], world.info["Addresses"][0])
    order = sorted(table, key=lambda n: n == "gc")  # gc last: it must not take blocks the others read
    for name in order:
        op, p = registry.get(name), table[name]
        if p.skip:
            continue
        answers: dict[str, Any] = {}
        if "http" in op.channels:
            status, answer = await asyncio.to_thread(http_call, world, op, p)
            if p.error is not None and p.http_error_line:
                assert status == 200 and answer[0]["Error"], (name, answer)
            elif p.error is not None:
                assert status == errors.BY_CODE[p.error].status, (name, status, answer)
                assert answer["Type"] == "error", (name, answer)
            else:
                assert status == 200, (name, status, answer)
                answers["http"] = answer
        for channel, call in (("ws", ws_call), ("libp2p", libp2p_call)):
            if channel not in op.channels:
                continue
            async with asyncio.timeout(60):
                reply = await call(world, name, p)
            if channel == "ws":
                if p.error is not None:
                    assert reply["type"] == "error" and reply["code"] == p.error, (name, channel, reply)
                    continue
                assert reply["type"] == "result", (name, channel, reply)
                reply = reply["result"]
            elif p.error is not None:
                assert reply.get("code") == p.error, (name, channel, reply)
                continue
            assert "error" not in reply, (name, channel, reply)
            if name == "id":  # each channel lists the operations it offers
                assert reply["operations"] == registry.names(channel), (channel, reply["operations"])
            answers[channel] = reply
        if p.error is None:
            assert answers, name
            typed = [a for c, a in answers.items() if c != "http"]
            for other in typed[1:]:  # /ws and libp2p mcp answer in the one typed shape
                _same_typed(name, typed[0], other)
            if p.same is not None and "http" in answers:
                for t in typed:
                    p.same(answers["http"], t)


_PROVIDE_RUN_FIELDS = {"running", "running_since", "running_provided", "next_run", "total_reprovides", "last_batch_size",
                       "last_reprovide_failed", "total_provides", "avg_duration_ns", "last_duration_ns", "last_run",
                       "errors"}


def _same_typed(name: str, a: dict[str, Any], b: dict[str, Any]) -> None:
    # id's "operations": what the asking channel offers (checked against the registry below)
    volatile = {"add": {"cid"}, "metadata_set": {"added"}, "gc": {"removed"}, "swarm_peers": {"peers"},
                "id": {"operations"}, "stats_bw": {"total_in", "total_out", "rate_in", "rate_out"},
                # each channel's call ran the reprovider once more
                "reprovide": {"total_reprovides"}, "provide_stat": _PROVIDE_RUN_FIELDS}
    if name in ("block_put", "add", "dag_import"):  # each channel uploaded the same bytes: same CIDs
        volatile = {}
    skip = volatile.get(name, set())
    assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}, name


def test_every_api_route_belongs_to_an_operation(tmp_path: Path) -> None:
    from ipfs_kit_py.app import create_app
    from ipfs_kit_py.node import Node

    node = Node(tmp_path / "repo")
    try:
        app = create_app(node)
        routes = {(r.path, m) for r in app.routes for m in getattr(r, "methods", ()) or ()}
    finally:
        node.close()
    posted = {path for path, m in routes if path.startswith("/api/v0/") and m == "POST"}
    kubo_paths = {f"/api/v0/{path}" for op in registry.OPERATIONS.values() if op.kubo is not None
                  for path in op.kubo.paths}
    assert posted == kubo_paths  # no hand-written /api/v0 route (the routing verbs were the last ones)
    # one operation per path (an alias, such as Kubo's legacy dht/findprovs, belongs to one operation too)
    assert len(kubo_paths) == sum(len(op.kubo.paths) for op in registry.OPERATIONS.values() if op.kubo is not None)
    assert {"/api/v0/dht/findprovs", "/api/v0/stats/provide", "/api/v0/routing/reprovide"} <= posted
    # every operation: a summary, a scope, typed parameters; every parameter documented to Kubo by name
    for op in registry.OPERATIONS.values():
        assert op.summary and op.scope in registry.Scope, op.name
        for spec in op.param_specs:
            assert spec.kind in (str, int, bool, dict, bytes, Upload), (op.name, spec)


def test_every_declared_cli_command_exists() -> None:
    import typer

    from ipfs_kit_py.cli import app

    root = typer.main.get_command(app)
    for op in registry.OPERATIONS.values():
        if op.cli is None:
            continue
        cmd: Any = root
        for word in op.cli.split():  # (registry commands are built when first asked for: get_command)
            ctx = typer.Context(cmd)
            assert word in cmd.list_commands(ctx), (op.name, op.cli)
            cmd = cmd.get_command(ctx, word)
            assert cmd is not None, (op.name, op.cli)


def test_cli_runs_the_registry_on_the_server_and_in_process(world: World, tmp_path: Path) -> None:
    """``ipfs-kit cid format`` (generated from the registry) through the running server and on a
    repo with no server: the same output as the HTTP route."""
    from ipfs_kit_py.cli import main

    def cli(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        with redirect_stdout(out):
            rc = main(list(argv))
        return rc, out.getvalue()

    http = httpx.post(f"{world.srv.url}/api/v0/cid/format",
                      params={"arg": world.cid, "f": "%P %s", "b": "base32"}, timeout=10).json()["Formatted"]
    assert cli("--api", world.srv.url, "cid", "format", "-f", "%P %s", "-b", "base32", world.cid) == (0, http + "\n")
    assert cli("--repo", str(tmp_path / "offline"), "cid", "format", "-f", "%P %s", "-b", "base32",
               world.cid) == (0, http + "\n")
    # and the hand-written commands declared by operations go through the same routes
    rc, out = cli("--api", world.srv.url, "block", "stat", world.block_cid)
    assert rc == 0 and world.block_cid in out and str(len(world.block)) in out
    # a generated command with Kubo's per-line errors: block rm
    loose = httpx.post(f"{world.srv.url}/api/v0/block/put", files={"file": ("b", b"parity cli rm")},
                       timeout=30).json()["Key"]
    assert cli("--api", world.srv.url, "block", "rm", loose) == (0, f"removed {loose}\n")
    assert cli("--api", world.srv.url, "block", "rm", loose)[0] == 1  # gone: its error line, exit 1


def test_a_bad_boolean_is_a_400_on_every_route(world: World) -> None:
    """Kubo's query rules on every generated route: before the registry, the libp2p and
    transfer routes read ``?pin=maybe`` as false and went ahead."""
    table = probes(world)
    checked = []
    for op in registry.OPERATIONS.values():
        bools = [s for s in op.param_specs if s.kind is bool]
        if op.kubo is None or not bools:
            continue
        for spec in bools:
            p = table[op.name]
            probe = Probe({**p.params, spec.name: "maybe"}, upload=p.upload)
            query = []
            for s in op.param_specs:
                if s.name in probe.params and s.kind is not dict:
                    query.append((s.kubo, str(probe.params[s.name]).lower()))
            kw: dict[str, Any] = {}
            if probe.upload is not None:
                kw["files"] = {"file": ("f", probe.upload)}
            if any(s.kind is dict for s in op.param_specs):
                kw["content"] = json.dumps(p.params.get("values", {}))
            r = httpx.post(f"{world.srv.url}/api/v0/{op.kubo.path}", params=query, timeout=30, **kw)
            assert r.status_code == 400 and "not a boolean" in r.json()["Message"], (op.name, spec.name, r.text)
            checked.append(f"{op.kubo.path}?{spec.kubo}")
    assert "libp2p/transfer?pin" in checked and "libp2p/bitswap/fetch?pin" in checked and "add?pin" in checked
