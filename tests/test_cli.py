"""The ipfs-kit CLI as a user runs it: a subprocess, on a repo with no server
(local mode) and on a repo a real server holds (the CLI then goes over HTTP).
Both modes must print the same Kubo CIDs (shared/vectors/cids.json)."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, VECTORS, ServerProcess, start_server, stream_bytes

from ipfs_kit_py.content.cid import CID, RAW

V = json.loads(VECTORS.read_text())
FILE = {f["name"]: f for f in V["files"]}
TESTDIR = V["directories"][0]
MIB = stream_bytes(1 << 20)


@dataclass
class Mode:
    name: str
    repo: Path
    server: ServerProcess | None
    tmp: Path

    def run(self, *args: str | Path, input: bytes | None = None, ok: bool = True,
            repo: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        cmd = [sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(repo or self.repo), *map(str, args)]
        p = subprocess.run(cmd, input=input, capture_output=True, cwd=ROOT, timeout=60)
        if ok:
            assert p.returncode == 0, f"{cmd} -> {p.returncode}\n{p.stderr.decode()}"
        return p

    def out(self, *args: str | Path, input: bytes | None = None) -> str:
        return self.run(*args, input=input).stdout.decode()


@pytest.fixture(scope="module", params=["local", "server"])
def mode(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mode]:
    tmp = tmp_path_factory.mktemp(request.param)
    repo = tmp / "repo"
    server = start_server(repo) if request.param == "server" else None
    try:
        yield Mode(request.param, repo, server, tmp)
    finally:
        if server is not None:
            assert server.stop() in (0, -signal.SIGTERM)


def make_testdir(root: Path, hidden: bool = False) -> Path:
    """The vectors' testdir (a.txt, b.bin, sub/c.txt), optionally with dotfiles."""
    d = root / "testdir"
    (d / "sub").mkdir(parents=True, exist_ok=True)
    (d / "a.txt").write_text("hello world\n")
    (d / "b.bin").write_bytes(stream_bytes(300000))
    (d / "sub" / "c.txt").write_text("nested file\n")
    if hidden:
        (d / ".hidden").write_text("secret\n")
        (d / "sub" / ".git").mkdir(exist_ok=True)
        (d / "sub" / ".git" / "HEAD").write_text("ref\n")
    return d


def test_mode_is_what_it_claims(mode: Mode) -> None:
    """With a server running the CLI must go through it (the server holds the repo
    lock, so only HTTP can work, and only the server has a peer ID)."""
    ident = json.loads(mode.out("id"))
    if mode.server is None:
        assert ident["ID"] == "" and not (mode.repo / "api").exists()
        return
    assert (mode.repo / "api").read_text().strip() == mode.server.url
    assert ident["ID"].startswith("12D3Koo")
    # --api reaches a server from anywhere: an empty repo path only serves as a default
    other_repo = mode.tmp / "empty"
    cid = mode.out("add", "-Q", input=b"via --api").strip()
    for url in (mode.server.url, mode.server.host_port):
        assert mode.run("--api", url, "cat", cid, repo=other_repo).stdout == b"via --api"
    assert not (other_repo / "blocks").exists()
    r = httpx.post(f"{mode.server.url}/api/v0/pin/ls", params={"arg": cid}, timeout=5)
    assert cid in r.json()["Keys"]


@pytest.mark.parametrize("flags,profile", [((), "v0"), (("--cid-version", "1"), "v1raw"),
                                           (("--profile", "v1-2025"), "v1-2025")])
def test_add_file_matches_kubo_vectors(mode: Mode, flags: tuple[str, ...], profile: str) -> None:
    f = mode.tmp / "1MiB.bin"
    f.write_bytes(MIB)
    out = mode.out("add", *flags, f)
    assert out == f"added {FILE['1MiB']['cid'][profile]} 1MiB.bin\n"


def test_add_quiet_quieter_and_stdin(mode: Mode) -> None:
    d = make_testdir(mode.tmp / "q")
    lines = mode.out("add", "-r", "-q", d).split()
    assert len(lines) == 5 and lines[-1] == TESTDIR["cid"]["v0"]  # 3 files, sub, root
    assert mode.out("add", "-r", "-Q", d) == TESTDIR["cid"]["v0"] + "\n"
    assert mode.out("add", "-Q", "--cid-version", "1", "-r", d) == TESTDIR["cid"]["v1raw"] + "\n"
    cid = FILE["256KiB_plus_1"]["cid"]["v0"]
    assert mode.out("add", input=stream_bytes(262145)) == f"added {cid} {cid}\n"
    assert mode.run("add", "-Q", input=stream_bytes(262145)).stderr == b""  # piped: no progress bar


