"""Who may drive the node: Origin, Host, tokens and scopes on every control surface
(issue 9, access). Real servers on 127.0.0.1, real HTTP and WebSocket clients, the real CLI;
the route-by-route scope check talks to the same app in this process (tests/inproc.py: the
same guard, reached as a loopback client). The browser's view of the same rules is in
test_browser_origin.py."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from conftest import ROOT, ServerProcess, start_server
from inproc import InProcessServer, inprocess
from websockets.exceptions import InvalidStatus

from ipfs_kit_py import access, errors, operations
from ipfs_kit_py.access import Caller, Scope
from ipfs_kit_py.high_level_api import IPFSSimpleAPI
from ipfs_kit_py.mcp import guard
from ipfs_kit_py.node import Node
from ipfs_kit_py.p2p import mcp_protocol
from ipfs_kit_py.tokens import TOKENS_FILE, TokenStore

WS_ROUTES = ["/ws", "/ws/notifications", "/ws/webrtc", "/webrtc"]
EVIL = "http://evil.example"


# -- helpers --------------------------------------------------------------------------------------
def port_of(srv: ServerProcess) -> int:
    return int(srv.url.rsplit(":", 1)[1])


def api(srv: ServerProcess | InProcessServer, path: str, *, token: str | None = None,
        headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if isinstance(srv, InProcessServer):
        return srv.client.post(f"/api/v0/{path}", headers=h, **kw)
    return httpx.post(f"{srv.url}/api/v0/{path}", headers=h, timeout=30, **kw)


def add(srv: ServerProcess | InProcessServer, data: bytes, token: str | None = None, name: str = "f.bin") -> str:
    r = api(srv, "add", token=token, files={"file": (name, data)})
    assert r.status_code == 200, r.text
    return json.loads(r.text.splitlines()[-1])["Hash"]


def pinned(srv: ServerProcess | InProcessServer, cid: str) -> bool:
    r = api(srv, "pin/ls", params={"arg": cid}, token=srv_secret(srv))
    return r.status_code == 200 and cid in r.json()["Keys"]


def srv_secret(srv: ServerProcess | InProcessServer) -> str:
    """The server's run secret (what the repo's owner and the CLI use)."""
    return (srv.repo / "api_secret").read_text().strip()


async def probe_ws(url: str, path: str, *, host: str | None = None, **kw: Any) -> tuple[int, str | None]:
    """Open a control WebSocket and exchange one message: (101, negotiated subprotocol)
    when it works, else (the handshake's HTTP status, None). ``host``: the Host header
    (the TCP connection still goes to the server)."""
    port = int(url.rsplit(":", 1)[1])
    uri = f"ws://{host or f'127.0.0.1:{port}'}{path}"
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        async with websockets.connect(uri, sock=sock, open_timeout=10, **kw) as ws:
            if path.split("?")[0] in ("/ws", "/ws/notifications"):
                welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert welcome["type"] == "welcome"
            else:
                await ws.send(json.dumps({"type": "ping", "id": 1}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"
            return 101, ws.subprotocol
    except InvalidStatus as e:
        return e.response.status_code, None
    finally:
        sock.close()


async def ws_call(url: str, action: str, *, token: str | None = None, **params: Any) -> dict[str, Any]:
    """One request on /ws: the reply (result or error)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with websockets.connect(url.replace("http", "ws") + "/ws", additional_headers=headers,
                                  open_timeout=10) as ws:
        await ws.recv()  # welcome
        await ws.send(json.dumps({"id": 1, "action": action, **params}))
        while True:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if reply.get("id") == 1:
                return reply


def cli(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "IPFS_KIT_TOKEN"} | (env or {})
    return subprocess.run([sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(repo), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, env=full_env)


# -- the decision itself ------------------------------------------------------------------------
def test_scopes_are_ordered_and_authorize_decides() -> None:
    assert Scope.READ < Scope.WRITE < Scope.ADMIN
    assert Scope.WRITE.granted() == {Scope.READ, Scope.WRITE}
    writer = Caller("http", Scope.WRITE.granted(), token_name="ci")
    access.authorize(writer, Scope.READ, "cat")
    access.authorize(writer, Scope.WRITE, "add")
    with pytest.raises(errors.Forbidden) as e:
        access.authorize(writer, Scope.ADMIN, "gc")
    assert e.value.status == 403 and e.value.code == "forbidden" and "token 'ci'" in str(e.value)
    with pytest.raises(errors.Forbidden):
        access.authorize(Caller("ws", access.NONE), Scope.READ, "subscribe")
    assert access.caller_of({"type": "websocket"}).scopes == access.NONE  # no guard: nothing allowed
    with pytest.raises(errors.InvalidArgument):
        Scope.parse("root")


def test_every_operation_and_api_route_has_a_scope(tmp_path: Path) -> None:
    W, A = Scope.WRITE, Scope.ADMIN
    assert {n: op.scope for n, op in operations.OPERATIONS.items() if op.scope is not Scope.READ} == {
        "pin_add": W, "pin_rm": W, "metadata_set": W, "add": W, "block_put": W, "gc": A,
        # the registry's further operations (the former route-only ones): the guard's scopes for their routes
        "block_rm": W, "dag_import": W, "transfer_via_libp2p": W, "fetch_via_libp2p": W, "bitswap_fetch": W,
        "transfer_cancel": W, "provide": W, "transfer_content": W, "swarm_connect": W, "repo_verify": A,
        "add_encrypted_media": W,
        # keys (private keys: admin), names and pubsub (issue 15)
        "key_gen": A, "key_rename": A, "key_rm": A, "key_import": A, "key_export": A, "key_sign": A,
        "name_publish": W, "name_put": W, "pubsub_pub": W, "name_pubsub_cancel": W,
        # MFS and node configuration (issue 14): settings, bootstrap, logging and shutdown are admin
        "files_mkdir": W, "files_write": W, "files_cp": W, "files_mv": W, "files_rm": W, "files_chcid": W,
        "pin_update": W, "dag_put": W, "swarm_disconnect": W, "swarm_peering_add": W, "swarm_peering_rm": W,
        "ping_peer": W, "config": A, "config_replace": A, "bootstrap_add": A, "bootstrap_rm": A,
        "log_level": A, "shutdown": A,
        # routing (ops/routing.py): storing DHT values and running the reprovider change what the network holds
        "routing_put": W, "reprovide": W}
    from ipfs_kit_py.mcp.server import create_app

    node = Node(tmp_path / "repo")
    try:
        app = create_app(node)
        routes = {r.path[len("/api/v0/"):] for r in app.routes if getattr(r, "path", "").startswith("/api/v0/")}
    finally:
        node.close()
    assert routes - set(guard.API_SCOPES) == set(), "give these /api/v0 routes a scope in mcp/guard.py"
    assert guard.API_SCOPES["repo/gc"] is Scope.ADMIN and guard.API_SCOPES["pin/rm"] is Scope.WRITE


async def test_operations_call_authorizes_before_running(tmp_path: Path) -> None:
    node = Node(tmp_path / "repo")
    try:
        added = await node.model.add_bytes(b"keep me", "k.txt")
        cid = str(added.cid)
        reader = Caller("ws", Scope.READ.granted(), token_name="r")
        assert (await operations.call(node.model, "stat", {"cid": cid}, reader))["cid"] == cid
        with pytest.raises(errors.Forbidden):
            await operations.call(node.model, "pin_rm", {"cid": cid}, reader)
        assert (cid, "recursive") in await node.model.pin_ls("all", cid)  # refused before it ran
        writer = Caller("ws", Scope.WRITE.granted(), token_name="w")
        with pytest.raises(errors.Forbidden):
            await operations.call(node.model, "gc", {}, writer)
        # libp2p: allowlisted peers get write (not admin), others read
        gc = await mcp_protocol.answer(node.model, access.peer_caller("peerA", {"peerA"}), b'{"action": "gc"}')
        assert gc["code"] == "forbidden" and "needs the admin scope" in gc["error"]
        rm = await mcp_protocol.answer(node.model, access.peer_caller("peerB", {"peerA"}), json.dumps({"action": "pin_rm", "cid": cid}).encode())
        assert rm["code"] == "forbidden" and "libp2p.mcp_allowlist" in rm["error"]
        ok = await mcp_protocol.answer(node.model, access.peer_caller("peerA", {"peerA"}), json.dumps({"action": "pin_rm", "cid": cid}).encode())
        assert ok == {"pins": [cid]}
    finally:
        node.close()


def test_token_store_keeps_hashes_in_a_private_file(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    secret = store.create("ci", "write")
    path = tmp_path / TOKENS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret not in path.read_text() and "ci" in path.read_text()
    info = store.verify(secret)
    assert info is not None and info.name == "ci" and info.scope is Scope.WRITE
    assert store.verify(secret + "x") is None and store.verify("") is None
    with pytest.raises(errors.InvalidArgument):
        store.create("ci", "read")  # names are unique
    with pytest.raises(errors.InvalidArgument):
        store.create("../evil", "read")
    other = TokenStore(tmp_path)  # another process (the server) sees the change
    assert other.any() and [t.name for t in other.list()] == ["ci"]
    store.remove("ci")
    assert other.verify(secret) is None and not other.any()
    with pytest.raises(errors.NotFound):
        store.remove("ci")


def test_policy_beyond_loopback_needs_a_token() -> None:
    # a server bound beyond loopback (require_token) refuses tokenless requests even with no token
    # stored; the test binds nothing beyond loopback, so the policy is checked directly
    policy = guard.AccessPolicy(bind_host="0.0.0.0", require_token=True)
    with pytest.raises(errors.Unauthenticated):
        policy.caller("http", None, None)
    assert guard.AccessPolicy().caller("http", None, None).scopes == access.ALL  # loopback, no token: as before
    assert not policy.origin_allowed("http://0.0.0.0:8000", 8000)


# -- Origin and Host on a loopback server without tokens ------------------------------------------
@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = start_server(tmp_path_factory.mktemp("access") / "repo")
    try:
        yield s
    finally:
        s.stop()


async def test_foreign_origin_refused_on_every_websocket(srv: ServerProcess) -> None:
    port = port_of(srv)
    for path in WS_ROUTES:
        for origin in (EVIL, "null", f"http://127.0.0.1:{port + 1}", f"http://localhost:{port}.evil.example"):
            assert (await probe_ws(srv.url, path, origin=origin))[0] == 403, (path, origin)
        for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"):
            assert (await probe_ws(srv.url, path, origin=origin))[0] == 101, (path, origin)
        assert (await probe_ws(srv.url, path))[0] == 101, path  # no Origin: not a browser


async def test_rebinding_host_refused_on_api_and_every_websocket(srv: ServerProcess) -> None:
    port = port_of(srv)
    cid = add(srv, b"a pin a rebinding page wants gone")
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        origin = f"http://{host}"
        r = api(srv, "pin/rm", params={"arg": cid}, headers={"Host": host, "Origin": origin})
        assert r.status_code == 403 and r.json()["Type"] == "error" and "Host" in r.json()["Message"]
        r = api(srv, "ipfs-kit/transfer", params={"arg": cid, "target": "http://127.0.0.1:9"},
                headers={"Host": host, "Origin": origin})
        assert r.status_code == 403
        r = api(srv, "version", headers={"Host": host})  # no Origin either: still the wrong Host
        assert r.status_code == 403
        for path in WS_ROUTES:
            assert (await probe_ws(srv.url, path, host=host, origin=origin))[0] == 403, (host, path)
    assert pinned(srv, cid)
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
        assert api(srv, "version", headers={"Host": host}).status_code == 200, host
        assert (await probe_ws(srv.url, "/ws", host=host))[0] == 101


def test_null_and_foreign_origin_refused_on_api(srv: ServerProcess) -> None:
    cid = add(srv, b"cross-origin target")
    for origin in ("null", EVIL, f"http://127.0.0.1:{port_of(srv) + 1}"):
        r = api(srv, "pin/rm", params={"arg": cid}, headers={"Origin": origin})
        assert r.status_code == 403 and "cross-origin" in r.json()["Message"]
        assert "access-control-allow-origin" not in r.headers
    assert pinned(srv, cid)
    ok = api(srv, "version", headers={"Origin": f"http://localhost:{port_of(srv)}"})
    assert ok.status_code == 200 and "access-control-allow-origin" not in ok.headers  # never on the API


def test_gateway_sends_cors_and_sandbox_and_is_open_to_any_host(srv: ServerProcess) -> None:
    page = b"<!doctype html><script>fetch('/api/v0/pin/ls', {method: 'POST'})</script>"
    cid = add(srv, page, name="index.html")
    r = httpx.get(f"{srv.url}/ipfs/{cid}", headers={"Host": "any.example"}, timeout=10)
    assert r.status_code == 200 and r.content == page
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    assert "X-Ipfs-Path" in r.headers["access-control-expose-headers"]
    csp = r.headers["content-security-policy"]
    assert csp.startswith("sandbox") and "allow-scripts" in csp and "allow-same-origin" not in csp
    pre = httpx.options(f"{srv.url}/ipfs/{cid}", headers={"Origin": EVIL, "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*"
    missing = httpx.get(f"{srv.url}/ipfs/bafkqaaa-not-a-cid", timeout=10)  # errors carry them too
    assert missing.status_code >= 400 and missing.headers["access-control-allow-origin"] == "*"


def test_configured_hosts_and_origins(tmp_path: Path) -> None:
    s = start_server(tmp_path / "repo", env={"IPFS_KIT_SERVER_ALLOWED_HOSTS": "node.example",
                                             "IPFS_KIT_SERVER_ALLOWED_ORIGINS": "http://app.example:3000"})
    try:
        port = port_of(s)
        assert api(s, "version", headers={"Host": f"node.example:{port}"}).status_code == 200
        assert api(s, "version", headers={"Host": f"other.example:{port}"}).status_code == 403
        for origin in ("http://app.example:3000", f"http://node.example:{port}"):
            assert api(s, "version", headers={"Origin": origin}).status_code == 200, origin
            assert asyncio.run(probe_ws(s.url, "/ws", origin=origin))[0] == 101, origin
        assert api(s, "version", headers={"Origin": "http://app.example:3001"}).status_code == 403
        # the configured application (another origin) gets CORS for its origin alone; nobody gets "*"
        app_ = {"Origin": "http://app.example:3000"}
        r = api(s, "version", headers=app_)
        assert r.headers["access-control-allow-origin"] == "http://app.example:3000" and r.headers["vary"] == "Origin"
        own = api(s, "version", headers={"Origin": f"http://node.example:{port}"})
        assert "access-control-allow-origin" not in own.headers  # same origin: no CORS needed
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        pre = httpx.options(f"{s.url}/api/v0/pin/rm", headers={**app_, **preflight}, timeout=10)
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == "http://app.example:3000"
        assert "Authorization" in pre.headers["access-control-allow-headers"]
        evil = httpx.options(f"{s.url}/api/v0/pin/rm", headers={"Origin": EVIL, **preflight}, timeout=10)
        assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
    finally:
        s.stop()


def test_gateway_listener_serves_only_the_gateway(tmp_path: Path) -> None:
    s = start_server(tmp_path / "repo", env={"IPFS_KIT_GATEWAY_LISTEN": "127.0.0.1:0"})
    try:
        gw = (s.repo / "gateway").read_text().strip()
        assert gw != s.url and gw.startswith("http://127.0.0.1:")
        cid = add(s, b"<!doctype html><p>hello</p>", name="index.html")
        r = httpx.get(f"{gw}/ipfs/{cid}", headers={"Host": "anything.example"}, timeout=10)
        assert r.status_code == 200 and r.content.endswith(b"hello</p>")
        assert r.headers["access-control-allow-origin"] == "*"
        assert "content-security-policy" not in r.headers  # its own origin: nothing to sandbox from
        for path in ("/api/v0/version", "/api/v0/pin/ls", "/webrtc/player", "/docs"):
            assert httpx.post(f"{gw}{path}", timeout=10).status_code == 404, path
        assert asyncio.run(probe_ws(gw, "/ws"))[0] == 404
        assert httpx.get(f"{s.url}/ipfs/{cid}", timeout=10).headers["content-security-policy"].startswith("sandbox")
    finally:
        s.stop()
    assert not (s.repo / "gateway").exists() and not (s.repo / "api_secret").exists()


def test_refuses_to_bind_beyond_loopback_without_tokens(tmp_path: Path) -> None:
    # refused before any socket is bound: nothing listens beyond loopback, even for a moment
    p = subprocess.run([sys.executable, "-m", "ipfs_kit_py.mcp.server", "--host", "0.0.0.0", "--port", "0",
                        "--repo", str(tmp_path / "repo")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 1 and "token create" in p.stderr and "--insecure" in p.stderr
    assert not (tmp_path / "repo" / "api").exists()


# -- tokens and scopes on every channel ---------------------------------------------------------
@pytest.fixture(scope="module")
def tsrv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A loopback server whose tokens are created by the CLI while it runs."""
    s = start_server(tmp_path_factory.mktemp("tokens") / "repo")
    try:
        secrets = {}
        for name, scope in (("reader", "read"), ("writer", "write"), ("admin", "admin")):
            p = cli(s.repo, "token", "create", name, "--scope", scope)
            assert p.returncode == 0, p.stderr
            secrets[name] = p.stdout.strip()
        yield s, secrets
    finally:
        s.stop()


@pytest.fixture(scope="module")
def tapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessServer, dict[str, str]]]:
    """The app in this process, its tokens created (in its repo, as the CLI does) while it runs."""
    for s in inprocess(tmp_path_factory.mktemp("tokens-app") / "repo"):
        store = TokenStore(s.repo)
        yield s, {name: store.create(name, scope) for name, scope in
                  (("reader", "read"), ("writer", "write"), ("admin", "admin"))}


def test_http_needs_a_token_with_the_route_scope(tapp: tuple[InProcessServer, dict[str, str]]) -> None:
    s, t = tapp
    cid = add(s, b"guarded content", token=t["writer"])
    none = api(s, "pin/ls")
    assert none.status_code == 401 and none.json()["Type"] == "error"
    assert none.headers["www-authenticate"].startswith("Bearer")
    assert api(s, "version", token="ipfskit_wrong").status_code == 401
    assert api(s, "pin/ls", headers={"Authorization": f"Basic {t['reader']}"}).status_code == 401
    assert api(s, "pin/ls", token=t["reader"]).status_code == 200
    assert api(s, "cat", params={"arg": cid}, token=t["reader"]).content == b"guarded content"
    for path in ("pin/rm", "add", "block/rm", "ipfs-kit/metadata/set", "repo/gc", "swarm/connect"):
        r = api(s, path, params={"arg": cid}, token=t["reader"])
        assert r.status_code == 403 and "scope" in r.json()["Message"], path
    assert api(s, "repo/gc", token=t["writer"]).status_code == 403
    assert pinned(s, cid)
    assert api(s, "repo/gc", token=t["admin"]).status_code == 200
    assert api(s, "pin/rm", params={"arg": cid}, token=t["writer"]).json() == {"Pins": [cid]}
    # every read route takes a read token (the route's own 4xx for missing args is fine)
    for route, scope in guard.API_SCOPES.items():
        code = api(s, route, token=t["reader"]).status_code
        assert (code == 403) == (scope is not Scope.READ), (route, code)
        assert code != 401


async def test_websockets_need_a_token_and_ops_their_scope(tsrv: tuple[ServerProcess, dict[str, str]]) -> None:
    s, t = tsrv
    for path in WS_ROUTES:
        assert (await probe_ws(s.url, path))[0] == 401, path
        assert (await probe_ws(s.url, path, additional_headers={"Authorization": "Bearer nope"}))[0] == 401
        assert (await probe_ws(s.url, path, additional_headers={"Authorization": f"Bearer {t['reader']}"}))[0] == 101
        # browsers: the token as a subprotocol entry, with "ipfs-kit" chosen (the token is not echoed)
        both = await probe_ws(s.url, path, subprotocols=["ipfs-kit", f"ipfs-kit-token.{t['reader']}"])
        assert both == (101, "ipfs-kit"), path
        alone = await probe_ws(s.url, path, subprotocols=[f"ipfs-kit-token.{t['reader']}"])
        assert alone == (101, f"ipfs-kit-token.{t['reader']}"), path
        assert (await probe_ws(s.url, f"{path}?token={t['reader']}"))[0] == 101, path
        assert (await probe_ws(s.url, f"{path}?a=1&token=not-a-token-42"))[0] == 401, path
        assert (await probe_ws(s.url, path, origin=EVIL,
                               additional_headers={"Authorization": f"Bearer {t['admin']}"}))[0] == 403
    log = s.log.read_text()
    assert "?token=" not in log and t["reader"] not in log and "not-a-token-42" not in log  # never logged
    assert "ASGI callable returned without completing handshake" not in log  # refusals are no errors
    cid = add(s, b"ws scopes", token=t["writer"])
    assert (await ws_call(s.url, "pin_ls", token=t["reader"], cid=cid))["type"] == "result"
    denied = await ws_call(s.url, "pin_rm", token=t["reader"], cid=cid)
    assert denied["type"] == "error" and denied["code"] == "forbidden"
    assert (await ws_call(s.url, "gc", token=t["writer"]))["code"] == "forbidden"
    assert (await ws_call(s.url, "gc", token=t["admin"]))["type"] == "result"
    content = base64.b64encode(b"from a reader").decode()
    assert (await ws_call(s.url, "add", token=t["reader"], content=content))["code"] == "forbidden"
    assert (await ws_call(s.url, "add", token=t["writer"], content=content))["type"] == "result"
    # dag_import (write): refused to a reader, the connection stays usable
    headers = {"Authorization": f"Bearer {t['reader']}"}
    async with websockets.connect(s.url.replace("http", "ws") + "/ws", additional_headers=headers) as ws:
        await ws.recv()
        await ws.send(json.dumps({"id": 5, "action": "dag_import"}))
        await ws.send(b"\x00" * 100)
        await ws.send(b"")
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply["id"] == 5 and reply["code"] == "forbidden"
        await ws.send(json.dumps({"id": 6, "action": "stat", "cid": cid}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["id"] == 6
    assert pinned(s, cid)


async def test_python_client_sends_its_token_on_every_channel(tsrv: tuple[ServerProcess, dict[str, str]]) -> None:
    s, t = tsrv
    async with IPFSSimpleAPI(s.url, token="") as anonymous:  # "" : no token, whatever the environment says
        with pytest.raises(errors.Unauthenticated):
            await anonymous.version()
    async with IPFSSimpleAPI(s.url, token=t["reader"]) as reader:
        with pytest.raises(errors.Forbidden):
            await reader.add(b"not allowed")
    async with IPFSSimpleAPI(s.url, token=t["writer"]) as api_:
        events: list[dict[str, Any]] = []
        got = asyncio.Event()
        sub = await api_.subscribe_to_notifications(lambda e: (events.append(e), got.set()), ["content_added"])
        added = await api_.add(b"through the python client", name="py.txt")
        assert await api_.cat(added.cid) == b"through the python client"
        await asyncio.wait_for(got.wait(), 10)
        assert any(e["data"].get("cid") == added.cid for e in events)
        await sub.stop()
        from ipfs_kit_py.client.streaming import Signaling
        from ipfs_kit_py.client.ws_rpc import GeneralChannel

        async with GeneralChannel(s.url, token=t["writer"]) as ws:
            assert (await ws.request("stat", cid=added.cid))["cid"] == added.cid
        sig = await Signaling.connect(s.url, token=t["reader"])
        try:
            assert (await sig.request({"type": "ping"}))["type"] == "pong"
        finally:
            await sig.close()
        with pytest.raises(errors.ChannelUnavailable):
            await Signaling.connect(s.url)


def test_cli_tokens_and_revocation(tsrv: tuple[ServerProcess, dict[str, str]]) -> None:
    s, t = tsrv
    p = cli(s.repo, "token", "ls")
    assert p.returncode == 0
    assert [line.split("\t")[:2] for line in p.stdout.splitlines()] == [
        ["reader", "read"], ["writer", "write"], ["admin", "admin"]]
    assert all(secret not in (s.repo / TOKENS_FILE).read_text() for secret in t.values())
    assert stat.S_IMODE((s.repo / TOKENS_FILE).stat().st_mode) == 0o600
    # the repo's own CLI reaches its server with the run secret; another server needs --token
    assert cli(s.repo, "version").returncode == 0
    out = cli(s.repo, "--api", s.url, "version")
    assert out.returncode == 1 and "token" in out.stderr
    assert cli(s.repo, "--api", s.url, "--token", t["reader"], "pin", "ls").returncode == 0
    assert cli(s.repo, "--api", s.url, "pin", "ls", env={"IPFS_KIT_TOKEN": t["reader"]}).returncode == 0
    denied = cli(s.repo, "--api", s.url, "--token", t["reader"], "repo", "gc")
    assert denied.returncode == 1 and "admin scope" in denied.stderr
    # revocation works on the running server at once
    extra = cli(s.repo, "token", "create", "temp", "--scope", "read").stdout.strip()
    assert api(s, "version", token=extra).status_code == 200
    assert cli(s.repo, "token", "rm", "temp").stdout.strip() == "removed token temp"
    assert api(s, "version", token=extra).status_code == 401
    assert cli(s.repo, "token", "rm", "temp").returncode == 1
    assert cli(s.repo, "token", "create", "bad", "--scope", "root").returncode == 1


def test_connectivity_check_sends_the_token(tsrv: tuple[ServerProcess, dict[str, str]]) -> None:
    s, t = tsrv
    own = cli(s.repo, "check", "--http", "--websocket", "--json")  # the repo's server: its run secret
    assert own.returncode == 0, own.stdout + own.stderr
    anonymous = cli(s.repo, "--api", s.url, "check", "--http", "--json")
    assert anonymous.returncode == 1 and "--token" in json.loads(anonymous.stdout)["checks"][0]["advice"]
    writer = cli(s.repo, "--api", s.url, "--token", t["writer"], "check", "--http", "--websocket", "--json")
    assert writer.returncode == 0, writer.stdout
