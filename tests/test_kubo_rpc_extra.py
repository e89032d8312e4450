"""Issue 14's Kubo RPC commands against a real current Kubo: the same requests go to a
Kubo 0.43.1 daemon (``--offline``, loopback only, test profile: no bootstrap) and to our
server, and the answers are compared: MFS CIDs equal, other answers the same shape
(keys and value types). Skipped when the Kubo binary is absent
(``$IPFS_KIT_KUBO`` or ``~/.cache/ipfs-kit-kubo/ipfs-0.43.1``). Also: ``shutdown`` stops
our server cleanly.
"""

from __future__ import annotations

import os
import re
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


def test_refs_of_shared_subtrees_as_kubo(kubo: str, ours: str) -> None:
    """refs over a DAG whose blocks are linked several times and at several depths: every
    option gives Kubo's lines. Before the walk moved onto content/walk.py, ``-u`` with
    ``--max-depth`` dropped the leaves of a block met deeper first, and ``--max-depth``
    without ``-r`` went deeper than the direct links (Kubo ignores it there)."""
    import json

    def put_pb(links: list[tuple[str, str]]) -> str:
        doc = {"Data": {"/": {"bytes": "CAE"}},
               "Links": [{"Hash": {"/": c}, "Name": n, "Tsize": 1} for n, c in links]}
        k, o = both(kubo, ours, "dag/put", body=json.dumps(doc).encode(), store_codec="dag-pb")
        assert k.json() == o.json()
        return str(o.json()["Cid"]["/"])

    x = both(kubo, ours, "add", body=b"shared leaf\n", pin=False)[0].json()["Hash"]
    big = both(kubo, ours, "add", body=stream_bytes(600_000), pin=False)[0].json()["Hash"]
    inner = put_pb([("big", big), ("x", x)])
    root = put_pb([("a", inner), ("b", big), ("c", x), ("d", x)])  # big: at depth 2, then 1
    for opts in ({}, {"recursive": True}, {"recursive": True, "unique": True}, {"recursive": True, "edges": True},
                 {"recursive": True, "unique": True, "edges": True}, {"recursive": True, "max_depth": 2},
                 {"recursive": True, "max_depth": 0}, {"max_depth": 2},
                 {"recursive": True, "unique": True, "max_depth": 1},
                 {"recursive": True, "unique": True, "max_depth": 2},
                 {"recursive": True, "format": "<src> <dst> <linkname>"}):
        k, o = both(kubo, ours, "refs", root, **opts)
        assert json_lines(k) == json_lines(o), opts


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


def test_pin_ls_indirect_as_kubo(kubo: str, ours: str) -> None:
    """pin/ls type=indirect and type=all list the blocks below recursive pins as Kubo does (a
    direct or recursive pin of its own wins), streamed or not; a path asked for that is only
    reachable is "indirect through <root>"."""
    import json

    def add(body: bytes, **opts: Any) -> str:
        k, o = both(kubo, ours, "add", body=body, **opts)
        assert k.json()["Hash"] == o.json()["Hash"]
        return str(o.json()["Hash"])

    big = add(b"pin/ls indirect " + stream_bytes(600_000), pin=False)  # a root and 3 leaves
    direct = add(b"pinned directly, and linked\n", pin=False)
    rec = add(b"pinned recursively, and linked\n")
    both(kubo, ours, "pin/add", direct, recursive=False)
    doc = json.dumps({"big": {"/": big}, "direct": {"/": direct}, "rec": {"/": rec}}).encode()
    k, o = both(kubo, ours, "dag/put", body=doc, pin=True)
    root = o.json()["Cid"]["/"]
    assert k.json()["Cid"]["/"] == root
    leaves = [line["Ref"] for line in json_lines(both(kubo, ours, "refs", big)[0])]
    assert len(leaves) == 3
    mine = {root, big, direct, rec, *leaves}
    expected = {root: "recursive", rec: "recursive", direct: "direct", big: "indirect",
                **dict.fromkeys(leaves, "indirect")}
    for type_ in ("indirect", "all"):
        want = {c: t for c, t in expected.items() if type_ == "all" or t == "indirect"}
        k, o = both(kubo, ours, "pin/ls", type=type_)
        kk = {c: v["Type"] for c, v in k.json()["Keys"].items() if c in mine}
        ok = {c: v["Type"] for c, v in o.json()["Keys"].items() if c in mine}
        assert kk == ok == want, (type_, kk, ok)
        assert {json.dumps(shape(v)) for v in k.json()["Keys"].values()} == \
            {json.dumps(shape(v)) for v in o.json()["Keys"].values()}  # {"Type": str, "Name": str}
        k, o = both(kubo, ours, "pin/ls", type=type_, stream=True)
        kl, ol = ([line for line in json_lines(r) if line["Cid"] in mine] for r in (k, o))
        assert sorted(kl, key=json.dumps) == sorted(ol, key=json.dumps), (type_, kl, ol)
        assert {line["Cid"]: line["Type"] for line in ol} == want
        # Kubo's order: recursive pins, then direct ones, then indirect ones
        order = {"recursive": 0, "direct": 1, "indirect": 2}
        assert [order[line["Type"]] for line in ol] == sorted(order[line["Type"]] for line in ol)
    # type=indirect: a direct pin that is also linked is "indirect through"; a recursive pin is not
    for arg, type_ in ((leaves[0], "all"), (leaves[1], "indirect"), (big, "indirect"), (direct, "indirect")):
        k, o = both(kubo, ours, "pin/ls", arg, type=type_)
        assert k.json() == o.json() == {"Keys": {arg: {"Type": f"indirect through {root}", "Name": ""}}}, arg
    for arg, type_ in ((leaves[0], "recursive"), (leaves[0], "direct"), (root, "indirect"), (rec, "indirect")):
        k, o = call(kubo, "pin/ls", arg, type=type_), call(ours, "pin/ls", arg, type=type_)
        assert k.status_code >= 400 and o.status_code >= 400 and o.json()["Type"] == "error", (arg, type_, o.text)