def test_add_recursive_hidden(mode: Mode) -> None:
    d = make_testdir(mode.tmp / "h", hidden=True)
    plain = mode.out("add", "-r", d)
    assert ".hidden" not in plain and ".git" not in plain
    assert plain.splitlines()[-1] == f"added {TESTDIR['cid']['v0']} testdir"
    with_hidden = mode.out("add", "-r", "--hidden", d).splitlines()
    names = [line.split(" ", 2)[2] for line in with_hidden]
    assert {"testdir/.hidden", "testdir/sub/.git/HEAD", "testdir/sub/.git"} <= set(names)
    root = with_hidden[-1].split()[1]
    assert root != TESTDIR["cid"]["v0"]
    listing = mode.out("ls", root)
    assert ".hidden" in listing and "sub/" in listing


def test_add_wrap_with_directory(mode: Mode) -> None:
    f = mode.tmp / "w.txt"
    f.write_text("hello world\n")
    lines = mode.out("add", "-w", f).splitlines()
    file_cid = lines[0].split()[1]
    wrapper = lines[-1].split()[1]
    assert len(lines) == 2 and lines[0].endswith(" w.txt") and wrapper != file_cid
    assert mode.out("ls", wrapper).split() == [file_cid, "12", "w.txt"]
    assert mode.out("cat", f"/ipfs/{wrapper}/w.txt") == "hello world\n"


def test_only_hash_stores_nothing(mode: Mode) -> None:
    data = f"only-hash {mode.name} {time.time()}".encode()
    f = mode.tmp / "n.txt"
    f.write_bytes(data)
    before = mode.out("repo", "stat")
    cid = mode.out("add", "-n", "-Q", f).strip()
    assert cid.startswith("Qm")
    assert mode.out("repo", "stat") == before
    p = mode.run("block", "stat", cid, ok=False)
    assert p.returncode == 1 and b"not found" in p.stderr.lower()
    # stored but not pinned, with Kubo's spelling of the flag
    assert mode.out("add", "-Q", "--pin=false", f).strip() == cid
    p = mode.run("pin", "ls", cid, ok=False)
    assert p.returncode == 1 and b"not pinned" in p.stderr


def test_cat_offset_length(mode: Mode) -> None:
    f = mode.tmp / "cat.bin"
    f.write_bytes(MIB)
    cid = mode.out("add", "-Q", f).strip()
    assert mode.run("cat", cid).stdout == MIB
    assert mode.run("cat", "--offset", "300000", "--length", "5000", cid).stdout == MIB[300000:305000]
    assert mode.run("cat", "-o", str(len(MIB) - 10), cid).stdout == MIB[-10:]


def test_get_directory(mode: Mode) -> None:
    d = make_testdir(mode.tmp / "g")
    cid = mode.out("add", "-r", "-Q", d).strip()
    out = mode.tmp / "got"
    mode.run("get", cid, "-o", out)
    for rel in ("a.txt", "b.bin", "sub/c.txt"):
        assert (out / rel).read_bytes() == (d / rel).read_bytes()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.txt", "b.bin", "sub", "sub/c.txt"]
    mode.run("get", f"/ipfs/{cid}/sub/c.txt", "-o", mode.tmp / "c_only.txt")
    assert (mode.tmp / "c_only.txt").read_text() == "nested file\n"


def test_pin_rm_and_gc_remove_blocks(mode: Mode) -> None:
    data = os.urandom(600_000)  # three v0 leaves + a root, shared with nothing else
    f = mode.tmp / "gc.bin"
    f.write_bytes(data)
    cid = mode.out("add", "-Q", f).strip()
    assert f"{cid} recursive" in mode.out("pin", "ls", "--type", "recursive").splitlines()
    assert mode.out("pin", "rm", cid) == f"unpinned {cid}\n"
    removed = mode.out("repo", "gc").splitlines()
    assert f"removed {CID(1, RAW, CID.decode(cid).multihash)}" in removed  # gc names blocks by multihash
    assert len(removed) >= 4
    p = mode.run("cat", cid, ok=False)
    assert p.returncode == 1 and p.stderr.startswith(b"Error: ") and b"Traceback" not in p.stderr


def test_block_put_get_stat(mode: Mode) -> None:
    data = b"a raw block " + mode.name.encode()
    expected = str(CID.hash(data, RAW, 1))
    assert mode.out("block", "put", input=data).strip() == expected
    assert mode.run("block", "get", expected).stdout == data
    assert mode.out("block", "stat", expected) == f"Key: {expected}\nSize: {len(data)}\n"


