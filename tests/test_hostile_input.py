"""Hostile input (issue 9): crafted DAGs, CARs, CIDs, headers and messages.

Each test is a finding of the attack session, reproduced the way the attacker
did it (a real server subprocess over real sockets, the real CLI); each failed
on the code before its fix.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, ServerProcess, start_server

from ipfs_kit_py.client.tarstream import extract_tar
from ipfs_kit_py.content.car import write_car
from ipfs_kit_py.content.cid import CID, DAG_PB
from ipfs_kit_py.content.dagpb import (
    DIRECTORY,
    FILE,
    SYMLINK,
    PBLink,
    UnixFSData,
    encode_node,
    encode_unixfs,
)
from ipfs_kit_py.errors import PathError

PAYLOAD = b"written by the crafted DAG\n"
ORIGINAL = b"the victim's own bytes\n"


# -- crafted DAGs, built with the project's own dag-pb/UnixFS encoder ---------------------------
class Dag:
    """Real dag-pb blocks collected for one CAR."""

    def __init__(self) -> None:
        self.blocks: dict[CID, bytes] = {}

    def _put(self, block: bytes) -> CID:
        cid = CID.hash(block, DAG_PB, 1)
        self.blocks[cid] = block
        return cid

    def file(self, data: bytes) -> PBLink:
        cid = self._put(encode_node([], encode_unixfs(UnixFSData(FILE, data=data, filesize=len(data)))))
        return PBLink(cid, "", len(self.blocks[cid]))

    def symlink(self, target: str) -> PBLink:
        cid = self._put(encode_node([], encode_unixfs(UnixFSData(SYMLINK, data=target.encode()))))
        return PBLink(cid, "", len(self.blocks[cid]))

    def dir(self, entries: list[tuple[str, PBLink]]) -> PBLink:
        """A directory with its links in exactly the given order (names may repeat)."""
        links = [PBLink(lk.cid, name, lk.tsize) for name, lk in entries]
        cid = self._put(encode_node(links, encode_unixfs(UnixFSData(DIRECTORY))))
        return PBLink(cid, "", len(self.blocks[cid]) + sum(lk.tsize for lk in links))

    def car(self, root: PBLink) -> bytes:
        return b"".join(write_car([root.cid], self.blocks.items()))


def crafted(kind: str, outside: Path) -> tuple[bytes, str]:
    """(CAR, root CID) of a directory DAG that tries to write into ``outside``."""
    d = Dag()
    victim = str(outside / "victim")
    if kind == "part-symlink-after":  # sorted order: the local exporter (LIFO) made x.part first
        root = d.dir([("x", d.file(PAYLOAD)), ("x.part", d.symlink(victim))])
    elif kind == "part-symlink-before":  # the server's tar sends x.part first: the tar client followed it
        root = d.dir([("x.part", d.symlink(victim)), ("x", d.file(PAYLOAD))])
    elif kind == "dir-then-symlink":  # the exporter made the symlink, then mkdir(exist_ok) went through it
        root = d.dir([("d", d.dir([("f", d.file(PAYLOAD))])), ("d", d.symlink(str(outside)))])
    elif kind == "symlink-then-dir":
        root = d.dir([("d", d.symlink(str(outside))), ("d", d.dir([("f", d.file(PAYLOAD))]))])
    else:
        raise ValueError(kind)
    return d.car(root), str(root.cid)


@dataclass
class Mode:
    name: str
    repo: Path
    server: ServerProcess | None

    def cli(self, *args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(self.repo), *map(str, args)]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module", params=["local", "server"])
def mode(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mode]:
    """``ipfs-kit get`` on a repo with no server (dag.export) and through a server (tar)."""
    repo = tmp_path_factory.mktemp(request.param) / "repo"
    server = start_server(repo) if request.param == "server" else None
    try:
        yield Mode(request.param, repo, server)
    finally:
        if server is not None:
            server.stop()


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(ORIGINAL)
    return outside


def _assert_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["victim"], "get wrote outside -o"
    assert (outside / "victim").read_bytes() == ORIGINAL, "get wrote through a symlink"


@pytest.mark.parametrize("kind", ["part-symlink-after", "part-symlink-before"])
def test_get_never_writes_through_a_symlink_named_like_its_temp_file(mode: Mode, tmp_path: Path, kind: str) -> None:
    outside = _outside(tmp_path)
    car, root = crafted(kind, outside)
    (tmp_path / "x.car").write_bytes(car)
    assert mode.cli("dag", "import", tmp_path / "x.car").returncode == 0
    out = tmp_path / "area" / "out"
    p = mode.cli("get", root, "-o", out)
    _assert_untouched(outside)
    assert p.returncode == 0, p.stderr
    assert (out / "x").read_bytes() == PAYLOAD
    assert os.readlink(out / "x.part") == str(outside / "victim")  # the symlink is kept, never followed
    assert sorted(os.listdir(out)) == ["x", "x.part"]  # no temp file left behind


@pytest.mark.parametrize("kind", ["dir-then-symlink", "symlink-then-dir"])
def test_get_refuses_a_directory_and_a_symlink_with_one_name(mode: Mode, tmp_path: Path, kind: str) -> None:
    outside = _outside(tmp_path)
    car, root = crafted(kind, outside)
    (tmp_path / "d.car").write_bytes(car)
    assert mode.cli("dag", "import", tmp_path / "d.car").returncode == 0
    out = tmp_path / "area" / "out"
    p = mode.cli("get", root, "-o", out)
    _assert_untouched(outside)
    assert p.returncode != 0
    assert "duplicate name 'd'" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not (out / "d").is_symlink()


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
    # a hostile server need not follow the DAG: x.part (a symlink out) before the file x
    [("r", None, None), ("r/x.part", None, "{victim}"), ("r/x", PAYLOAD, None)],
    # the same name twice, a symlink and then a directory / a file
    [("r", None, None), ("r/d", None, "{outside}"), ("r/d", None, None), ("r/d/victim", PAYLOAD, None)],
    [("r", None, None), ("r/v", None, "{victim}"), ("r/v", PAYLOAD, None)],
    # an entry under a symlink that was never a directory of the tree
    [("r", None, None), ("r/s", None, "{outside}"), ("r/s/victim", PAYLOAD, None)],
], ids=["temp-name-symlink", "symlink-then-dir", "symlink-then-file", "under-symlink"])
def test_tar_extraction_never_writes_outside(tmp_path: Path, members: list) -> None:
    outside = _outside(tmp_path)
    fill = {"victim": str(outside / "victim"), "outside": str(outside)}
    members = [(n, d, None if ln is None else ln.format(**fill)) for n, d, ln in members]
    try:
        extract_tar(io.BytesIO(_tar(*members)), tmp_path / "area" / "out")
    except PathError:
        pass
    _assert_untouched(outside)
