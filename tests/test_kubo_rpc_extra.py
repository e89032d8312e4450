"""Issue 14's Kubo RPC commands against a real current Kubo: the same requests go to a
Kubo 0.43.1 daemon (``--offline``, loopback only, test profile: no bootstrap) and to our
server, and the answers are compared: MFS CIDs equal, other answers the same shape
(keys and value types). Skipped when the Kubo binary is absent
(``$IPFS_KIT_KUBO`` or ``~/.cache/ipfs-kit-kubo/ipfs-0.43.1``). Also: ``shutdown`` stops
our server cleanly.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServerProcess, start_server, stream_bytes

KUBO = Path(os.environ.get("IPFS_KIT_KUBO") or Path.home() / ".cache" / "ipfs-kit-kubo" / "ipfs-0.43.1")


@pytest.fixture(scope="module")
def kubo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not KUBO.is_file():
        pytest.skip(f"no Kubo binary at {KUBO}")
    repo = tmp_path_factory.mktemp("kubo")
    env = {**os.environ, "IPFS_PATH": str(repo)}
    subprocess.run([str(KUBO), "init", "--profile=test", "-e"], env=env, check=True, capture_output=True, timeout=60)
    log = open(repo / "daemon.log", "wb")
    proc = subprocess.Popen([str(KUBO), "daemon", "--offline"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        api = repo / "api"
        deadline = time.monotonic() + 60
        while not api.exists():  # written once the API listens
            assert proc.poll() is None and time.monotonic() < deadline, "kubo daemon did not start"
            time.sleep(0.05)
        addr = api.read_text().strip().split("/")  # /ip4/127.0.0.1/tcp/PORT
        assert addr[2] == "127.0.0.1"
        yield f"http://127.0.0.1:{addr[4]}"
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    srv = start_server(tmp_path_factory.mktemp("ours") / "repo", env={"IPFS_KIT_LIBP2P_ENABLED": "false"})
    try:
        yield srv.url
    finally:
        srv.stop()


def call(url: str, path: str, *args: str, body: bytes | None = None, **opts: Any) -> httpx.Response:
    params = [("arg", a) for a in args] + [(k.replace("_", "-"), str(v).lower() if isinstance(v, bool) else str(v))
                                            for k, v in opts.items()]
    files = {"file": ("data", body)} if body is not None else None
    return httpx.post(f"{url}/api/v0/{path}", params=params, files=files, timeout=60)


def both(kubo: str, ours: str, path: str, *args: str, **kw: Any) -> tuple[httpx.Response, httpx.Response]:
    k, o = call(kubo, path, *args, **kw), call(ours, path, *args, **kw)
    assert k.status_code == 200, (path, args, k.text)
    assert o.status_code == 200, (path, args, o.text)
    return k, o


def shape(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return type(v).__name__


def same_shape(k: Any, o: Any, where: str) -> None:
    ks, os_ = shape(k), shape(o)
    if isinstance(ks, list) and isinstance(os_, list) and (not ks or not os_):
        return  # an empty list on one side: nothing to compare
    assert ks == os_, (where, ks, os_)


def json_lines(r: httpx.Response) -> list[Any]:
    import json

    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def test_mfs_cids_equal_kubos(kubo: str, ours: str) -> None:
    hello = both(kubo, ours, "add", body=b"hello world\n")
    assert hello[0].json()["Hash"] == hello[1].json()["Hash"]
    added = hello[0].json()["Hash"]
    steps: list[tuple[str, tuple[str, ...], dict[str, Any]]] = [
        ("files/mkdir", ("/d/e",), {"parents": True}),
        ("files/write", ("/d/hello",), {"create": True, "body": b"hello world\n"}),
        ("files/write", ("/d/big",), {"create": True, "body": stream_bytes(600_000)}),
        ("files/write", ("/d/hello",), {"offset": 6, "body": b"WORLD"}),
        ("files/write", ("/d/small",), {"create": True, "truncate": True, "body": b"x" * 10}),
        # writes into existing files go through Kubo's DagModifier: truncation keeps an empty first
        # leaf, appends continue the trickle tree, a write past the end pads with 4 KiB zero leaves
        ("files/write", ("/d/t",), {"create": True, "body": b"hello world\n"}),
        ("files/write", ("/d/t",), {"truncate": True, "body": b"short"}),
        ("files/write", ("/d/big",), {"truncate": True, "body": b"x" * 10}),
        ("files/write", ("/d/big",), {"offset": 10, "body": stream_bytes(300_000)}),
        ("files/write", ("/d/big",), {"offset": 100, "body": b"overwritten"}),
        ("files/write", ("/d/sparse",), {"create": True, "offset": 10_000, "body": b"tail"}),
        ("files/write", ("/d/small",), {"offset": 300_000, "body": b"far"}),
        ("files/write", ("/d/raw",), {"create": True, "raw_leaves": True, "body": b"raw leaf"}),
        ("files/write", ("/d/raw",), {"truncate": True, "body": b"raw"}),  # a raw leaf that is cut and grows
        ("files/write", ("/d/empty",), {"create": True, "body": b""}),
        ("files/mkdir", ("/v1",), {"cid_version": 1}),
        ("files/write", ("/v1/f",), {"create": True, "cid_version": 1, "body": stream_bytes(300_000)}),
        ("files/write", ("/v1/deep/f",), {"create": True, "parents": True, "cid_version": 1, "body": b"deep"}),
        ("files/cp", (f"/ipfs/{added}", "/d/copied"), {}),
        ("files/mv", ("/d/copied", "/d/e"), {}),
        ("files/rm", ("/d/big",), {}),
        ("files/chcid", ("/v1",), {"cid_version": 0}),
    ]
    for path, args, opts in steps:
        k, o = both(kubo, ours, path, *args, **opts)
        assert k.content == o.content == b"", (path, k.content, o.content)
        # the root's CID covers the whole tree; the entries are compared one by one below
        ks, os_ = call(kubo, "files/stat", "/").json(), call(ours, "files/stat", "/").json()
        assert ks.get("Hash") == os_.get("Hash"), (path, args, ks, os_)
    for p in ("/", "/d", "/d/hello", "/d/raw", "/d/empty", "/d/t", "/d/sparse", "/d/small", "/v1/f", "/d/e/copied"):
        k, o = both(kubo, ours, "files/stat", p)
        kj, oj = k.json(), o.json()
        assert {x: kj[x] for x in ("Hash", "Size", "CumulativeSize", "Blocks", "Type")} == \
               {x: oj[x] for x in ("Hash", "Size", "CumulativeSize", "Blocks", "Type")}, p
    for long in (True, False):
        k, o = both(kubo, ours, "files/ls", "/d", long=long)
        assert k.json() == o.json()
    k, o = both(kubo, ours, "files/read", "/d/hello", offset=2, count=7)
    assert k.content == o.content == b"llo WOR"
    k, o = both(kubo, ours, "files/flush", "/d")
    assert k.json() == o.json()
    for path in ("/d", "/nope"):  # Kubo: 200 and one JSON string per path it could not remove
        k, o = both(kubo, ours, "files/rm", path)
        assert k.json() == o.json() and isinstance(o.json(), str), (k.text, o.text)
    for bad in (("files/mkdir", ("/d",), {}), ("files/stat", ("/nope",), {}),
                ("files/cp", (f"/ipfs/{added}", "/d/hello"), {})):
        k, o = call(kubo, bad[0], *bad[1], **bad[2]), call(ours, bad[0], *bad[1], **bad[2])
        assert k.status_code >= 400 and o.status_code >= 400, bad
        assert k.json()["Type"] == o.json()["Type"] == "error"


def test_kubo_shapes(kubo: str, ours: str) -> None:
    k, o = both(kubo, ours, "add", body=b"shape from\n")
    a = k.json()["Hash"]
    k, o = both(kubo, ours, "add", body=b"shape to\n", pin=False)
    b = k.json()["Hash"]
    d = stream_bytes(300_000)
    k, o = both(kubo, ours, "add", body=d)
    big = k.json()["Hash"]
    assert o.json()["Hash"] == big
    k, o = both(kubo, ours, "pin/update", a, b)
    assert k.json() == o.json()
    k, o = both(kubo, ours, "pin/verify", verbose=True)
    same_shape(json_lines(k)[0], json_lines(o)[0], "pin/verify")
    k, o = both(kubo, ours, "resolve", f"/ipfs/{big}")
    assert k.json() == o.json()
    for opts in ({}, {"recursive": True}, {"recursive": True, "unique": True}, {"edges": True},
                 {"format": "<src> <linkname>"}):
        k, o = both(kubo, ours, "refs", big, **opts)
        assert json_lines(k) == json_lines(o), opts
    k, o = both(kubo, ours, "dag/get", big)
    assert k.json() == o.json()
    k, o = both(kubo, ours, "dag/resolve", f"/ipfs/{big}")
    assert k.json() == o.json()
    k, o = both(kubo, ours, "dag/stat", big, progress=False)
    kj, oj = k.json(), o.json()
    assert (kj["TotalSize"], kj["UniqueBlocks"]) == (oj["TotalSize"], oj["UniqueBlocks"])
    same_shape(kj, oj, "dag/stat")
    k, o = both(kubo, ours, "cid/base32", big)
    assert k.json() == o.json()
    k, o = both(kubo, ours, "multibase/encode", body=b"multibase", b="base32")
    assert k.content == o.content
    k, o = both(kubo, ours, "multibase/decode", body=k.content)
    assert k.content == o.content == b"multibase"
    for path in ("repo/stat", "stats/repo", "bootstrap/list"):
        k, o = both(kubo, ours, path)
        same_shape(k.json(), o.json(), path)
    k, o = both(kubo, ours, "repo/stat", size_only=True)
    assert set(k.json()) == set(o.json())
    k, o = both(kubo, ours, "config", "Bootstrap")
    same_shape(k.json(), o.json(), "config Bootstrap")
    k, o = both(kubo, ours, "config", "Datastore.StorageMax")
    same_shape(k.json(), o.json(), "config StorageMax")
    k, o = both(kubo, ours, "config", "Discovery.MDNS.Enabled", "false", bool=True)
    assert k.json() == o.json() == {"Key": "Discovery.MDNS.Enabled", "Value": False}
    k, o = both(kubo, ours, "config/show")
    kj, oj = k.json(), o.json()
    for section in ("Addresses", "Datastore", "Discovery"):
        for key, value in oj[section].items():
            assert key in kj[section], (section, key)
            same_shape(kj[section][key], value, f"{section}.{key}")
    assert type(kj["Bootstrap"]) is type(oj["Bootstrap"])
    k, o = both(kubo, ours, "log/level", "all", "info")
    same_shape(k.json(), o.json(), "log/level")


def test_shutdown_stops_the_server(tmp_path: Path) -> None:
    srv: ServerProcess = start_server(tmp_path / "repo", env={"IPFS_KIT_LIBP2P_ENABLED": "false"})
    try:
        r = httpx.post(f"{srv.url}/api/v0/shutdown", timeout=10)
        assert r.status_code == 200, r.text
        assert srv.proc.wait(30) is not None
    finally:
        srv.stop()


def test_dag_put_get_as_kubo(kubo: str, ours: str) -> None:
    """dag/put in every input and store codec gives Kubo's CIDs; dag/get (paths through links,
    output codecs) and dag/resolve give Kubo's bytes and answers."""
    import json

    file_cid = both(kubo, ours, "add", body=b"dag put target\n")[0].json()["Hash"]
    doc = json.dumps({"b": 1, "aa": [1.5, "x", {"/": file_cid}], "c": {"/": {"bytes": "aGVsbG8"}}, "n": None,
                      "t": True, "big": 12345678901234, "neg": -5, "f": 2.0, "e": 1.5e-7, "s": "a\u2028\x01\"é",
                      "nested": {"deep": [[], {}]}}).encode()
    cids = {}
    for opts in ({}, {"store_codec": "dag-json"}, {"hash": "sha2-512"}, {"hash": "blake2b-256"},
                 {"pin": True}):
        k, o = both(kubo, ours, "dag/put", body=doc, **opts)
        assert json_lines(k) == json_lines(o) and len(json_lines(o)) == 1, (opts, k.text, o.text)
        cids[json.dumps(opts)] = o.json()["Cid"]["/"]
    root = cids["{}"]
    k, o = both(kubo, ours, "pin/ls", root)
    assert k.json() == o.json()
    for path in ("", "/aa", "/aa/1", "/aa/2", "/c", "/nested/deep/1"):  # /aa/2: through the link
        k, o = both(kubo, ours, "dag/get", root + path)
        assert k.content == o.content, (path, k.content, o.content)
        k, o = both(kubo, ours, "dag/resolve", root + path)
        assert k.json() == o.json(), (path, k.text, o.text)
    k, o = both(kubo, ours, "dag/get", cids['{"store_codec": "dag-json"}'])
    assert k.content == o.content
    cbor = both(kubo, ours, "dag/get", root, output_codec="dag-cbor")
    assert cbor[0].content == cbor[1].content
    k, o = both(kubo, ours, "dag/put", body=cbor[0].content, input_codec="dag-cbor", store_codec="dag-json")
    assert k.json() == o.json()
    pb = json.dumps({"Data": {"/": {"bytes": "CAE"}}, "Links": [{"Hash": {"/": file_cid}, "Name": "f", "Tsize": 9}]})
    k, o = both(kubo, ours, "dag/put", body=pb.encode(), store_codec="dag-pb")
    assert k.json() == o.json()
    pb_cid = o.json()["Cid"]["/"]
    for path, opts in (("", {}), ("/f", {}), ("", {"output_codec": "dag-pb"})):
        k, o = both(kubo, ours, "dag/get", pb_cid + path, **opts)
        assert k.content == o.content, (path, opts)
    k, o = both(kubo, ours, "dag/put", body=b"raw bytes", input_codec="raw", store_codec="raw")
    assert k.json() == o.json()
    raw_cid = o.json()["Cid"]["/"]
    for opts in ({}, {"output_codec": "raw"}):
        k, o = both(kubo, ours, "dag/get", raw_cid, **opts)
        assert k.content == o.content
    # refs and dag/stat walk dag-cbor links too
    k, o = both(kubo, ours, "refs", root, recursive=True)
    assert json_lines(k) == json_lines(o)
    k, o = both(kubo, ours, "dag/stat", root, progress=False)
    assert k.json() == o.json()
    for bad in ({"body": b"{bad"}, {"body": doc, "store_codec": "nope"},
                {"body": b'{"a":1}', "store_codec": "dag-pb"}):
        k, o = call(kubo, "dag/put", **bad), call(ours, "dag/put", **bad)  # type: ignore[arg-type]
        assert k.status_code >= 400 and o.status_code >= 400 and o.json()["Type"] == "error", (bad, o.text)
    k, o = call(kubo, "dag/get", root + "/nope"), call(ours, "dag/get", root + "/nope")
    assert k.status_code >= 400 and o.status_code >= 400 and k.json()["Message"] == o.json()["Message"]