def test_dag_export_import_round_trip(mode: Mode) -> None:
    d = make_testdir(mode.tmp / "car")
    root = mode.out("add", "-r", "-Q", "--cid-version", "1", d).strip()
    assert root == TESTDIR["cid"]["v1raw"]
    car = mode.run("dag", "export", root).stdout
    assert car[1:].startswith(b"\xa2eroots")  # CAR v1 header: {roots, version}
    car_file = mode.tmp / "testdir.car"
    car_file.write_bytes(car)
    # into a fresh repo (local mode), then back into this one after gc removed it
    fresh = mode.tmp / "fresh-repo"
    p = mode.run("dag", "import", "--stats", car_file, repo=fresh)
    assert p.stdout.decode().splitlines() == [f"Pinned root\t{root}\tsuccess", "Imported 7 blocks"]  # 3 files (b.bin: 2 leaves + root), sub, root
    mode.run("pin", "rm", root)
    assert f"removed {CID(1, RAW, CID.decode(root).multihash)}" in mode.out("repo", "gc")
    assert mode.out("dag", "import", input=car) == f"Pinned root\t{root}\tsuccess\n"
    assert mode.out("cat", f"{root}/sub/c.txt") == "nested file\n"
    assert mode.run("dag", "export", root, repo=fresh).stdout == car