def test_dag_stat_progress_as_kubo(kubo: str, ours: str) -> None:
    """dag/stat streams a line per block visited (progress is on unless progress=false, as Kubo's
    RPC), then the summary; several roots count shared blocks once (SharedSize, Ratio)."""
    a = both(kubo, ours, "add", body=b"dag stat progress " + stream_bytes(700_000))[1].json()["Hash"]
    b = both(kubo, ours, "add", body=b"dag stat, a second root\n")[1].json()["Hash"]
    for args, opts in (((a,), {}), ((a,), {"progress": True}), ((a,), {"progress": False}),
                       ((a, b), {}), ((a, b, a), {}), ((a, b, a), {"progress": False})):
        k, o = both(kubo, ours, "dag/stat", *args, **opts)
        kl, ol = json_lines(k), json_lines(o)
        assert kl == ol, (args, opts, kl, ol)
        blocks = sum(d["NumBlocks"] for d in ol[-1]["DagStats"])  # one progress line per block visited
        assert len(ol) == (1 if opts.get("progress") is False else 1 + blocks), (args, opts)
    k, o = call(kubo, "dag/stat"), call(ours, "dag/stat")
    assert k.status_code >= 400 and o.status_code >= 400 and o.json()["Type"] == "error"


# -- the swarm, ping, bandwidth: an online Kubo (loopback, no bootstrap) and our node connected ----------
@pytest.fixture(scope="module")
def kubo_online(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from kubo_daemon import KUBO as KUBO_BIN
    from kubo_daemon import KuboDaemon

    if KUBO_BIN is None:
        pytest.skip("no Kubo binary")
    d = KuboDaemon(tmp_path_factory.mktemp("kubo-online") / "repo")
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def ours_online(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    srv = start_server(tmp_path_factory.mktemp("ours-online") / "repo")  # libp2p on, loopback (conftest)
    try:
        yield srv.url
    finally:
        srv.stop()


def _wait(cond: Any, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _peer_ids(url: str) -> list[str]:
    return [p["Peer"] for p in call(url, "swarm/peers").json()["Peers"] or []]


def _numbers(v: Any) -> Any:
    """The shape with int and float both 'number' (Kubo writes a rate of 0 as 0)."""
    s = shape(v)
    if isinstance(s, dict):
        return {k: "number" if x in ("int", "float") else x for k, x in s.items()}
    return s


def test_swarm_ping_bandwidth_as_kubo(kubo_online: Any, ours_online: str) -> None:
    """swarm/peers (plain and with every flag), swarm/addrs[/local|/listen], stats/bw, stats/bitswap,
    ping, swarm/peering add/ls/rm and swarm/disconnect: the same requests to Kubo and to our node,
    each about the other, give answers of the same shape (and the same texts where they are fixed)."""
    kubo = kubo_online.api.rsplit("/api/v0", 1)[0]
    ours = ours_online
    me = call(ours, "id").json()
    my_addr = next(a for a in me["Addresses"] if a.startswith("/ip4/127.0.0.1/"))
    r = call(ours, "swarm/connect", kubo_online.full_addr)
    assert r.status_code == 200, r.text
    _wait(lambda: me["ID"] in _peer_ids(kubo) and kubo_online.peer_id in _peer_ids(ours), what="the connection")
    # ping each way first: the latency it measures shows in swarm/peers
    for url, other in ((kubo, me["ID"]), (ours, kubo_online.peer_id)):
        lines = json_lines(call(url, "ping", other, count=2))
        assert [x["Text"] for x in lines[:1]] == [f"PING {other}."], lines
        assert all(x["Success"] and x["Time"] > 0 and x["Text"] == "" for x in lines[1:3]), lines
        assert lines[3]["Text"].startswith("Average latency: ") and lines[3]["Text"].endswith("ms"), lines
    for opts in ({}, {"verbose": True}, {"latency": True, "streams": True, "direction": True}, {"identify": True}):
        kp, op_ = call(kubo, "swarm/peers", **opts).json()["Peers"], call(ours, "swarm/peers", **opts).json()["Peers"]
        kc = next(p for p in kp if p["Peer"] == me["ID"])
        oc = next(p for p in op_ if p["Peer"] == kubo_online.peer_id)
        assert set(oc) - {"Streams"} == set(kc) - {"Streams"}, (opts, kc, oc)  # Streams: only when some are open
        for key in set(oc) & set(kc):
            assert _numbers(oc[key]) == _numbers(kc[key]) or key == "Identify" and not opts, (opts, key, kc, oc)
        if opts.get("verbose") or opts.get("latency"):
            assert oc["Latency"] != "n/a" and re.fullmatch(r"[\d.]+(ns|µs|ms|s)", oc["Latency"]), oc
        if opts.get("verbose") or opts.get("direction"):
            assert (kc["Direction"], oc["Direction"]) == (1, 2)  # we dialed Kubo
        if opts.get("verbose") or opts.get("identify"):
            assert oc["Identify"]["ID"] == kubo_online.peer_id and "/ipfs/ping/1.0.0" in oc["Identify"]["Protocols"]
    k, o = both(kubo, ours, "swarm/addrs")
    assert k.json().keys() == o.json().keys() == {"Addrs"}
    assert me["ID"] in k.json()["Addrs"] and kubo_online.peer_id in o.json()["Addrs"]
    for path, opts in (("swarm/addrs/local", {}), ("swarm/addrs/local", {"id": True}), ("swarm/addrs/listen", {})):
        k, o = both(kubo, ours, path, **opts)
        same_shape(k.json(), o.json(), path)
        assert my_addr.split("/p2p/")[0] in [s.split("/p2p/")[0] for s in o.json()["Strings"]]
    for opts in ({}, {"proto": "/ipfs/ping/1.0.0"}, {"peer": kubo_online.peer_id}):
        k = call(kubo, "stats/bw", **(opts if "peer" not in opts else {"peer": me["ID"]}))
        o = call(ours, "stats/bw", **opts)
        assert _numbers(json_lines(k)[0]) == _numbers(json_lines(o)[0]), (opts, k.text, o.text)
    assert json_lines(call(ours, "stats/bw", proto="/ipfs/ping/1.0.0"))[0]["TotalOut"] >= 2 * 32  # two pings
    k, o = call(kubo, "stats/bw", peer=me["ID"], proto="/x"), call(ours, "stats/bw", peer=me["ID"], proto="/x")
    assert k.status_code == o.status_code == 400 and k.json()["Message"] == o.json()["Message"]
    k, o = both(kubo, ours, "stats/bitswap")
    assert set(k.json()) == set(o.json())
    for bad in (("ping", (me["ID"],), {}, ours), ("ping", (kubo_online.peer_id,), {"count": 0}, ours)):
        r = call(bad[3], bad[0], *bad[1], **bad[2])
        kr = call(kubo, bad[0], kubo_online.peer_id if bad[1][0] == me["ID"] else me["ID"], **bad[2])
        assert r.status_code >= 400 and kr.status_code >= 400 and r.json()["Message"] == kr.json()["Message"]
    # peering: ours keeps Kubo connected, through a disconnect
    k, o = both(kubo, ours, "swarm/peering/ls")
    assert k.json()["Peers"] in ([], None) and o.json() == {"Peers": []}  # Kubo: [] or null; always [] here
    k, o = call(kubo, "swarm/peering/add", my_addr), call(ours, "swarm/peering/add", kubo_online.full_addr)
    assert json_lines(k) == [{"ID": me["ID"], "Status": "success"}]
    assert json_lines(o) == [{"ID": kubo_online.peer_id, "Status": "success"}]
    k, o = both(kubo, ours, "swarm/peering/ls")
    assert _numbers(k.json()["Peers"][0]) == _numbers(o.json()["Peers"][0])
    assert o.json()["Peers"][0]["Addrs"] == [kubo_online.addr.split("/p2p/")[0]]
    k, o = call(kubo, "swarm/peering/rm", me["ID"]), call(ours, "swarm/disconnect", kubo_online.full_addr)
    assert json_lines(k) == [{"ID": me["ID"], "Status": "success"}]
    assert o.json() == {"Strings": [f"disconnect {kubo_online.peer_id} success"]}
    _wait(lambda: kubo_online.peer_id in _peer_ids(ours), what="peering to redial Kubo")
    o = call(ours, "swarm/peering/rm", kubo_online.peer_id)
    assert json_lines(o) == [{"ID": kubo_online.peer_id, "Status": "success"}]
    assert call(ours, "swarm/peering/ls").json() == {"Peers": []}
    # disconnect by peer ID, then again: Kubo's failure texts
    o = call(ours, "swarm/disconnect", f"/p2p/{kubo_online.peer_id}")
    assert o.json() == {"Strings": [f"disconnect {kubo_online.peer_id} success"]}
    _wait(lambda: me["ID"] not in _peer_ids(kubo), what="Kubo to see the disconnect")
    k, o = (call(kubo, "swarm/disconnect", f"/p2p/{me['ID']}"),
            call(ours, "swarm/disconnect", f"/p2p/{kubo_online.peer_id}"))
    assert k.json()["Strings"][0].replace(me["ID"], "X") == o.json()["Strings"][0].replace(kubo_online.peer_id, "X")


def test_cli_verbs(kubo_online: Any, ours_online: str, tmp_path: Path,
                   capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """The verbs of these groups, generated from the registry: through the running server, and
    on a repo with no server (in-process) where the command needs no network."""
    from ipfs_kit_py.cli import main

    def cli(*argv: str, api: str | None = ours_online) -> tuple[int, bytes]:
        capsysbinary.readouterr()
        rc = main([*(["--api", api] if api else ["--repo", str(tmp_path / "offline")]), *argv])
        return rc, capsysbinary.readouterr().out

    body = tmp_path / "body"
    for api in (ours_online, None):
        body.write_bytes(b"hello from the cli\n")
        assert cli("files", "write", "--create", "--parents", "/cli/f", str(body), api=api) == (0, b"")
        assert cli("files", "read", "/cli/f", api=api) == (0, b"hello from the cli\n")
        body.write_bytes(b"HELLO")
        assert cli("files", "write", "--truncate", "/cli/f", str(body), api=api)[0] == 0
        assert cli("files", "read", "/cli/f", "--offset", "1", "--count", "3", api=api) == (0, b"ELL")
        body.write_bytes(b'{"cli": [1, 2.5, {"/": {"bytes": "aGk"}}]}')
        rc, out = cli("dag", "put", str(body), api=api)
        assert rc == 0 and out.decode().strip().startswith("bafyrei"), out
        root = out.decode().strip()
        assert cli("dag", "get", f"{root}/cli/1", api=api) == (0, b"2.5")
        assert cli("dag", "get", root, api=api) == (0, b'{"cli":[1,2.5,{"/":{"bytes":"aGk"}}]}')
        rc, out = cli("pin", "add", "--name", "from-cli", root, api=api)
        assert rc == 0 and out.decode().split()[1] == root, out
        rc, out = cli("pin", "ls", "--name", "from-cli", api=api)
        assert rc == 0 and out.decode().split() == [root, "recursive", "from-cli"], out
        body.write_bytes(b"multibase")
        assert cli("multibase", "encode", "-b", "base32", str(body), api=api) == (0, b"bnv2wy5djmjqxgzi")
    # the network verbs, through the server that is connected to Kubo
    assert call(ours_online, "swarm/connect", kubo_online.full_addr).status_code == 200
    rc, out = cli("ping", "-n", "1", kubo_online.peer_id)
    lines = out.decode().splitlines()
    assert rc == 0 and lines[0] == f"PING {kubo_online.peer_id}." and lines[1].startswith("Pong received: time="), lines
    rc, out = cli("swarm", "peers", "--latency", "--direction")
    assert rc == 0 and f"/p2p/{kubo_online.peer_id} " in out.decode() and " outbound" in out.decode(), out
    rc, out = cli("stats", "bw")
    assert rc == 0 and out.decode().startswith("Bandwidth\nTotalIn: "), out
    rc, out = cli("swarm", "peering", "add", kubo_online.full_addr)
    assert (rc, out.decode().strip()) == (0, f"add {kubo_online.peer_id} success")
    rc, out = cli("swarm", "peering", "ls")
    assert (rc, out.decode().strip()) == (0, kubo_online.peer_id)
    assert cli("swarm", "peering", "rm", kubo_online.peer_id)[0] == 0
    rc, out = cli("swarm", "addrs")
    assert rc == 0 and kubo_online.peer_id in out.decode()