def test_pin_names_as_kubo(kubo: str, ours: str) -> None:
    """pin add --name, pin ls --names / --name (a filter that implies names), streamed and not;
    pinning again without a name clears it; names over 255 bytes are refused."""
    c = both(kubo, ours, "add", body=b"a named pin\n", pin=False)[0].json()["Hash"]
    steps: list[tuple[str, tuple[str, ...], dict[str, Any]]] = [
        ("pin/add", (c,), {"name": "first"}),
        ("pin/ls", (c,), {}),
        ("pin/ls", (c,), {"names": True}),
        ("pin/ls", (c,), {"names": True, "stream": True}),
        ("pin/add", (c,), {}),
        ("pin/ls", (c,), {"names": True}),
        ("pin/ls", (c,), {"names": True, "stream": True}),
        ("pin/add", (c,), {"name": "a-unique-pin-name"}),
        ("pin/ls", (), {"name": "unique-pin"}),
        ("pin/ls", (), {"name": "unique-pin", "stream": True}),
        ("pin/ls", (c,), {"name": "not-its-name"}),  # a pin asked by path is listed whatever the filter
        ("pin/ls", (), {"name": "no-pin-has-this-name"}),
    ]
    for path, args, opts in steps:
        k, o = both(kubo, ours, path, *args, **opts)
        assert json_lines(k) == json_lines(o), (path, args, opts, k.text, o.text)
    k, o = call(kubo, "pin/add", c, name="x" * 256), call(ours, "pin/add", c, name="x" * 256)
    assert k.status_code >= 400 and o.status_code >= 400 and k.json()["Message"] == o.json()["Message"]