def test_bad_input_exit_1_with_clear_message(mode: Mode) -> None:
    cases = {  # answered by the backend (the server in server mode)
        ("cat", "not-a-cid"): b"invalid cid",
        ("cat", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdX"): b"not found",
        ("pin", "rm", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"): b"not pinned",
    }
    if mode.server is None:  # checked by the CLI itself before any backend is opened
        cases.update({
            ("add", "/definitely/not/here"): b"no such file",
            ("add", "--chunker", "rabin", "README.md"): b"chunker",
            ("add", "--profile", "v9", "README.md"): b"profile",
        })
    for args, needle in cases.items():
        p = mode.run(*args, ok=False)
        err = p.stderr.lower()
        assert p.returncode == 1, (args, p.stderr)
        assert err.startswith(b"error: ") and needle in err and b"traceback" not in err, (args, p.stderr)
        assert p.stdout == b""
    d = make_testdir(mode.tmp / "norec")
    p = mode.run("add", d, ok=False)
    assert p.returncode == 1 and b"-r" in p.stderr
    if mode.server is None:
        p = mode.run("frob", ok=False)  # usage errors: click's usage line, then the error
        assert p.returncode == 1 and b"Error: No such command 'frob'" in p.stderr


def run_on_tty(mode: Mode, *args: str | Path) -> tuple[bytes, bytes]:
    """Run the CLI with stderr on a pseudo-terminal; return (stdout, what the terminal got)."""
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(mode.repo), *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, cwd=ROOT,
                            env={**os.environ, "COLUMNS": "100", "TERM": "xterm"})
    os.close(slave)
    out = proc.communicate(timeout=60)[0]
    seen = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0, seen.decode(errors="replace")
    return out, seen


def test_progress_bar_only_on_a_terminal(mode: Mode) -> None:
    f = mode.tmp / "tty.bin"
    f.write_bytes(MIB)
    cid = FILE["1MiB"]["cid"]["v0"]
    out, tty = run_on_tty(mode, "add", f)
    assert out.decode() == f"added {cid} tty.bin\n"  # stdout stays clean
    assert b"adding" in tty and b"MB" in tty  # the bar was drawn on the terminal (stderr)
    out, tty = run_on_tty(mode, "get", cid, "-o", mode.tmp / "tty-got.bin")
    assert b"getting" in tty and (mode.tmp / "tty-got.bin").read_bytes() == MIB
    assert run_on_tty(mode, "add", "-q", f)[1] == b""  # -q: no bar


def test_serve_command(tmp_path: Path) -> None:
    repo = tmp_path / "served"
    cmd = [sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(repo), "serve", "--host", "127.0.0.1",
           "--port", "0", "--set", "libp2p.enabled=false", "--set", "webrtc.enabled=false"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (repo / "api").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.05)
        url = (repo / "api").read_text().strip()
        assert httpx.post(f"{url}/api/v0/version", timeout=5).json()["Version"]
        # the CLI on the same repo now goes through this server
        cli = [sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(repo)]
        p = subprocess.run([*cli, "add", "-Q"], input=b"served", capture_output=True, cwd=ROOT, timeout=60)
        assert p.returncode == 0, p.stderr
    finally:
        proc.terminate()
        rc = proc.wait(15)
    # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught (exit status -15)
    assert rc in (0, -signal.SIGTERM)
    assert b"Application shutdown complete" in proc.stderr.read()
    assert not (repo / "api").exists()


def test_pin_ls_indirect(mode: Mode) -> None:
    """pin ls --type=indirect lists the blocks below recursive pins (Kubo's indirect pins), pin ls
    (all) lists them after the pins, and a path asked for is 'indirect through <root>'."""
    d = mode.tmp / "indirect"
    (d / "sub").mkdir(parents=True)
    small, big = f"indirect pins, {mode.name}\n".encode(), os.urandom(300_000)
    (d / "small.txt").write_bytes(small)
    (d / "sub" / "big.bin").write_bytes(big)
    added = {name: cid for _, cid, name in (line.split(" ", 2) for line in
                                            mode.out("add", "-r", "--cid-version", "1", d).splitlines())}
    root = added["indirect"]
    leaves = [str(CID.hash(big[:262144], RAW, 1)), str(CID.hash(big[262144:], RAW, 1))]  # raw leaves, 256 KiB
    assert added["indirect/small.txt"] == str(CID.hash(small, RAW, 1))
    below = {added["indirect/small.txt"], added["indirect/sub"], added["indirect/sub/big.bin"], *leaves}
    listed = mode.out("pin", "ls", "--type=indirect").splitlines()
    assert {f"{c} indirect" for c in below} <= set(listed) and not any(x.startswith(root) for x in listed)
    everything = mode.out("pin", "ls").splitlines()
    assert f"{root} recursive" in everything and {f"{c} indirect" for c in below} <= set(everything)
    assert everything.index(f"{root} recursive") < min(everything.index(f"{c} indirect") for c in below)
    assert mode.out("pin", "ls", leaves[1]) == f"{leaves[1]} indirect through {root}\n"
    assert mode.out("pin", "ls", "-t", "indirect", "-q", added["indirect/sub"]) == added["indirect/sub"] + "\n"
    for type_, cid in (("recursive", leaves[0]), ("indirect", root)):
        p = mode.run("pin", "ls", "--type", type_, cid, ok=False)
        assert p.returncode == 1 and b"not pinned" in p.stderr and p.stdout == b"", (type_, p.stderr)


def test_dag_stat_progress(mode: Mode) -> None:
    """dag stat prints Kubo's table and summary; progress ('Fetched/Processed N blocks, ...' redrawn
    on stderr) with --progress, or by default when stderr is a terminal."""
    f = mode.tmp / "dagstat.bin"
    f.write_bytes(os.urandom(600_000))  # a v0 root and three leaves
    cid = mode.out("add", "-Q", f).strip()
    p = mode.run("dag", "stat", cid)
    assert p.stderr == b""  # stderr is not a terminal: no progress
    lines = p.stdout.decode().split("\n")
    assert lines[:2] == ["", f"{'CID':<{len(cid)}}\t{'Blocks':<15}\tSize"]
    row = lines[2].split("\t")
    assert row[:2] == [cid, f"{'4':<15}"] and int(row[2]) > 600_000
    assert lines[3:] == ["", "Summary", f"Total Size: {row[2]} ({int(row[2]) / 1e3:.0f} kB)", "Unique Blocks: 4",
                         "Shared Size: 0 (0 B)", "Ratio: 1.000000", "", "", ""]
    p = mode.run("dag", "stat", "--progress", cid)
    shown = p.stderr.decode().split("\r")
    assert [s.split(" blocks, ")[0] for s in shown[:4]] == [f"Fetched/Processed {n}" for n in (1, 2, 3, 4)]
    assert shown[3] == f"Fetched/Processed 4 blocks, {row[2]} bytes ({int(row[2]) / 1e3:.0f} kB)"
    assert shown[4:] == ["\x1b[2K", ""] and p.stdout.decode().split("\n") == lines  # the line is cleared
    assert mode.run("dag", "stat", "--progress=false", cid).stderr == b""
    out, tty = run_on_tty(mode, "dag", "stat", cid)
    assert b"Fetched/Processed 4 blocks" in tty and out.decode().split("\n") == lines


def test_stats_bw_poll_until_interrupted(mode: Mode) -> None:
    """stats bw --poll prints Kubo's header, then a line every --interval until interrupted
    (Ctrl-C: exit 130); without a running libp2p node it is a clear error."""
    if mode.server is None:
        p = mode.run("stats", "bw", "--poll", ok=False)
        assert p.returncode == 1 and p.stderr.startswith(b"Error: ") and b"libp2p" in p.stderr, p.stderr
        return
    cmd = [sys.executable, "-m", "ipfs_kit_py.cli", "--repo", str(mode.repo), "stats", "bw", "--poll",
           "--interval", "100ms"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout is not None
        got, deadline = b"", time.monotonic() + 60  # a bound for a loaded machine: lines come every 100 ms
        while got.count(b"\n") < 4:
            assert time.monotonic() < deadline and proc.poll() is None, (got, proc.poll())
            if select.select([proc.stdout], [], [], 1)[0]:
                got += os.read(proc.stdout.fileno(), 4096)
        lines = got.decode().split("\n")
        assert lines[0] == "Total Up    Total Down  Rate Up     Rate Down"
        for line in lines[1:4]:  # humanized as Kubo: "0 B", "1.2 kB", "56 kB", and rates per second
            cols = line.split()
            assert len(cols) == 8 and cols[5].endswith("B/s") and cols[7].endswith("B/s"), line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130  # typer's answer to Ctrl-C
        assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
