"""The Kubo-compatible /api/v0 RPC against the real server application.

Most tests talk to the app in this process through httpx's ASGI transport (tests/inproc.py:
the same composition as ``python -m ipfs_kit_py.mcp.server``, the same access guard). The
ones where the socket is the point run against the server process on 127.0.0.1: a client
that dies or stalls mid-upload, a response cut mid-stream, the process's memory over a 64 MiB
add and cat."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import tarfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from conftest import VECTORS, ServerProcess, start_server, stream_bytes
from inproc import InProcessServer, running

from ipfs_kit_py.content.car import read_car

DATA = json.loads(VECTORS.read_text())
SMALL = [f for f in DATA["files"] if f["size"] <= 1_048_577]
TWO_LEVEL = next(f for f in DATA["files"] if f["name"] == "174x256KiB_plus_1")
TESTDIR = DATA["directories"][0]
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # "hello world\n"
MISSING = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyka"  # valid CID, never stored
# query options giving each profile: Kubo's own flags where they exist
PROFILE_ARGS = {"v0": {}, "v1raw": {"cid-version": "1"}, "v1-2025": {"profile": "v1-2025"}}


# -- a multipart body as Kubo's clients send it ------------------------------------------------
def multipart(entries: list[tuple[str, bytes | None]], boundary: str | None = None) -> tuple[bytes, str]:
    """entries: (path, bytes) for files, (path, None) for directories."""
    b = boundary or uuid.uuid4().hex
    out = bytearray()
    for i, (path, data) in enumerate(entries):
        name = ("file" if data is not None else "dir") + (f"-{i}" if i else "")
        ctype = "application/octet-stream" if data is not None else "application/x-directory"
        out += (f"--{b}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{quote(path, safe='')}\"\r\n"
                f"Content-Type: {ctype}\r\n\r\n").encode()
        out += data or b""
        out += b"\r\n"
    out += f"--{b}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={b}"


Server = ServerProcess | InProcessServer


def post(srv: Server, path: str, params: dict | list | None = None, **kw) -> httpx.Response:
    if isinstance(srv, InProcessServer):
        return srv.client.post(f"/api/v0/{path}", params=params, **kw)
    return httpx.post(f"{srv.url}/api/v0/{path}", params=params, timeout=60, **kw)


def add(srv: Server, entries: list[tuple[str, bytes | None]], **params: str) -> list[dict]:
    body, ctype = multipart(entries)
    r = post(srv, "add", params, content=body, headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return [json.loads(line) for line in r.text.splitlines() if line]


def assert_kubo_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"Message", "Code", "Type"} and body["Type"] == "error" and body["Message"]
    return body


@pytest.fixture(scope="module")
def srv(shared_app_server: InProcessServer) -> InProcessServer:
    """One app for the module, in this process."""
    return shared_app_server


@pytest.fixture
def fresh(app_server: InProcessServer) -> InProcessServer:
    """A second app with an empty repo of its own, in this process."""
    return app_server


# -- version, id, method, docs ----------------------------------------------------------------
def test_version_and_post_only(srv: InProcessServer) -> None:
    r = post(srv, "version")
    assert r.status_code == 200 and set(r.json()) >= {"Version", "Commit", "Repo", "System"}
    g = srv.client.get("/api/v0/version")
    assert_kubo_error(g, 405)
    assert srv.client.get(f"/api/v0/cat?arg={HELLO_V0}").status_code == 405


def test_cross_origin_requests_are_refused(srv: InProcessServer) -> None:
    evil = post(srv, "pin/ls", headers={"Origin": "http://evil.example"})
    assert_kubo_error(evil, 403)
    assert_kubo_error(post(srv, "version", headers={"Origin": "null"}), 403)
    assert post(srv, "version", headers={"Origin": srv.url}).status_code == 200  # same origin
    assert post(srv, "version").status_code == 200  # no Origin: not a browser


def test_id(srv: InProcessServer) -> None:
    body = post(srv, "id").json()
    assert set(body) >= {"ID", "PublicKey", "Addresses", "AgentVersion", "ProtocolVersion"}
    assert body["ID"].startswith("12D3KooW") and isinstance(body["Addresses"], list)
    assert post(srv, "id").json()["ID"] == body["ID"]  # stable for the process
    assert_kubo_error(post(srv, "id", {"arg": "12D3KooWSomeoneElse"}), 400)


def test_openapi_docs(srv: InProcessServer) -> None:
    assert srv.client.get("/docs").status_code == 200
    spec = srv.client.get("/openapi.json").json()
    for route in ("add", "cat", "get", "ls", "pin/add", "block/put", "dag/import", "repo/gc", "ipfs-kit/metadata/set"):
        assert "post" in spec["paths"][f"/api/v0/{route}"], route
    names = {p["name"] for p in spec["paths"]["/api/v0/add"]["post"]["parameters"]}
    assert {"cid-version", "raw-leaves", "chunker", "only-hash", "pin", "wrap-with-directory", "progress"} <= names
    # OpenAPI: every operationId once (a route serving GET and HEAD gave both the same one)
    ids = [op["operationId"] for methods in spec["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in set(ids) if ids.count(i) > 1)
    assert "get" in spec["paths"]["/ipfs/{rest}"] and "head" not in spec["paths"]["/ipfs/{rest}"]
    assert srv.client.head("/routing/v1/providers/bafkqaaa").status_code == 200  # HEAD still served


# -- add: Kubo's CIDs for every profile -----------------------------------------------------------
@pytest.mark.parametrize("profile", list(PROFILE_ARGS))
def test_add_file_vectors(srv: InProcessServer, profile: str) -> None:
    for v in SMALL:
        lines = add(srv, [("", stream_bytes(v["size"]))], **PROFILE_ARGS[profile])
        assert lines[-1]["Hash"] == v["cid"][profile], (v["name"], profile)
        assert lines[-1]["Name"] == lines[-1]["Hash"]  # unnamed upload: named by its CID, as Kubo does
    if profile != "v0":  # the named profile gives the same CIDs as Kubo's flags
        v = SMALL[-1]
        lines = add(srv, [("x", stream_bytes(v["size"]))], profile=profile, **{"only-hash": "true"})
        assert lines[-1]["Hash"] == v["cid"][profile]


@pytest.mark.parametrize("profile", list(PROFILE_ARGS))
def test_add_two_level_tree_vector_only_hash(srv: InProcessServer, profile: str) -> None:
    lines = add(srv, [("big", stream_bytes(TWO_LEVEL["size"]))], **PROFILE_ARGS[profile], **{"only-hash": "true"})
    assert lines == [{"Name": "big", "Hash": TWO_LEVEL["cid"][profile], "Size": lines[0]["Size"]}]
    assert_kubo_error(post(srv, "block/stat", {"arg": TWO_LEVEL["cid"][profile]}), 404)  # nothing stored


def _testdir_entries() -> list[tuple[str, bytes | None]]:
    out: list[tuple[str, bytes | None]] = [("testdir", None), ("testdir/sub", None)]
    for rel, spec in TESTDIR["tree"].items():
        data = spec["utf8"].encode() if "utf8" in spec else stream_bytes(spec["stream_prefix_bytes"])
        out.append((f"testdir/{rel}", data))
    return out


@pytest.mark.parametrize("profile", list(PROFILE_ARGS))
def test_add_directory_vector(srv: InProcessServer, profile: str) -> None:
    lines = add(srv, _testdir_entries(), **PROFILE_ARGS[profile])
    by_name = {line["Name"]: line for line in lines}
    assert set(by_name) == {"testdir", "testdir/a.txt", "testdir/b.bin", "testdir/sub", "testdir/sub/c.txt"}
    assert lines[-1]["Name"] == "testdir" and lines[-1]["Hash"] == TESTDIR["cid"][profile]
    # files first, as they finish; directories after, the root last (Kubo's order)
    assert [line["Name"] for line in lines[:3]] == ["testdir/a.txt", "testdir/b.bin", "testdir/sub/c.txt"]


def test_add_directory_from_file_paths_only(srv: InProcessServer) -> None:
    """Clients may send only file parts; parents are implied by the paths."""
    entries = [(p, d) for p, d in _testdir_entries() if d is not None]
    assert add(srv, entries)[-1]["Hash"] == TESTDIR["cid"]["v0"]


def test_add_progress_quieter_wrap_pin(srv: InProcessServer) -> None:
    data = stream_bytes(1_048_577)
    lines = add(srv, [("p.bin", data)], progress="true")
    progress = [line for line in lines if "Bytes" in line]
    assert len(progress) >= 4 and all(p["Name"] == "p.bin" for p in progress)
    assert [p["Bytes"] for p in progress] == sorted(p["Bytes"] for p in progress)
    assert progress[-1]["Bytes"] == len(data)
    assert lines[-1]["Hash"] == next(f for f in SMALL if f["size"] == len(data))["cid"]["v0"]

    q = add(srv, _testdir_entries(), quieter="true")
    assert q == [{"Name": "testdir", "Hash": TESTDIR["cid"]["v0"], "Size": q[0]["Size"]}]

    w = add(srv, [("hello.txt", b"hello world\n")], **{"wrap-with-directory": "true"})
    assert [x["Name"] for x in w] == ["hello.txt", ""] and w[0]["Hash"] == HELLO_V0
    listing = post(srv, "ls", {"arg": w[-1]["Hash"]}).json()["Objects"][0]["Links"]
    assert [(x["Name"], x["Hash"]) for x in listing] == [("hello.txt", HELLO_V0)]

    unpinned = add(srv, [("u", b"not pinned by add\n")], pin="false")[-1]["Hash"]
    assert_kubo_error(post(srv, "pin/ls", {"arg": unpinned}), 404)
    pinned = add(srv, [("p", b"pinned by add\n")])[-1]["Hash"]
    assert post(srv, "pin/ls", {"arg": pinned}).json()["Keys"] == {pinned: {"Type": "recursive", "Name": ""}}


def test_add_bad_options(srv: InProcessServer) -> None:
    body, ctype = multipart([("a", b"x")])
    for params in ({"cid-version": "7"}, {"profile": "nope"}, {"chunker": "rabin"}, {"pin": "maybe"},
                   {"trickle": "true"}, {"hash": "blake3"}, {"cid-version": "x"}):
        assert_kubo_error(post(srv, "add", params, content=body, headers={"Content-Type": ctype}), 400)


def test_add_malformed_multipart(srv: InProcessServer) -> None:
    r = post(srv, "add", content=b"just bytes", headers={"Content-Type": "application/octet-stream"})
    assert "multipart" in assert_kubo_error(r, 400)["Message"]
    r = post(srv, "add", content=b"x", headers={"Content-Type": "multipart/form-data"})
    assert "boundary" in assert_kubo_error(r, 400)["Message"]
    garbage = b"--B\r\nContent-Disposition: form-data; name=\"file\"\r\nno blank line"
    assert_kubo_error(post(srv, "add", content=garbage, headers={"Content-Type": "multipart/form-data; boundary=B"}), 400)
    body, ctype = multipart([])
    assert "no file" in assert_kubo_error(post(srv, "add", content=body, headers={"Content-Type": ctype}), 400)["Message"]
    escape, ctype = multipart([("../evil", b"x")])
    assert_kubo_error(post(srv, "add", content=escape, headers={"Content-Type": ctype}), 400)


def test_add_truncated_upload_stores_and_pins_nothing(srv: InProcessServer) -> None:
    data = stream_bytes(600_000) + b"truncated-upload-marker"
    body, ctype = multipart([("t.bin", data)])
    cut = body[: len(body) - 40]  # no closing boundary: the upload stopped half-way
    r = post(srv, "add", content=cut, headers={"Content-Type": ctype})
    assert_kubo_error(r, 400)
    expected = add(srv, [("t.bin", data)], **{"only-hash": "true"})[-1]["Hash"]
    assert_kubo_error(post(srv, "pin/ls", {"arg": expected}), 404)
    assert_kubo_error(post(srv, "block/stat", {"arg": expected}), 404)


def _raw_http(srv: Server, request: bytes, read: bool = True) -> bytes:
    u = urlsplit(srv.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(request)
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        out = bytearray()
        while chunk := s.recv(65536):
            out += chunk
        return bytes(out)


def test_broken_upload_does_not_disturb_another_client(shared_server: ServerProcess) -> None:
    """A client that dies mid-upload (connection closed half-way) while another adds and reads
    (real sockets: the server process end to end)."""
    srv = shared_server
    u = urlsplit(srv.url)
    b = "BROKEN"
    head = (f"POST /api/v0/add HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: multipart/form-data; boundary={b}\r\n"
            f"Content-Length: 10000000\r\n\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n").encode()
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    s.sendall(head + stream_bytes(300_000))
    results: list[str] = []

    def other() -> None:
        h = add(srv, [("other.txt", b"the other client\n")])[-1]["Hash"]
        results.append(httpx.post(f"{srv.url}/api/v0/cat", params={"arg": h}, timeout=10).text)

    t = threading.Thread(target=other)
    t.start()
    t.join(20)
    s.close()  # the broken client goes away without finishing
    assert results == ["the other client\n"]
    assert post(srv, "version").status_code == 200
    # the store is intact: content added after the broken upload reads back whole
    assert add(srv, [("hello.txt", b"hello world\n")])[-1]["Hash"] == HELLO_V0
    r = post(srv, "cat", {"arg": HELLO_V0})
    assert r.status_code == 200 and r.content == b"hello world\n"


def test_stalled_upload_is_aborted_and_does_not_block_gc(tmp_path: Path) -> None:
    """An upload that stops sending holds the add's GC lock only until
    server.upload_idle_timeout; then it gets 408 and GC proceeds."""
    srv = start_server(tmp_path / "repo", env={"IPFS_KIT_SERVER_UPLOAD_IDLE_TIMEOUT": "1.5",
                                              "IPFS_KIT_LIBP2P_ENABLED": "false"})
    try:
        u = urlsplit(srv.url)
        head = (f"POST /api/v0/add HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: multipart/form-data; boundary=S\r\n"
                f"Content-Length: 1000000\r\n\r\n--S\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s\"\r\n\r\n").encode()
        with socket.create_connection((u.hostname, u.port), timeout=10) as s:
            s.sendall(head + b"x" * 1000)
            time.sleep(0.3)
            t0 = time.monotonic()
            gc = post(srv, "repo/gc")  # waits for the stalled add, which the server then aborts
            waited = time.monotonic() - t0
            assert gc.status_code == 200 and 0.5 < waited < 10, waited
            reply = s.recv(65536).decode()
        assert reply.startswith("HTTP/1.1 408") and '"Type":"error"' in reply
    finally:
        srv.stop()


# -- cat, get, ls ---------------------------------------------------------------------------------
def test_cat_offset_length_and_errors(srv: InProcessServer) -> None:
    data = stream_bytes(1_048_577)
    cid = add(srv, [("c.bin", data)])[-1]["Hash"]
    r = post(srv, "cat", {"arg": cid})
    assert r.status_code == 200 and r.content == data
    assert post(srv, "cat", {"arg": cid, "offset": "262140", "length": "10"}).content == data[262140:262150]
    assert post(srv, "cat", {"arg": f"/ipfs/{cid}", "offset": "1048570"}).content == data[1048570:]
    assert post(srv, "cat", {"arg": cid, "offset": str(len(data) + 5)}).content == b""
    assert_kubo_error(post(srv, "cat", {"arg": "not-a-cid"}), 400)
    assert assert_kubo_error(post(srv, "cat", {"arg": MISSING}), 404)["Code"] == 3
    assert_kubo_error(post(srv, "cat"), 400)
    assert_kubo_error(post(srv, "cat", {"arg": cid, "offset": "-1"}), 400)
    root = add(srv, _testdir_entries())[-1]["Hash"]
    assert_kubo_error(post(srv, "cat", {"arg": root}), 400)  # a directory
    assert post(srv, "cat", {"arg": f"{root}/sub/c.txt"}).text == "nested file\n"
    assert_kubo_error(post(srv, "cat", {"arg": f"{root}/nope"}), 404)


def test_get_tar(srv: InProcessServer) -> None:
    root = add(srv, _testdir_entries())[-1]["Hash"]
    r = post(srv, "get", {"arg": root})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        names = tar.getnames()
        assert names == [root, f"{root}/a.txt", f"{root}/b.bin", f"{root}/sub", f"{root}/sub/c.txt"]
        assert tar.extractfile(f"{root}/b.bin").read() == stream_bytes(300_000)  # type: ignore[union-attr]
        assert tar.getmember(f"{root}/sub").isdir()
    r = post(srv, "get", {"arg": f"{root}/sub/c.txt"})
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        assert tar.getnames() == ["c.txt"] and tar.extractfile("c.txt").read() == b"nested file\n"  # type: ignore[union-attr]
    assert_kubo_error(post(srv, "get", {"arg": MISSING}), 404)
    assert_kubo_error(post(srv, "get", {"arg": root, "compress": "true"}), 400)


@pytest.fixture(params=["socket", "in-process"])
def both(request: pytest.FixtureRequest, shared_server: ServerProcess, srv: InProcessServer) -> Server:
    """The server process over a real socket, then the app in this process."""
    return shared_server if request.param == "socket" else srv


def test_get_refuses_names_that_escape(both: Server) -> None:
    """A DAG whose directory links are named '..' or 'a/b' (crafted, put as raw blocks). A TAR cut
    mid-stream is a connection closed before the chunked body ended, over a real socket; the
    in-process path must show the client the same (tests/inproc.py raises what httpx would)."""
    srv = both
    from ipfs_kit_py.content.cid import CID
    from ipfs_kit_py.content.dagpb import DIRECTORY, PBLink, UnixFSData, encode_node, encode_unixfs

    add(srv, [("h", b"hello world\n")])
    for evil in ("..", "a/b", "../../etc/passwd"):
        node = encode_node([PBLink(CID.decode(HELLO_V0), evil, 20)], encode_unixfs(UnixFSData(DIRECTORY)))
        body, ctype = multipart([("", node)])
        root = post(srv, "block/put", {"format": "v0"}, content=body, headers={"Content-Type": ctype}).json()["Key"]
        r = post(srv, "get", {"arg": root})
        assert "unsafe name" in assert_kubo_error(r, 400)["Message"]
        # a nested bad name is found after the stream started: the TAR is cut, never completed
        outer = encode_node([PBLink(CID.decode(root), "ok", 100)], encode_unixfs(UnixFSData(DIRECTORY)))
        body, ctype = multipart([("", outer)])
        top = post(srv, "block/put", {"format": "v0"}, content=body, headers={"Content-Type": ctype}).json()["Key"]
        with pytest.raises(httpx.RemoteProtocolError):
            post(srv, "get", {"arg": top})
    assert post(srv, "cat", {"arg": HELLO_V0}).text == "hello world\n"


def test_in_process_answers_as_the_server_process(shared_server: ServerProcess, tmp_path: Path) -> None:
    """The in-process path is worth having only if it answers as the server process does: the
    same statuses, content types and bodies, the guard's decisions included, for the same requests
    (libp2p on in both, as the server's default: a miss names the network it asked)."""
    cases: list[tuple[str, str, dict[str, str], dict[str, str]]] = [
        ("POST", "/api/v0/version", {}, {}),
        ("GET", "/api/v0/version", {}, {}),
        ("POST", "/api/v0/version", {}, {"Origin": "http://evil.example"}),
        ("POST", "/api/v0/version", {}, {"Origin": "null"}),
        ("POST", "/api/v0/version", {}, {"Host": "evil.example"}),
        ("POST", "/api/v0/version", {}, {"Host": "localhost"}),
        ("POST", "/api/v0/cat", {"arg": MISSING}, {}),
        ("POST", "/api/v0/cat", {"arg": "not-a-cid"}, {}),
        ("POST", "/api/v0/cat", {"arg": HELLO_V0, "offset": "-1"}, {}),
        ("POST", "/api/v0/pin/ls", {"type": "sideways"}, {}),
        ("POST", "/api/v0/no/such/route", {}, {}),
        ("POST", "/api/v0/add", {}, {"Content-Type": "application/octet-stream"}),
        ("GET", f"/ipfs/{MISSING}", {}, {"Host": "any.example"}),
        ("GET", "/ipfs/not-a-cid", {}, {}),
    ]
    with running(tmp_path / "repo", overrides={"libp2p": {"enabled": True}}) as srv:
        for method, path, params, headers in cases:
            real = httpx.request(method, f"{shared_server.url}{path}", params=params, headers=headers, timeout=30)
            here = srv.client.request(method, path, params=params, headers=headers)
            where = (method, path, params, headers)
            assert here.status_code == real.status_code, (where, real.text, here.text)
            assert here.headers.get("content-type") == real.headers.get("content-type"), where
            if "json" in (real.headers.get("content-type") or ""):
                assert here.json() == real.json(), where
            else:
                assert here.content == real.content, where


def test_ls(srv: InProcessServer) -> None:
    root = add(srv, _testdir_entries())[-1]["Hash"]
    objs = post(srv, "ls", {"arg": root}).json()["Objects"]
    assert len(objs) == 1 and objs[0]["Hash"] == root
    links = {x["Name"]: x for x in objs[0]["Links"]}
    assert list(links) == ["a.txt", "b.bin", "sub"]
    assert links["sub"]["Type"] == 1 and links["a.txt"]["Type"] == 2
    assert links["b.bin"]["Size"] == 300_000
    assert_kubo_error(post(srv, "ls", {"arg": MISSING}), 404)


# -- pins -----------------------------------------------------------------------------------------
def test_pin_add_ls_rm(srv: InProcessServer) -> None:
    cid = add(srv, [("pin.txt", b"pin lifecycle\n")], pin="false")[-1]["Hash"]
    assert post(srv, "pin/add", {"arg": cid}).json() == {"Pins": [cid]}
    assert post(srv, "pin/ls", {"arg": cid}).json() == {"Keys": {cid: {"Type": "recursive", "Name": ""}}}
    assert cid in post(srv, "pin/ls", {"type": "recursive"}).json()["Keys"]
    assert cid not in post(srv, "pin/ls", {"type": "direct"}).json().get("Keys", {})  # Kubo omits an empty Keys
    stream = [json.loads(x) for x in post(srv, "pin/ls", {"stream": "true"}).text.splitlines()]
    assert {"Cid": cid, "Type": "recursive"} in stream  # streamed lines leave an empty Name out, as Kubo
    assert post(srv, "pin/rm", {"arg": cid}).json() == {"Pins": [cid]}
    assert_kubo_error(post(srv, "pin/rm", {"arg": cid}), 404)
    assert_kubo_error(post(srv, "pin/ls", {"arg": cid}), 404)
    assert post(srv, "pin/add", {"arg": cid, "recursive": "false"}).json() == {"Pins": [cid]}
    assert post(srv, "pin/ls", {"arg": cid}).json()["Keys"][cid]["Type"] == "direct"
    assert_kubo_error(post(srv, "pin/add", {"arg": MISSING}), 404)
    assert_kubo_error(post(srv, "pin/add", {"arg": "Qmnope"}), 400)
    assert_kubo_error(post(srv, "pin/ls", {"type": "sideways"}), 400)


# -- blocks ---------------------------------------------------------------------------------------
def test_block_put_get_stat_rm(srv: InProcessServer) -> None:
    data = b"a raw block for block/put"
    body, ctype = multipart([("", data)])
    r = post(srv, "block/put", content=body, headers={"Content-Type": ctype})
    key = r.json()["Key"]
    assert r.json() == {"Key": key, "Size": len(data)} and key.startswith("bafkrei")
    assert post(srv, "block/get", {"arg": key}).content == data
    assert post(srv, "block/stat", {"arg": key}).json() == {"Key": key, "Size": len(data)}
    # Kubo's legacy format=v0: a dag-pb block under a CIDv0
    pb = post(srv, "block/get", {"arg": HELLO_V0}) if post(srv, "block/stat", {"arg": HELLO_V0}).status_code == 200 else None
    if pb is None:
        add(srv, [("h", b"hello world\n")])
        pb = post(srv, "block/get", {"arg": HELLO_V0})
    body, ctype = multipart([("", pb.content)])
    assert post(srv, "block/put", {"format": "v0"}, content=body, headers={"Content-Type": ctype}).json()["Key"] == HELLO_V0
    # errors
    bad_pb, ctype = multipart([("", b"\xff\xff not dag-pb")])
    assert_kubo_error(post(srv, "block/put", {"cid-codec": "dag-pb"}, content=bad_pb, headers={"Content-Type": ctype}), 400)
    big, ctype = multipart([("", b"\0" * ((2 << 20) + 1))])
    assert_kubo_error(post(srv, "block/put", content=big, headers={"Content-Type": ctype}), 400)
    assert_kubo_error(post(srv, "block/put", {"mhtype": "md5"}, content=body, headers={"Content-Type": ctype}), 400)
    assert_kubo_error(post(srv, "block/get", {"arg": MISSING}), 404)
    assert_kubo_error(post(srv, "block/stat", {"arg": "zzz"}), 400)
    # rm: one NDJSON line per block, errors in the line
    lines = [json.loads(x) for x in post(srv, "block/rm", [("arg", key), ("arg", MISSING)]).text.splitlines()]
    assert lines[0] == {"Hash": key, "Error": ""}
    assert lines[1]["Hash"] == MISSING and lines[1]["Error"]
    assert_kubo_error(post(srv, "block/stat", {"arg": key}), 404)
    pinned = add(srv, [("pinned", b"pinned block\n")], **{"cid-version": "1"})[-1]["Hash"]
    assert "pinned" in json.loads(post(srv, "block/rm", {"arg": pinned}).text)["Error"]


# -- CAR ------------------------------------------------------------------------------------------
def car_of(srv: Server, cid: str) -> bytes:
    r = post(srv, "dag/export", {"arg": cid})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.ipld.car"
    return r.content


def import_car(srv: Server, *cars: bytes, **params: str) -> httpx.Response:
    body, ctype = multipart([("", c) for c in cars])
    return post(srv, "dag/import", params, content=body, headers={"Content-Type": ctype})


def test_dag_export_import_round_trip_into_second_server(srv: InProcessServer, fresh: InProcessServer) -> None:
    server = fresh
    root = add(srv, _testdir_entries())[-1]["Hash"]
    car = car_of(srv, root)
    blocks = list(read_car([car]))
    assert str(blocks[0][0]) == root and len(blocks) >= 5
    assert_kubo_error(post(server, "cat", {"arg": f"{root}/sub/c.txt"}), 404)
    r = import_car(server, car, stats="true")
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines[0] == {"Root": {"Cid": {"/": root}, "PinErrorMsg": ""}}
    assert lines[1]["Stats"]["BlockCount"] == len(blocks)
    assert lines[1]["Stats"]["BlockBytesCount"] == sum(len(b) for _, b in blocks)
    assert post(server, "cat", {"arg": f"{root}/b.bin"}).content == stream_bytes(300_000)
    assert post(server, "pin/ls", {"arg": root}).json()["Keys"][root]["Type"] == "recursive"
    assert car_of(server, root) == car
    assert_kubo_error(post(srv, "dag/export", {"arg": MISSING}), 404)


def test_dag_import_rejects_truncated_and_corrupt_cars(srv: InProcessServer, fresh: InProcessServer) -> None:
    server = fresh
    data = stream_bytes(700_000) + b"car-corruption-test"
    root = add(srv, [("c", data)])[-1]["Hash"]
    car = car_of(srv, root)
    blocks = list(read_car([car]))
    r = import_car(server, car[:-1000])
    assert "truncated" in assert_kubo_error(r, 400)["Message"]
    corrupt = bytearray(car)
    corrupt[-10] ^= 0xFF  # last block's bytes no longer match its CID
    assert "hash" in assert_kubo_error(import_car(server, bytes(corrupt)), 400)["Message"]
    for cid, _ in blocks:  # nothing of either CAR was kept
        assert_kubo_error(post(server, "block/stat", {"arg": str(cid)}), 404)
    assert_kubo_error(import_car(server, b"\x05garbage"), 400)
    # the server still imports a good CAR afterwards
    assert import_car(server, car).json()["Root"]["Cid"]["/"] == root
    assert post(server, "cat", {"arg": root}).content == data


def test_dag_import_reports_missing_root_without_pinning(srv: InProcessServer, fresh: InProcessServer) -> None:
    server = fresh
    root = add(srv, _testdir_entries())[-1]["Hash"]
    car = car_of(srv, root)
    blocks = list(read_car([car]))
    from ipfs_kit_py.content.car import write_car

    partial = b"".join(write_car([blocks[0][0]], blocks[1:]))  # the root block left out
    line = import_car(server, partial).json()
    assert line["Root"]["Cid"]["/"] == root and line["Root"]["PinErrorMsg"]
    assert_kubo_error(post(server, "pin/ls", {"arg": root}), 404)


# -- repo, metadata ----------------------------------------------------------------------------
def test_repo_gc_stat_verify(fresh: InProcessServer) -> None:
    server = fresh
    keep = add(server, [("keep", b"kept\n")])[-1]["Hash"]
    gone = add(server, [("gone", stream_bytes(300_000))], pin="false")[-1]["Hash"]
    before = post(server, "repo/stat").json()
    assert set(before) >= {"RepoSize", "StorageMax", "NumObjects", "RepoPath", "Version"}
    assert before["NumObjects"] >= 4
    lines = [json.loads(x) for x in post(server, "repo/gc").text.splitlines()]
    assert all(set(x) == {"Key"} and set(x["Key"]) == {"/"} for x in lines) and len(lines) >= 3
    assert_kubo_error(post(server, "cat", {"arg": gone}), 404)
    assert post(server, "cat", {"arg": keep}).text == "kept\n"
    after = post(server, "repo/stat").json()
    assert after["NumObjects"] == before["NumObjects"] - len(lines) and after["RepoSize"] < before["RepoSize"]
    size_only = post(server, "repo/stat", {"size-only": "true"}).json()  # Kubo 0.43: every key, the rest zeroed
    assert size_only["NumObjects"] == 0 and size_only["StorageMax"] == 10**10 and size_only["RepoSize"] > 0
    v = [json.loads(x) for x in post(server, "repo/verify").text.splitlines()]
    assert v[-1]["Msg"] == "verify complete, all blocks validated."
    # damage a block on disk: verify reports it
    cid_block = next(p for p in (server.repo / "blocks").rglob("*.data"))
    cid_block.write_bytes(b"rotten bytes")
    v = [json.loads(x) for x in post(server, "repo/verify").text.splitlines()]
    assert any("corrupt" in x["Msg"] for x in v) and "1 blocks were corrupt" in v[-1]["Msg"]


def test_metadata_get_set(srv: InProcessServer) -> None:
    cid = add(srv, [("photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100)])[-1]["Hash"]
    md = post(srv, "ipfs-kit/metadata/get", {"arg": cid}).json()
    assert md["cid"] == cid and md["name"] == "photo.png" and md["content_type"] == "image/png"
    assert md["size"] == 108 and md["user"] == {}
    md = post(srv, "ipfs-kit/metadata/set", {"arg": cid}, json={"title": "A", "n": 1}).json()
    assert md["user"] == {"title": "A", "n": 1}
    md = post(srv, "ipfs-kit/metadata/set", {"arg": cid}, json={"n": 2}).json()
    assert md["user"] == {"title": "A", "n": 2}
    md = post(srv, "ipfs-kit/metadata/set", {"arg": cid, "replace": "true"}, json={"only": True}).json()
    assert md["user"] == {"only": True}
    assert post(srv, "ipfs-kit/metadata/get", {"arg": cid}).json()["user"] == {"only": True}
    assert_kubo_error(post(srv, "ipfs-kit/metadata/set", {"arg": cid}, content=b"{nope"), 400)
    assert_kubo_error(post(srv, "ipfs-kit/metadata/set", {"arg": cid}, json=[1, 2]), 400)
    assert_kubo_error(post(srv, "ipfs-kit/metadata/get", {"arg": MISSING}), 404)
    assert_kubo_error(post(srv, "ipfs-kit/metadata/get", {"arg": "xyz"}), 400)


def test_files_stat(srv: InProcessServer) -> None:
    root = add(srv, _testdir_entries())[-1]["Hash"]
    st = post(srv, "files/stat", {"arg": f"/ipfs/{root}/b.bin"}).json()
    assert st["Type"] == "file" and st["Size"] == 300_000 and st["Hash"]
    assert post(srv, "files/stat", {"arg": f"/ipfs/{root}"}).json()["Type"] == "directory"
    assert_kubo_error(post(srv, "files/stat", {"arg": "/mfs-path"}), 404)  # MFS paths: not there yet
    assert_kubo_error(post(srv, "files/stat", {"arg": "mfs-path"}), 400)


def test_large_streamed_add_and_cat(server: ServerProcess, tmp_path: Path) -> None:
    """64 MiB up and down in pieces; the digest is checked, not held in the test."""
    size, piece = 64 << 20, 1 << 20
    boundary = "LARGE"

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n"
               "Content-Type: application/octet-stream\r\n\r\n").encode()
        for i in range(size // piece):
            yield hashlib.sha256(i.to_bytes(4, "big")).digest() * (piece // 32)
        yield f"\r\n--{boundary}--\r\n".encode()

    def peak_rss() -> int:  # the server's high-water mark, bytes
        for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM")

    httpx.post(f"{server.url}/api/v0/cat", params={"arg": HELLO_V0}, timeout=10)  # warm up the routes
    before = peak_rss()
    want = hashlib.sha256()
    for i in range(size // piece):
        want.update(hashlib.sha256(i.to_bytes(4, "big")).digest() * (piece // 32))
    r = httpx.post(f"{server.url}/api/v0/add", content=body(), timeout=120,
                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    cid = json.loads(r.text.splitlines()[-1])["Hash"]
    got = hashlib.sha256()
    n = 0
    with httpx.stream("POST", f"{server.url}/api/v0/cat", params={"arg": cid}, timeout=120) as resp:
        for chunk in resp.iter_bytes():
            got.update(chunk)
            n += len(chunk)
    assert n == size and got.hexdigest() == want.hexdigest()
    grown = peak_rss() - before
    print(f"peak RSS growth {grown >> 20} MiB")
    assert grown < 40 << 20, f"server peak RSS grew by {grown >> 20} MiB for a 64 MiB add + cat"


# -- the streaming multipart parser on its own (no sockets) ----------------------------------------
def test_multipart_stream_any_split() -> None:
    from ipfs_kit_py.mcp.multipart import MultipartStream

    body, ctype = multipart([("d", None), ("d/x y%.txt", b"abc\r\n--not-a-boundary"), ("", b"")], boundary="BND")
    for step in (1, 2, 7, 64, len(body)):
        m = MultipartStream("BND")
        events = []
        for i in range(0, len(body), step):
            events += m.feed(body[i : i + step])
        m.close()
        begins = [e.part for e in events if e.kind == "begin"]
        assert [p.filename for p in begins] == ["d", "d/x y%.txt", ""]
        assert [p.is_directory for p in begins] == [True, False, False]
        data = b"".join(e.data for e in events if e.kind == "data")
        assert data == b"abc\r\n--not-a-boundary"
        assert [e.kind for e in events].count("end") == 3


def test_multipart_stream_rejects_bad_input() -> None:
    from ipfs_kit_py.mcp.multipart import (
        MalformedMultipart,
        MultipartStream,
        boundary_of,
        parse_header_params,
    )

    assert boundary_of('multipart/form-data; boundary="a;b"') == "a;b"
    assert parse_header_params('form-data; name="f"; filename="a\\"b"') == {"name": "f", "filename": 'a"b'}
    for ctype in (None, "application/json", "multipart/form-data"):
        with pytest.raises(MalformedMultipart):
            boundary_of(ctype)
    body, _ = multipart([("a", b"x" * 100)], boundary="B")
    m = MultipartStream("B")
    m.feed(body[:-10])
    with pytest.raises(MalformedMultipart, match="truncated"):
        m.close()
    m = MultipartStream("B")
    with pytest.raises(MalformedMultipart, match="(?i)header"):
        m.feed(b"--B\r\nX-Big: " + b"y" * 20000 + b"\r\n\r\n")
    with pytest.raises(MalformedMultipart):
        MultipartStream("B").feed(b"--B\r\nno-colon-header\r\n\r\n")


def test_cross_origin_refused_on_every_api_route(srv: InProcessServer) -> None:
    """Routes other modules add under /api/v0 (libp2p, transfer) are covered too."""
    for path in ("ipfs-kit/transfer?arg=x&target=y", "swarm/peers"):
        r = srv.client.post(f"/api/v0/{path}", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "cross-origin" in r.json()["Message"]


async def test_add_directory_with_symlinks_matches_local_import(srv: InProcessServer, tmp_path) -> None:
    """Kubo's clients send symlinks as application/symlink parts; the CID equals a local add."""
    import os

    from ipfs_kit_py.client.http import HTTPClient
    from ipfs_kit_py.content.importer import import_path
    from ipfs_kit_py.model import AddOptions

    d = tmp_path / "tree"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "file.txt").write_text("pointed at\n")
    os.symlink("sub/file.txt", d / "link")
    os.symlink("../nowhere", d / "sub" / "dangling")
    client = HTTPClient(srv.url, transport=srv.async_transport())
    try:
        added = await client.add_path(d, AddOptions(recursive=True))
    finally:
        await client.close()
    assert added[-1].cid == str(import_path(d, None, recursive=True).cid)
    r = post(srv, "ls", params={"arg": f"{added[-1].cid}"}).json()
    link = next(e for e in r["Objects"][0]["Links"] if e["Name"] == "link")
    assert link["Type"] == 4 and link["Target"] == "sub/file.txt"
