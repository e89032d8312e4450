"""IPFSSimpleAPI (async and sync facade) and its HTTP client against a real server."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import tarfile
import tracemalloc
from pathlib import Path

import pytest
from conftest import VECTORS, ServerProcess, stream_bytes

from ipfs_kit_py.client import HTTPClient, normalize_url
from ipfs_kit_py.client.http import error_from_kubo
from ipfs_kit_py.client.tarstream import extract_tar
from ipfs_kit_py.errors import (
    BlockNotFound,
    ChannelUnavailable,
    InvalidArgument,
    InvalidCAR,
    InvalidCID,
    IPFSKitError,
    NotFound,
    PathError,
)
from ipfs_kit_py.high_level_api import IPFSSimpleAPI, SyncIPFSSimpleAPI

V = json.loads(VECTORS.read_text())
FILE = {f["name"]: f for f in V["files"]}
TESTDIR = V["directories"][0]


def make_testdir(root: Path) -> Path:
    d = root / "testdir"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("hello world\n")
    (d / "b.bin").write_bytes(stream_bytes(300000))
    (d / "sub" / "c.txt").write_text("nested file\n")
    return d


async def test_add_cat_vectors(shared_server: ServerProcess) -> None:
    async with IPFSSimpleAPI(mcp_url=shared_server.url) as api:
        for name in ("one_byte", "256KiB_plus_1", "1MiB_plus_1"):
            data = stream_bytes(FILE[name]["size"])
            added = await api.add(data)
            assert added.cid == FILE[name]["cid"]["v0"]
            assert await api.cat(added.cid) == data
        data = stream_bytes(FILE["1MiB_plus_1"]["size"])
        for profile, opts in (("v1raw", {"cid_version": 1}), ("v1-2025", {"profile": "v1-2025"})):
            assert (await api.add(data, **opts)).cid == FILE["1MiB_plus_1"]["cid"][profile]
        cid = FILE["1MiB_plus_1"]["cid"]["v0"]
        assert await api.cat(cid, offset=262140, length=10) == data[262140:262150]
        chunks = [c async for c in api.cat_stream(cid, offset=1000)]
        assert b"".join(chunks) == data[1000:]
        st = await api.stat(cid)
        assert (st.type, st.size) == ("file", len(data)) and st.cumulative_size > len(data)


async def test_add_sources_and_progress(shared_server: ServerProcess, tmp_path: Path) -> None:
    data = stream_bytes(FILE["1MiB_plus_1"]["size"])
    expected = FILE["1MiB_plus_1"]["cid"]["v0"]
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    seen: list[int] = []
    api = IPFSSimpleAPI(shared_server.host_port)  # host:port works as well as a URL
    try:
        assert (await api.add(str(f), progress=seen.append)).cid == expected
        assert seen and seen[-1] == len(data) and seen == sorted(seen)

        async def pieces():
            for i in range(0, len(data), 100_000):
                yield data[i:i + 100_000]

        assert (await api.add(pieces(), name="streamed.bin")).cid == expected
        with open(f, "rb") as fh:
            assert (await api.add(fh)).cid == expected
        results = await api.add_path(make_testdir(tmp_path))
        assert [r.name for r in results] == ["testdir/a.txt", "testdir/b.bin", "testdir/sub/c.txt",
                                             "testdir/sub", "testdir"]
        assert results[-1].cid == TESTDIR["cid"]["v0"]
        only = await api.add(b"never stored " + os.urandom(8), only_hash=True)
        with pytest.raises(NotFound):
            await api.cat(only.cid)
    finally:
        await api.close()


async def test_upload_is_streamed_not_buffered(shared_server: ServerProcess, tmp_path: Path) -> None:
    """Adding a 48 MiB file allocates a few chunks in the client, not the file."""
    f = tmp_path / "48MiB.bin"
    with open(f, "wb") as fh:
        for i in range(48):
            fh.write(stream_bytes(1 << 20)[:-8] + i.to_bytes(8, "big"))
    async with IPFSSimpleAPI(shared_server.url) as api:
        tracemalloc.start()
        try:
            added = await api.add(f, pin=False)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 12 << 20, f"client peak {peak / 2**20:.1f} MiB"
        assert (await api.stat(added.cid)).size == 48 << 20


async def test_dirs_pins_metadata_car(shared_server: ServerProcess, tmp_path: Path) -> None:
    async with IPFSSimpleAPI(shared_server.url) as api:
        root = (await api.add(make_testdir(tmp_path)))
        assert root.cid == TESTDIR["cid"]["v0"]
        entries = await api.ls(root.cid)
        assert [(e.name, e.type) for e in entries] == [("a.txt", "file"), ("b.bin", "file"), ("sub", "directory")]
        assert entries[1].size == 300000
        out = tmp_path / "out"
        written = await api.get(root.cid, out)
        assert written == 12 + 300000 + 12
        assert (out / "b.bin").read_bytes() == stream_bytes(300000)
        assert (out / "sub" / "c.txt").read_text() == "nested file\n"

        assert any(p.cid == root.cid and p.type == "recursive" for p in await api.list_pins())
        md = await api.set_metadata(root.cid, {"title": "test dir", "n": 3})
        assert md.user == {"title": "test dir", "n": 3}
        assert (await api.get_metadata(root.cid)).user["title"] == "test dir"

        car = tmp_path / "dir.car"
        size = await api.export_car(root.cid, car)
        assert size == car.stat().st_size > 300000
        assert await api.unpin(root.cid) == [root.cid]
        with pytest.raises(NotFound, match="not pinned"):
            await api.unpin(root.cid)
        await api.client.repo_gc()
        with pytest.raises(NotFound):
            await api.ls(root.cid)
        imported = await api.import_car(car)
        assert imported.roots == [root.cid] and imported.blocks == 7 and not imported.pin_errors
        assert await api.cat(f"{root.cid}/sub/c.txt") == b"nested file\n"
        assert await api.import_car(car.read_bytes()) == imported  # bytes work too


async def test_blocks_repo_id_version(shared_server: ServerProcess) -> None:
    async with HTTPClient(shared_server.url) as c:
        put = await c.block_put(b"raw block bytes")
        assert put.cid.startswith("bafkrei") and put.size == 15
        assert await c.block_get(put.cid) == b"raw block bytes"
        assert await c.block_stat(put.cid) == put
        st = await c.repo_stat()
        assert st.num_objects > 0 and st.repo_size > 0 and st.repo_path == str(shared_server.repo)
        verify = await c.repo_verify()
        assert verify.ok and verify.checked == st.num_objects
        ident = await c.id()
        assert ident.id.startswith("12D3Koo") and ident.agent_version
        assert (await c.version()).version


async def test_typed_errors(shared_server: ServerProcess) -> None:
    async with IPFSSimpleAPI(shared_server.url) as api:
        with pytest.raises(InvalidCID) as e:
            await api.cat("not-a-cid")
        assert e.value.status == 400 and "not-a-cid" in str(e.value)
        with pytest.raises(BlockNotFound):
            await api.stat("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
        with pytest.raises(InvalidArgument):
            await api.add(b"x", chunker="rabin")
        with pytest.raises(InvalidCAR) as e:
            await api.import_car(b"\x00not a car")
        assert e.value.status == 400
        # the server is still fine after the bad requests
        assert await api.cat((await api.add(b"still fine")).cid) == b"still fine"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with IPFSSimpleAPI(f"127.0.0.1:{port}") as api:
        with pytest.raises(ChannelUnavailable, match="cannot reach"):
            await api.version()


def test_sync_facade(shared_server: ServerProcess, tmp_path: Path) -> None:
    data = stream_bytes(FILE["256KiB_plus_1"]["size"])
    with IPFSSimpleAPI.sync(shared_server.host_port) as api:
        assert isinstance(api, SyncIPFSSimpleAPI)
        added = api.add(data)
        assert added.cid == FILE["256KiB_plus_1"]["cid"]["v0"]
        assert api.cat(added.cid) == data
        assert b"".join(api.cat_stream(added.cid, offset=10, length=100)) == data[10:110]
        it = api.cat_stream(added.cid)
        assert next(it)  # abandoning an iterator early closes it
        it.close()
        assert api.stat(added.cid).size == len(data)
        with pytest.raises(InvalidCID):
            api.ls("not-a-cid")
        assert api.host_port == shared_server.host_port
        assert "add" in dir(api)


async def test_sync_facade_inside_a_running_loop(shared_server: ServerProcess) -> None:
    """Notebooks run a loop already: the facade must still work there."""
    api = SyncIPFSSimpleAPI(shared_server.url)
    try:
        assert api.cat(api.add(b"from a notebook").cid) == b"from a notebook"
    finally:
        api.close()
    await asyncio.sleep(0)


def test_normalize_url() -> None:
    assert normalize_url("localhost:8000") == "http://localhost:8000"
    assert normalize_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert normalize_url("http://127.0.0.1:5001/api/v0") == "http://127.0.0.1:5001"
    assert normalize_url("/ip4/127.0.0.1/tcp/5001") == "http://127.0.0.1:5001"
    assert normalize_url("/ip6/::1/tcp/5001") == "http://[::1]:5001"
    with pytest.raises(InvalidArgument):
        normalize_url("ftp://x")


def test_kubo_error_mapping() -> None:
    # Kubo itself answers most failures with 500: the message decides
    assert isinstance(error_from_kubo(500, {"Message": "invalid path \"x\": invalid cid: ...", "Code": 0,
                                            "Type": "error"}), InvalidCID)
    assert isinstance(error_from_kubo(500, {"Message": "block was not found locally (offline)", "Code": 0,
                                            "Type": "error"}), BlockNotFound)
    assert isinstance(error_from_kubo(500, {"Message": "not pinned or pinned indirectly", "Code": 0,
                                            "Type": "error"}), NotFound)
    assert isinstance(error_from_kubo(400, {"Message": "no link named 'x' under Qm..", "Type": "error"}), NotFound)
    err = error_from_kubo(502, "Bad Gateway")
    assert type(err) is IPFSKitError and err.status == 502


def _tar(*members: tuple[str, bytes | None, str | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                t.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("members", [
    [("root", None, None), ("root/../escaped", b"x", None)],
    [("root", None, None), ("/etc/escaped", b"x", None)],
    [("root", None, None), ("root/link", None, ".."), ("root/link/escaped", b"x", None)],
], ids=["dotdot", "absolute", "through-symlink"])
def test_get_refuses_escaping_tar_entries(tmp_path: Path, members: list) -> None:
    dest = tmp_path / "area" / "out"
    with pytest.raises(PathError):
        extract_tar(io.BytesIO(_tar(*members)), dest)
    assert not (tmp_path / "area" / "escaped").exists() and not (tmp_path / "escaped").exists()


def test_get_extracts_kubo_tar(tmp_path: Path) -> None:
    data = _tar(("Qmroot", None, None), ("Qmroot/a.txt", b"hello", None), ("Qmroot/d", None, None),
                ("Qmroot/d/b", b"b" * 100_000, None), ("Qmroot/ln", None, "a.txt"))
    assert extract_tar(io.BytesIO(data), tmp_path / "o") == 100_005
    assert (tmp_path / "o" / "d" / "b").read_bytes() == b"b" * 100_000
    assert os.readlink(tmp_path / "o" / "ln") == "a.txt"


async def test_car_streams_between_nodes(shared_server: ServerProcess, tmp_path: Path) -> None:
    """A DAG moves between two repos as a CAR streamed end to end (what a transfer over
    HTTP does): server -> local repo, then local repo -> server after the server lost it."""
    from ipfs_kit_py.client import LocalClient

    data = os.urandom(700_000)
    async with HTTPClient(shared_server.url) as remote:
        cid = (await remote.add_bytes(data, "moved.bin")).cid
        local = LocalClient(tmp_path / "other-repo")
        try:
            imported = await local.dag_import(remote.dag_export(cid))
            assert imported.roots == [cid] and imported.blocks == 4
            await remote.pin_rm(cid)
            await remote.repo_gc()
            with pytest.raises(NotFound):
                await remote.stat(cid)
            assert (await remote.dag_import(local.dag_export(cid))).roots == [cid]
        finally:
            await local.close()
        assert b"".join([c async for c in remote.cat(cid)]) == data


def test_get_truncated_tar_leaves_no_half_file(tmp_path: Path) -> None:
    data = _tar(("Qmroot", None, None), ("Qmroot/big", b"x" * 200_000, None))
    with pytest.raises(IPFSKitError, match="tar"):
        extract_tar(io.BytesIO(data[:100_000]), tmp_path / "o")
    assert [p.name for p in (tmp_path / "o").iterdir()] == []
