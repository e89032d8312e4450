"""The path gateway GET/HEAD /ipfs/{cid}[/{path}] against the real server application: in this
process through httpx's ASGI transport (tests/inproc.py), and over real sockets against the
server process where the connection is the point (a stream cut when a block is missing)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ServerProcess, stream_bytes
from inproc import InProcessServer, inprocess
from test_http_api import MISSING, add, import_car, multipart, post

from ipfs_kit_py.content.car import CarParser
from ipfs_kit_py.content.cid import CID
from ipfs_kit_py.mcp.gateway import RangeNotSatisfiable, etag_matches, parse_range, response_format

IMMUTABLE = "public, max-age=29030400, immutable"
BIG = 5 * 1024 * 1024 + 12345  # several leaves and a two-level tree at 256 KiB chunks
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """The app in this process; libp2p on, as the server's default, so a local-only miss is
    answered with a network there to wait for."""
    yield from inprocess(tmp_path_factory.mktemp("gateway") / "repo", overrides={"libp2p": {"enabled": True}})


@pytest.fixture
def fresh(app_server: InProcessServer) -> InProcessServer:
    """A second app with an empty repo, in this process."""
    return app_server


@pytest.fixture(scope="module")
def site(app: InProcessServer) -> dict[str, Any]:
    """A small site: a directory with index.html, one without, a big file, a PNG."""
    srv = app
    entries = [
        ("site/index.html", b"<!doctype html><title>home</title>hello"),
        ("site/style.css", b"body { color: red }"),
        ("site/docs/readme.txt", b"read me\n"),
        ("site/docs/data.json", b'{"a": 1}'),
        ("site/docs/we ird & <name>.txt", b"escaped\n"),
        ("site/media/video.bin", stream_bytes(BIG)),
    ]
    lines = add(srv, entries)
    by = {x["Name"]: x["Hash"] for x in lines}
    png = add(srv, [("picture", PNG)])[-1]["Hash"]  # no extension: sniffed
    return {"root": by["site"], "docs": by["site/docs"], "video": by["site/media/video.bin"], "png": png,
            "url": srv.url, "client": srv.client}


def gw(site: dict[str, Any], path: str, method: str = "GET", **kw) -> httpx.Response:
    return site["client"].request(method, path, follow_redirects=False, **kw)


# -- pure functions ----------------------------------------------------------------------------
def test_parse_range() -> None:
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=50-1000", 100) == (50, 99)
    assert parse_range("bytes=0-1,5-6", 100) is None  # several ranges: whole body
    for bad in ("bytes=100-", "bytes=9-3", "bytes=x-y", "items=0-1", "bytes=-0", "bytes=-"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(bad, 100)


def test_negotiation_and_etags() -> None:
    assert response_format(None, None) == "unixfs"
    assert response_format(None, "application/vnd.ipld.car; version=1") == "car"
    assert response_format(None, "text/html, application/vnd.ipld.raw;q=0.9") == "raw"
    assert response_format("raw", "application/vnd.ipld.car") == "raw"
    with pytest.raises(ValueError):
        response_format("tar", None)
    assert etag_matches('"a", "b"', '"b"') and etag_matches("*", '"x"') and etag_matches('W/"x"', '"x"')
    assert not etag_matches('"a"', '"b"') and not etag_matches(None, '"b"')


# -- files ----------------------------------------------------------------------------------------
def test_file_headers_and_body(site: dict[str, Any]) -> None:
    r = gw(site, f"/ipfs/{site['png']}")
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["content-type"] == "image/png"
    assert r.headers["etag"] == f'"{site["png"]}"'
    assert r.headers["cache-control"] == IMMUTABLE
    assert r.headers["content-length"] == str(len(PNG))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["x-ipfs-path"] == f"/ipfs/{site['png']}"
    css = gw(site, f"/ipfs/{site['root']}/style.css")
    assert css.text == "body { color: red }" and css.headers["content-type"].startswith("text/css")
    js = gw(site, f"/ipfs/{site['root']}/docs/data.json")
    assert js.headers["content-type"] == "application/json"
    assert js.headers["x-ipfs-roots"].split(",")[0] == site["root"] and len(js.headers["x-ipfs-roots"].split(",")) == 3
    weird = gw(site, f"/ipfs/{site['docs']}/we%20ird%20%26%20%3Cname%3E.txt")
    assert weird.text == "escaped\n"


def test_head_has_headers_and_no_body(site: dict[str, Any]) -> None:
    r = gw(site, f"/ipfs/{site['video']}", "HEAD")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(BIG) and r.headers["etag"] == f'"{site["video"]}"'
    r = gw(site, f"/ipfs/{site['video']}", "HEAD", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.headers["content-range"] == f"bytes 10-19/{BIG}" and r.content == b""
    assert gw(site, f"/ipfs/{MISSING}", "HEAD").status_code == 404
    # the spec's only-if-cached probe: 412 when the content is not here, 200 when it is
    assert gw(site, f"/ipfs/{MISSING}", "HEAD", headers={"Cache-Control": "only-if-cached"}).status_code == 412
    assert gw(site, f"/ipfs/{site['png']}", "HEAD", headers={"Cache-Control": "only-if-cached"}).status_code == 200


def test_if_none_match_304(site: dict[str, Any]) -> None:
    etag = gw(site, f"/ipfs/{site['png']}", "HEAD").headers["etag"]
    r = gw(site, f"/ipfs/{site['png']}", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert r.headers["cache-control"] == IMMUTABLE
    assert gw(site, f"/ipfs/{site['png']}", headers={"If-None-Match": '"other"'}).status_code == 200
    raw_etag = gw(site, f"/ipfs/{site['png']}?format=raw").headers["etag"]
    assert gw(site, f"/ipfs/{site['png']}?format=raw", headers={"If-None-Match": raw_etag}).status_code == 304


def test_ranges_and_seeks_into_a_big_file(site: dict[str, Any]) -> None:
    data = stream_bytes(BIG)
    url = f"/ipfs/{site['video']}"
    for start, end in [(0, 0), (262143, 262145), (3_000_000, 3_999_999), (BIG - 100, BIG - 1), (4_718_592, 4_718_592 + 262143)]:
        r = gw(site, url, headers={"Range": f"bytes={start}-{end}"})
        assert r.status_code == 206, r.text
        assert r.headers["content-range"] == f"bytes {start}-{end}/{BIG}"
        assert r.headers["content-length"] == str(end - start + 1)
        assert r.content == data[start : end + 1]
    r = gw(site, url, headers={"Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == data[-5:]
    r = gw(site, url, headers={"Range": f"bytes={BIG - 10}-"})
    assert r.status_code == 206 and r.content == data[-10:]
    for bad in (f"bytes={BIG}-", "bytes=9-2", "bytes=abc"):
        r = gw(site, url, headers={"Range": bad})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{BIG}", bad
    full = gw(site, url)
    assert full.status_code == 200 and hashlib.sha256(full.content).digest() == hashlib.sha256(data).digest()


def test_many_seeks_are_cheap(site: dict[str, Any]) -> None:
    """50 small ranges spread over the file cost less than a few full reads: each seek
    reads only the blocks on the path to its offset."""
    url = f"/ipfs/{site['video']}"
    c = site["client"]
    t0 = time.perf_counter()
    c.get(url).read()
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(50):
        off = (i * 104729) % (BIG - 1000)
        assert len(c.get(url, headers={"Range": f"bytes={off}-{off + 999}"}).content) == 1000
    seeks = time.perf_counter() - t0
    assert seeks < max(25 * full, 2.0), (seeks, full)


# -- directories -------------------------------------------------------------------------------------
def test_directory_redirect_index_and_listing(site: dict[str, Any]) -> None:
    r = gw(site, f"/ipfs/{site['root']}?x=1")
    assert r.status_code == 301 and r.headers["location"] == f"/ipfs/{site['root']}/?x=1"
    r = gw(site, f"/ipfs/{site['root']}/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text == "<!doctype html><title>home</title>hello"  # index.html served
    r = gw(site, f"/ipfs/{site['root']}/docs/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    for name in ("readme.txt", "data.json"):
        assert f'href="{name}"' in page
    assert "we ird &amp; &lt;name&gt;.txt" in page and "<name>" not in page  # escaped
    assert 'href="we%20ird%20%26%20%3Cname%3E.txt"' in page
    assert 'href=".."' in page
    assert r.headers["etag"] and r.headers["cache-control"] == IMMUTABLE
    assert gw(site, f"/ipfs/{site['root']}/docs/", "HEAD").content == b""


# -- trustless responses --------------------------------------------------------------------------------
def test_format_raw(site: dict[str, Any]) -> None:
    for kw in ({"params": {"format": "raw"}}, {"headers": {"Accept": "application/vnd.ipld.raw"}}):
        r = gw(site, f"/ipfs/{site['root']}", **kw)
        assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.ipld.raw"
        assert CID.decode(site["root"]).verify(r.content)
        assert r.headers["content-disposition"] == f'attachment; filename="{site["root"]}.bin"'
        assert r.headers["x-content-type-options"] == "nosniff"
    r = gw(site, f"/ipfs/{site['root']}/docs/readme.txt?format=raw")  # the block at the end of the path
    assert b"read me\n" in r.content and len(r.content) < 30  # the leaf block itself, not a rendering


def post_export(site: dict[str, Any], cid: str) -> bytes:
    return site["client"].post("/api/v0/dag/export", params={"arg": cid}).content


def parse_car(body: bytes) -> tuple[list[CID], list[tuple[CID, bytes]]]:
    p = CarParser(verify=True)
    blocks = p.feed(body)
    p.close()
    return p.roots or [], blocks


def test_format_car_round_trips_into_a_second_server(site: dict[str, Any], fresh: InProcessServer) -> None:
    server = fresh
    r = gw(site, f"/ipfs/{site['root']}", params={"format": "car"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.ipld.car; version=1; order=dfs; dups=n"
    assert r.headers["content-disposition"] == f'attachment; filename="{site["root"]}.car"'
    roots, blocks = parse_car(r.content)
    assert [str(x) for x in roots] == [site["root"]] and str(blocks[0][0]) == site["root"]
    assert len({c.multihash for c, _ in blocks}) == len(blocks)  # dups=n
    line = import_car(server, r.content).json()
    assert line == {"Root": {"Cid": {"/": site["root"]}, "PinErrorMsg": ""}}
    back = server.client.get(f"/ipfs/{site['root']}/media/video.bin")
    assert hashlib.sha256(back.content).digest() == hashlib.sha256(stream_bytes(BIG)).digest()
    same = server.client.get(f"/ipfs/{site['root']}", params={"format": "car"})
    assert same.content == r.content


def test_car_of_a_path_and_dag_scopes(site: dict[str, Any]) -> None:
    path = f"/ipfs/{site['root']}/docs/readme.txt"
    r = gw(site, path, headers={"Accept": "application/vnd.ipld.car"})
    roots, blocks = parse_car(r.content)
    cids = [str(c) for c, _ in blocks]
    assert [str(x) for x in roots] == [site["root"]]
    assert cids[0] == site["root"] and cids[1] == site["docs"]  # blocks that verify the path come first
    assert len(cids) == 3 and cids[2] == r.headers["x-ipfs-roots"].split(",")[-1]
    r = gw(site, f"/ipfs/{site['root']}/docs", params={"format": "car", "dag-scope": "block"})
    assert [str(c) for c, _ in parse_car(r.content)[1]] == [site["root"], site["docs"]]
    r = gw(site, f"/ipfs/{site['root']}/docs", params={"format": "car", "dag-scope": "entity"})
    assert len(parse_car(r.content)[1]) == 2  # a directory entity: its own block
    r = gw(site, f"/ipfs/{site['video']}", params={"format": "car", "dag-scope": "entity"})
    whole = post_export(site, site["video"])
    assert r.content == whole and len(parse_car(r.content)[1]) > 20  # a file entity: every block of it
    assert gw(site, f"/ipfs/{site['root']}", params={"format": "car", "dag-scope": "bogus"}).status_code == 400


# -- errors -------------------------------------------------------------------------------------------
def test_gateway_errors(site: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    assert gw(site, f"/ipfs/{MISSING}").status_code == 404  # local only: no network wait
    assert time.perf_counter() - t0 < 2
    assert gw(site, "/ipfs/not-a-cid").status_code == 400
    assert gw(site, "/ipfs/QmInvalid0OIl").status_code == 400
    assert gw(site, f"/ipfs/{site['root']}/nope.txt").status_code == 404
    assert gw(site, f"/ipfs/{site['root']}/style.css/deeper").status_code == 400
    assert gw(site, f"/ipfs/{site['root']}/docs/%2E%2E/style.css").status_code == 400  # no '..' segments
    assert gw(site, f"/ipfs/{site['root']}?format=tar").status_code == 400
    assert gw(site, f"/ipfs/{MISSING}?format=raw").status_code == 404
    assert gw(site, f"/ipfs/{MISSING}?format=car").status_code == 404


def test_unpinned_then_collected_content_is_gone(fresh: InProcessServer) -> None:
    server = fresh
    cid = add(server, [("tmp", b"temporary\n")], pin="false")[-1]["Hash"]
    assert server.client.get(f"/ipfs/{cid}").text == "temporary\n"
    post(server, "repo/gc")
    assert server.client.get(f"/ipfs/{cid}").status_code == 404
    body, ctype = multipart([("again", b"temporary\n")])
    assert json.loads(post(server, "add", content=body, headers={"Content-Type": ctype}).text)["Hash"] == cid


def test_missing_block_cuts_the_stream_and_ranges_read_only_their_blocks(server: ServerProcess) -> None:
    """Real sockets: the server process end to end, and a cut stream as the client sees it."""
    """A leaf removed from disk: a full read is cut mid-stream (never a short 200),
    while ranges that do not touch that leaf still succeed (only their blocks are read)."""
    from ipfs_kit_py.content.blockstore import multihash_key

    leaf = 262144
    data = stream_bytes(12 * leaf)
    cid = add(server, [("twelve", data)])[-1]["Hash"]
    leaves = post(server, "ls", {"arg": cid}).json()["Objects"][0]["Links"]
    assert len(leaves) == 12
    key = multihash_key(CID.decode(leaves[8]["Hash"]).multihash)
    [block_file] = list((server.repo / "blocks").rglob(f"{key}.data"))
    block_file.unlink()
    ok = httpx.get(f"{server.url}/ipfs/{cid}", headers={"Range": f"bytes=0-{8 * leaf - 1}"}, timeout=10)
    assert ok.status_code == 206 and ok.content == data[: 8 * leaf]
    tail = httpx.get(f"{server.url}/ipfs/{cid}", headers={"Range": f"bytes={9 * leaf}-"}, timeout=10)
    assert tail.status_code == 206 and tail.content == data[9 * leaf :]
    # the missing leaf is past the first streamed batch: the status (200) is already sent
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server.url}/ipfs/{cid}", timeout=10)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{server.url}/api/v0/cat", params={"arg": cid}, timeout=10)
    # a range starting in the missing leaf fails before any header: a clear status
    r = httpx.get(f"{server.url}/ipfs/{cid}", headers={"Range": f"bytes={8 * leaf + 5}-{8 * leaf + 9}"}, timeout=10)
    assert r.status_code == 404 and "not found" in r.text
    assert httpx.get(f"{server.url}/ipfs/{cid}", headers={"Range": "bytes=0-9"}, timeout=10).content == data[:10]
