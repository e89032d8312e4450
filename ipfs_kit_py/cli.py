"""``ipfs-kit``: Kubo's command line verbs over an ipfs_kit_py repo.

Like Kubo, each command talks to the server running on the repo when there is
one (it holds ``<repo>/repo.lock`` and wrote its address to ``<repo>/api``), and
opens the repo directly otherwise. Either way the command is written once,
against ``ContentBackend`` (``HTTPClient`` or ``LocalClient``).

Output follows Kubo's (``added <cid> <name>``, ``pinned <cid> recursively``...);
binary answers (cat, block get, dag export) go to stdout untouched; progress
bars go to stderr and only on a terminal; errors print ``Error: ...`` on stderr
and exit with status 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

import typer
from typer.core import TyperGroup

from .access import Scope
from .cli_entry import kubo_bools  # one spelling of Kubo's --flag=false, shared with the fast path
from .client import ContentBackend, open_backend
from .client.types import Progress as ProgressFn
from .config import default_repo_path
from .content import multibase
from .content.fswalk import walk_files
from .errors import InvalidArgument, IPFSKitError
from .tokens import TokenStore, read_run_secret
from .types import AddOptions

T = TypeVar("T")
READ_SIZE = 1 << 20



class _StderrConsole:
    """rich's Console on stderr, made when first used: importing rich costs every start
    (``ipfs-kit version`` never prints through it)."""

    _console: Any = None

    def real(self) -> Any:
        """The Console itself (what rich's Progress takes)."""
        if self._console is None:
            from rich.console import Console

            type(self)._console = Console(stderr=True, highlight=False)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


err_console: Any = _StderrConsole()

app = typer.Typer(
    name="ipfs-kit",
    help="IPFS content stored as Kubo stores it: add, cat, get, pin, blocks, CAR, and the server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
pin_app = typer.Typer(help="Pin content so gc keeps it; unpin it; list pins.", no_args_is_help=True)
block_app = typer.Typer(help="Raw blocks: get, put, stat.", no_args_is_help=True)
dag_app = typer.Typer(help="IPLD DAGs: put, get, resolve, stat; export and import as CAR v1 files.",
                      no_args_is_help=True)
repo_app = typer.Typer(help="The repo: gc, stat, verify.", no_args_is_help=True)
metadata_app = typer.Typer(help="Metadata of a CID: get, set.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens of the repo (scopes read, write, admin): create, ls, rm.",
                        no_args_is_help=True)
app.add_typer(pin_app, name="pin")
app.add_typer(block_app, name="block")
app.add_typer(dag_app, name="dag")
app.add_typer(repo_app, name="repo")
app.add_typer(metadata_app, name="metadata")
app.add_typer(token_app, name="token")


@dataclass
class State:
    repo: Path | None
    api: str | None
    token: str | None = None
    offline: bool = False
    timeout: str | None = None


@app.callback()
def _global(
    ctx: typer.Context,
    repo: Annotated[Path | None, typer.Option(
        "--repo", help="Repo directory (default $IPFS_KIT_PATH, else ~/.ipfs_kit).", show_default=False)] = None,
    api: Annotated[str | None, typer.Option(
        "--api", help="Use the server at this URL (http://host:port or host:port) instead of the repo's.",
        show_default=False)] = None,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="IPFS_KIT_TOKEN", help="API token for the server (default $IPFS_KIT_TOKEN; the repo's "
        "own server needs none).", show_default=False)] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Answer from the local repo only: never fetch from the network (Kubo's --offline).")] = False,
    timeout: Annotated[str | None, typer.Option(
        "--timeout", help="Stop the command after this long (30s, 1m30s, 500ms), like Kubo's --timeout.",
        show_default=False)] = None,
) -> None:
    ctx.obj = State(repo, api, token or None, offline, timeout)


def run(ctx: typer.Context, op: Callable[[ContentBackend], Awaitable[T]]) -> T:
    """Open the backend for the repo (server or local), run one operation, close it."""
    state = ctx.find_object(State) or State(None, None)

    async def go() -> T:
        backend = await open_backend(state.repo, state.api, state.token, offline=state.offline,
                                     timeout=state.timeout)
        try:
            return await op(backend)
        finally:
            await backend.close()

    import asyncio

    return asyncio.run(interruptible(go()))


async def interruptible(coro: Awaitable[T]) -> T:
    """Await ``coro``; Ctrl-C cancels it, again every half second until it has ended, then
    raises KeyboardInterrupt. ``asyncio.run`` cancels once: a cancellation lost in a
    dependency's cancel scope kept ``stats bw --poll`` running after Ctrl-C (seen twice
    under CI load)."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)
    interrupted = False

    def cancel() -> None:
        nonlocal interrupted
        interrupted = True
        if not task.done():
            task.cancel()
            loop.call_later(0.5, cancel)

    try:
        loop.add_signal_handler(signal.SIGINT, cancel)
        handled = True
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        handled = False
    try:
        return await task
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)


# -- output helpers ----------------------------------------------------------------------------
def humanize_bytes(n: int) -> str:
    """Bytes as Kubo prints them (go-humanize's SI ``Bytes``): 94 B, 262 kB, 1.2 MB."""
    import math

    if n < 10:
        return f"{n} B"
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    e = min(int(math.floor(math.log(n) / math.log(1000))), len(units) - 1)
    val = math.floor(n / 1000**e * 10 + 0.5) / 10
    return f"{val:.0f} {units[e]}" if val >= 10 else f"{val:.1f} {units[e]}"


def show_progress(quiet: bool = False) -> bool:
    return not quiet and sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(label: str, total: int | None, enabled: bool) -> Iterator[ProgressFn | None]:
    """A rich progress bar on stderr (terminals only); yields the callback to feed it."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console.real(), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.update(task, completed=n)


@contextlib.contextmanager
def block_counter(label: str, enabled: bool) -> Iterator[ProgressFn]:
    """A rich spinner counting blocks (the total of a remote DAG is unknown until fetched)."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} blocks"),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console.real(), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.update(task, completed=n)


def write_out(data: bytes) -> None:
    sys.stdout.buffer.write(data)


async def stream_out(chunks: AsyncIterator[bytes]) -> None:
    async for chunk in chunks:
        write_out(chunk)
    sys.stdout.buffer.flush()


async def read_stream(f: BinaryIO) -> AsyncIterator[bytes]:
    import asyncio

    while chunk := await asyncio.to_thread(f.read, READ_SIZE):
        yield chunk


def tree_size(path: Path, hidden: bool) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for _, p, kind in walk_files(path, hidden) if kind == "file")
    return path.stat().st_size if path.is_file() else 0


# -- content -------------------------------------------------------------------------------
@app.command()
def add(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories; stdin when none or '-'.",
                                                       show_default=False)] = None,
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Add directories recursively.")] = False,
    hidden: Annotated[bool, typer.Option("-H", "--hidden", help="Include files whose names start with '.'.")] = False,
    wrap: Annotated[bool, typer.Option("-w", "--wrap-with-directory", help="Wrap in a directory.")] = False,
    only_hash: Annotated[bool, typer.Option("-n", "--only-hash", help="Only compute the CIDs; store nothing.")] = False,
    cid_version: Annotated[int | None, typer.Option("--cid-version", help="CID version (1 implies raw leaves).",
                                                    show_default=False)] = None,
    raw_leaves: Annotated[bool | None, typer.Option("--raw-leaves/--no-raw-leaves", help="Raw leaf blocks.",
                                                    show_default=False)] = None,
    chunker: Annotated[str | None, typer.Option("--chunker", help="Chunker: size-N.", show_default=False)] = None,
    pin: Annotated[bool, typer.Option("--pin/--no-pin", help="Pin what is added.")] = True,
    quieter: Annotated[bool, typer.Option("-Q", "--quieter", help="Print only the root CID.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the CIDs.")] = False,
    profile: Annotated[str | None, typer.Option("--profile", help="v0 (default), v1raw or v1-2025.",
                                                show_default=False)] = None,
    encrypt_media: Annotated[bool, typer.Option(
        "--encrypt-media", help="Encrypt every video frame end to end (SFrame, docs/sframe.md) before adding: "
        "H.264 MP4 without B-frames; prints the key once (it is kept nowhere).")] = False,
    key_id: Annotated[int, typer.Option("--key-id", help="SFrame key id of --encrypt-media.")] = 0,
) -> None:
    """Add files or directories (like 'ipfs add'): prints 'added <cid> <name>'."""
    if encrypt_media:
        if not paths or len(paths) != 1 or not paths[0].is_file() or recursive or wrap:
            raise InvalidArgument("--encrypt-media adds one media file (no directories, stdin or -w)")
        _add_encrypted(ctx, paths[0], AddOptions(profile=profile, cid_version=cid_version, raw_leaves=raw_leaves,
                                                 chunker=chunker, pin=pin, only_hash=only_hash), key_id, quieter)
        return
    options = AddOptions(profile=profile, cid_version=cid_version, raw_leaves=raw_leaves, chunker=chunker,
                         pin=pin, only_hash=only_hash, wrap_with_directory=wrap, recursive=recursive,
                         hidden=hidden)
    options.resolve("v0")  # refuse bad profile/chunker/version flags before touching anything
    files = [p for p in paths or [] if str(p) != "-"]
    use_stdin = not paths or len(files) < len(paths)
    if use_stdin and files:
        raise InvalidArgument("cannot add stdin and paths in one command")
    if wrap and len(files) > 1:
        raise InvalidArgument("-w with several paths is not supported: add them from one directory")
    for p in files:
        if not p.exists() and not p.is_symlink():
            raise InvalidArgument(f"{p}: no such file or directory")
        if p.is_dir() and not recursive:
            raise InvalidArgument(f"{p} is a directory, use -r to add directories")
    bar = show_progress(quiet or quieter)
    total = None if use_stdin or not bar else sum(tree_size(p, hidden) for p in files)

    async def op(b: ContentBackend) -> list[Any]:
        with progress_bar("adding", total, bar) as progress:
            if use_stdin:
                return [await b.add_stream(read_stream(sys.stdin.buffer), "", options, progress)]
            results = []
            for p in files:
                results += await b.add_path(p, options, progress)
            return results

    results = run(ctx, op)
    if quieter:
        print(results[-1].cid)
        return
    for r in results:
        print(r.cid if quiet else f"added {r.cid} {r.name or r.cid}")


def _add_encrypted(ctx: typer.Context, path: Path, options: AddOptions, kid: int, quieter: bool) -> None:
    """Encrypt here, in the CLI's process (the node never sees the key), then add the package."""
    import tempfile

    from . import sframe
    from .webrtc.sframe_package import encrypt_package

    options.resolve("v0")
    key = sframe.new_key()
    with tempfile.TemporaryFile() as tmp:
        with open(path, "rb") as src:
            info = encrypt_package(src, tmp, key, kid)
        tmp.seek(0)
        result = run(ctx, lambda b: b.add_stream(read_stream(tmp), path.name, options, None))
    if quieter:
        print(result.cid)
    else:
        print(f"added {result.cid} {path.name} ({info['frames']} frames encrypted, key id {kid})")
    # the only copy of the key: the node has only the ciphertext
    print(f"media key: {key.hex()}" if not quieter else key.hex())


@app.command()
def cat(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="CID or /ipfs/ path of a file.")],
    offset: Annotated[int, typer.Option("-o", "--offset", help="Byte offset to begin reading from.")] = 0,
    length: Annotated[int | None, typer.Option("-l", "--length", help="Maximum number of bytes to read.",
                                               show_default=False)] = None,
) -> None:
    """Write the bytes of a file to stdout."""
    run(ctx, lambda b: stream_out(b.cat(path, offset, length)))


@app.command()
def get(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="CID or /ipfs/ path of a file or directory.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to write (default: the last path "
                                                "component, in the current directory).", show_default=False)] = None,
) -> None:
    """Download a file or directory tree to disk."""
    dest = output or Path(path.rstrip("/").rsplit("/", 1)[-1])
    bar = show_progress()

    async def op(b: ContentBackend) -> int:
        total = None
        if bar:
            s = await b.stat(path)
            total = s.size if s.type == "file" else s.cumulative_size
        print(f"Saving file(s) to {dest}", flush=True)
        with progress_bar("getting", total, bar) as progress:
            return await b.get(path, dest, progress)

    run(ctx, op)


@app.command()
def ls(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="CID or /ipfs/ path of a directory.")],
    headers: Annotated[bool, typer.Option("-v", "--headers", help="Print table headers.")] = False,
) -> None:
    """List the links of a directory: '<cid> <size> <name>' (directories end with '/')."""
    entries = run(ctx, lambda b: b.ls(path))
    rows = [(e.cid, "-" if e.is_dir else str(e.size), e.name + ("/" if e.is_dir else "")) for e in entries]
    if headers:
        rows.insert(0, ("Hash", "Size", "Name"))
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(2)]
    for cid, size, name in rows:
        print(f"{cid:<{widths[0]}} {size:<{widths[1]}} {name}")


@app.command()
def stat(ctx: typer.Context, path: Annotated[str, typer.Argument(help="CID or /ipfs/ path.")]) -> None:
    """Size and type of a file or directory (like 'ipfs files stat')."""
    s = run(ctx, lambda b: b.stat(path))
    print(f"{s.cid}\nSize: {s.size}\nCumulativeSize: {s.cumulative_size}\nChildBlocks: {s.blocks}\nType: {s.type}")


# -- pins ----------------------------------------------------------------------------------
@pin_app.command("add")
def pin_add(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="CIDs or /ipfs/ paths.")],
    recursive: Annotated[bool, typer.Option("--recursive/--no-recursive", "-r",
                                            help="Pin the whole DAG (else only the block).")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show blocks fetched so far.")] = False,
    name: Annotated[str | None, typer.Option("--name", "-n", help="A name for the pin(s) (pin ls --names).",
                                             show_default=False)] = None,
) -> None:
    """Pin content (recursively by default), fetching from the network what the repo lacks."""

    async def op(b: ContentBackend) -> list[str]:
        if name is not None:  # pin names: through the registry's pin/add (HTTP or in-process)
            from . import registry

            out: list[str] = []
            for p in paths:
                query = [("arg", p), ("recursive", "true" if recursive else "false"), ("name", name)]
                await _run_kubo(b, registry.get("pin_add"), "pin/add", query, None,
                                lambda obj: out.extend(obj.get("Pins") or []), None)
            return out
        if not progress:
            return [c for p in paths for c in await b.pin_add(p, recursive)]
        out = []
        for p in paths:
            with block_counter(f"fetching {p}", err_console.is_terminal) as shown:
                out += await b.pin_add(p, recursive, shown)
        return out

    for cid in run(ctx, op):
        print(f"pinned {cid} {'recursively' if recursive else 'directly'}")


@pin_app.command("rm")
def pin_rm(ctx: typer.Context, paths: Annotated[list[str], typer.Argument(help="CIDs or /ipfs/ paths.")]) -> None:
    """Unpin content (the next 'repo gc' removes its blocks)."""

    async def op(b: ContentBackend) -> list[str]:
        return [c for p in paths for c in await b.pin_rm(p)]

    for cid in run(ctx, op):
        print(f"unpinned {cid}")


@pin_app.command("ls")
def pin_ls(
    ctx: typer.Context,
    paths: Annotated[list[str] | None, typer.Argument(help="Only these CIDs.", show_default=False)] = None,
    type_: Annotated[str, typer.Option("-t", "--type", help="all, recursive, direct or indirect.")] = "all",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the CIDs.")] = False,
    names: Annotated[bool, typer.Option("--names", help="Print each pin's name too.")] = False,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Only pins whose name contains this "
                                             "(implies --names).", show_default=False)] = None,
) -> None:
    """List pins: '<cid> <type>' (with --names: '<cid> <type> <name>'); indirect pins are
    the blocks below recursive pins ('indirect through <root>' for a path asked for)."""
    from . import registry

    # through the registry's pin/ls (HTTP or in-process): indirect pins and names are its work
    query = [("arg", p) for p in paths or []] + [("type", type_), ("stream", "true")]
    if names or name:
        query.append(("names", "true"))
    if name:
        query.append(("name", name))

    def show(obj: dict[str, Any]) -> None:
        print(obj["Cid"] if quiet else f"{obj['Cid']} {obj['Type']} {obj.get('Name', '')}".rstrip())

    run(ctx, lambda b: _run_kubo(b, registry.get("pin_ls"), "pin/ls", query, None, show, None))


# -- blocks --------------------------------------------------------------------------------
@block_app.command("get")
def block_get(ctx: typer.Context, cid: Annotated[str, typer.Argument(help="CID of the block.")]) -> None:
    """Write a raw block to stdout."""
    write_out(run(ctx, lambda b: b.block_get(cid)))
    sys.stdout.buffer.flush()


@block_app.command("put")
def block_put(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="File holding the block (stdin when none or '-').",
                                                show_default=False)] = None,
    cid_codec: Annotated[str, typer.Option("--cid-codec", help="raw or dag-pb.")] = "raw",
    mhtype: Annotated[str, typer.Option("--mhtype", help="Multihash (sha2-256).")] = "sha2-256",
    pin: Annotated[bool, typer.Option("--pin/--no-pin", help="Pin the block.")] = False,
) -> None:
    """Store a raw block; print its CID."""
    data = sys.stdin.buffer.read() if file is None or str(file) == "-" else file.read_bytes()
    print(run(ctx, lambda b: b.block_put(data, cid_codec, mhtype, pin)).cid)


@block_app.command("stat")
def block_stat(ctx: typer.Context, cid: Annotated[str, typer.Argument(help="CID of the block.")]) -> None:
    """Print a block's key and size."""
    s = run(ctx, lambda b: b.block_stat(cid))
    print(f"Key: {s.cid}\nSize: {s.size}")


# -- dag -----------------------------------------------------------------------------------
@dag_app.command("export")
def dag_export(ctx: typer.Context, path: Annotated[str, typer.Argument(help="Root CID or /ipfs/ path.")]) -> None:
    """Write the DAG under a root to stdout as a CAR v1 stream."""
    run(ctx, lambda b: stream_out(b.dag_export(path)))


@dag_app.command("import")
def dag_import(
    ctx: typer.Context,
    files: Annotated[list[Path] | None, typer.Argument(help="CAR files (stdin when none or '-').",
                                                       show_default=False)] = None,
    pin_roots: Annotated[bool, typer.Option("--pin-roots/--no-pin-roots", help="Pin the CAR's roots.")] = True,
    stats: Annotated[bool, typer.Option("--stats", help="Print the number of blocks imported.")] = False,
) -> None:
    """Import CAR v1 files, verifying every block; pin their roots."""

    async def op(b: ContentBackend) -> list[Any]:
        if not files or [str(f) for f in files] == ["-"]:
            return [await b.dag_import(read_stream(sys.stdin.buffer), pin_roots)]
        return [await b.dag_import(f, pin_roots) for f in files]

    for result in run(ctx, op):
        if pin_roots:
            for root in result.roots:
                error = result.pin_errors.get(root)
                print(f"Pinned root\t{root}\t{'FAILED: ' + error if error else 'success'}")
        if stats and result.blocks is not None:
            print(f"Imported {result.blocks} blocks")


@dag_app.command("stat")
def dag_stat(
    ctx: typer.Context,
    roots: Annotated[list[str], typer.Argument(help="CIDs or /ipfs/ paths of DAG roots.")],
    progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", "-p", help="Show blocks and bytes visited so far on stderr "
        "(default: when stderr is a terminal).", show_default=False)] = None,
) -> None:
    """Blocks and bytes of DAGs (each block once), as Kubo's 'dag stat' prints them."""
    from . import registry

    shown = sys.stderr.isatty() if progress is None else progress
    query = [("arg", r) for r in roots] + [("progress", "true" if shown else "false")]
    final: dict[str, Any] = {}

    def show(obj: dict[str, Any]) -> None:
        if "Ratio" not in obj and "UniqueBlocks" not in obj:  # a progress line (Kubo: Ratio == 0)
            if shown:
                stats = obj.get("DagStats") or []
                blocks = sum(d.get("NumBlocks", 0) for d in stats)
                size = sum(d.get("Size", 0) for d in stats)
                sys.stderr.write(f"Fetched/Processed {blocks} blocks, {size} bytes ({humanize_bytes(size)})\r")
                sys.stderr.flush()
            return
        final.update(obj)

    run(ctx, lambda b: _run_kubo(b, registry.get("dag_stat"), "dag/stat", query, None, show, None))
    if shown:
        sys.stderr.write("\033[2K\r")
        sys.stderr.flush()
    stats = final.get("DagStats") or []
    width = len(stats[0]["Cid"]) if stats else 3
    lines = ["", f"{'CID':<{width}}\t{'Blocks':<15}\tSize"]
    lines += [f"{d['Cid']}\t{d.get('NumBlocks', 0)!s:<15}\t{d.get('Size', 0)}" for d in stats]
    total, shared = final.get("TotalSize", 0), final.get("SharedSize", 0)
    lines += ["", "Summary", f"Total Size: {total} ({humanize_bytes(total)})",
              f"Unique Blocks: {final.get('UniqueBlocks', 0)}",
              f"Shared Size: {shared} ({humanize_bytes(shared)})", f"Ratio: {final.get('Ratio', 0):f}", "", ""]
    print("\n".join(lines))


# -- repo ----------------------------------------------------------------------------------
@repo_app.command("gc")
def repo_gc(ctx: typer.Context,
            quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the CIDs.")] = False) -> None:
    """Remove every block not reachable from a pin."""
    for cid in run(ctx, lambda b: b.repo_gc()):
        print(cid if quiet else f"removed {cid}")


@repo_app.command("stat")
def repo_stat(ctx: typer.Context) -> None:
    """Number of blocks and bytes in the repo."""
    s = run(ctx, lambda b: b.repo_stat())
    print(f"NumObjects: {s.num_objects}\nRepoSize:   {s.repo_size}\nStorageMax: {s.storage_max}\n"
          f"RepoPath:   {s.repo_path}\nVersion:    {s.version}")


@repo_app.command("verify")
def repo_verify(ctx: typer.Context) -> None:
    """Check every block against its hash, and that every pinned DAG is complete."""
    r = run(ctx, lambda b: b.repo_verify())
    for cid in r.corrupt:
        print(f"block {cid} was corrupt")
    for cid in r.incomplete:
        print(f"pin {cid} is incomplete")
    if not r.ok:
        raise IPFSKitError(f"verify complete, {len(r.corrupt)} of {r.checked} blocks were corrupt, "
                           f"{len(r.incomplete)} pins are incomplete")
    print(f"verify complete, all {r.checked} blocks validated.")


# -- node ----------------------------------------------------------------------------------
@app.command("id")
def id_(ctx: typer.Context) -> None:
    """The node's identity (JSON, as 'ipfs id')."""
    print(json.dumps(run(ctx, lambda b: b.id()).to_kubo(), indent=2))


@app.command()
def version(
    ctx: typer.Context,
    number: Annotated[bool, typer.Option("-n", "--number", help="Print only the version number.")] = False,
) -> None:
    """Print the version (of the server when one runs on the repo)."""
    from . import __version__
    from .repo import api_url_for

    state = ctx.find_object(State) or State(None, None)
    if state.api or api_url_for(state.repo):
        v = run(ctx, lambda b: b.version()).version
    else:  # the repo's own version is this package's: no need to open it (nor import the model)
        v = __version__
    print(v if number else f"ipfs-kit version {v}")


@metadata_app.command("get")
def metadata_get(ctx: typer.Context, cid: Annotated[str, typer.Argument(help="CID.")]) -> None:
    """Print the metadata of a CID as JSON."""
    print(json.dumps(run(ctx, lambda b: b.metadata_get(cid)).to_dict(), indent=2))


@metadata_app.command("set")
def metadata_set(
    ctx: typer.Context,
    cid: Annotated[str, typer.Argument(help="CID.")],
    pairs: Annotated[list[str], typer.Argument(help="KEY=VALUE pairs (VALUE parsed as JSON when it can be).")],
    replace: Annotated[bool, typer.Option("--replace", help="Replace all user keys instead of merging.")] = False,
) -> None:
    """Set user key/values on a CID."""
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"expected KEY=VALUE, got {pair!r}")
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    print(json.dumps(run(ctx, lambda b: b.metadata_set(cid, values, replace)).to_dict(), indent=2))


# -- tokens --------------------------------------------------------------------------------
def token_store(ctx: typer.Context) -> TokenStore:
    state = ctx.find_object(State) or State(None, None)
    return TokenStore(state.repo or default_repo_path())


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the token (letters, digits, '.', '_', '-').")],
    scope: Annotated[str, typer.Option("--scope", help="read, write (includes read) or admin (everything).")] = "read",
) -> None:
    """Create an API token and print its secret (shown only now; the repo keeps a hash).
    Once a token exists, every API request needs one."""
    print(token_store(ctx).create(name, Scope.parse(scope)))


@token_app.command("ls")
def token_ls(ctx: typer.Context) -> None:
    """List the tokens: '<name> <scope> <created>'."""
    for t in token_store(ctx).list():
        print(f"{t.name}\t{t.scope.value}\t{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t.created))}")


@token_app.command("rm")
def token_rm(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Name of the token.")]) -> None:
    """Revoke a token (a running server stops accepting it at once)."""
    token_store(ctx).remove(name)
    print(f"removed token {name}")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).",
                                             show_default=False)] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000; 0 picks a free one).",
                                             show_default=False)] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Verbose logging.")] = False,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="Network profile: local (default: loopback, no bootstrap) or public (joins the "
                          "public IPFS network: all interfaces, Kubo's bootstrap peers, /ipfs/kad/1.0.0).",
        show_default=False)] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow binding beyond loopback without API tokens.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", metavar="SECTION.NAME=VALUE",
                                                   help="Any setting, e.g. --set libp2p.enabled=false.",
                                                   show_default=False)] = None,
) -> None:
    """Run the server on the repo (same as 'python -m ipfs_kit_py.mcp.server')."""
    from .server import server

    state = ctx.find_object(State) or State(None, None)
    argv: list[str] = []
    if host is not None:
        argv += ["--host", host]
    if port is not None:
        argv += ["--port", str(port)]
    if state.repo is not None:
        argv += ["--repo", str(state.repo)]
    if debug:
        argv.append("--debug")
    if profile is not None:
        argv += ["--profile", profile]
    if insecure:
        argv.append("--insecure")
    for item in set_ or []:
        argv += ["--set", item]
    raise typer.Exit(server.main(argv))


@app.command()
def mcp(ctx: typer.Context) -> None:
    """Serve the Model Context Protocol on stdin/stdout for an agent app (docs/mcp.md): through the
    server running on the repo when there is one, on the repo directly otherwise."""
    from .modelcontext import stdio

    state = ctx.find_object(State) or State(None, None)
    raise typer.Exit(stdio.main(state.repo, state.api, state.token))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def check(ctx: typer.Context) -> None:
    """Check every channel of the running server (same as
    'python -m ipfs_kit_py.tools.check_connectivity'; --all, --http, --websocket, --webrtc,
    --libp2p, --json, --url)."""
    from .repo import api_url_for
    from .tools import check_connectivity

    state = ctx.find_object(State) or State(None, None)
    argv = list(ctx.args)
    token = state.token
    if "--url" not in argv:
        url = state.api or api_url_for(state.repo)
        if url:
            argv += ["--url", url]
        if url and not state.api and token is None:  # the repo's own server: its run secret
            token = read_run_secret(state.repo or default_repo_path())
    if token and "--token" not in argv:
        argv += ["--token", token]
    raise typer.Exit(check_connectivity.main(argv))


# -- commands generated from the registry -------------------------------------------------
class _LazyGroup(TyperGroup):
    """A command group whose registry commands are built when a command line or a help
    page first asks for one: importing the registry loads every operation module, a cost
    that ``ipfs-kit version`` or ``add`` would otherwise pay at every start."""

    lazy: dict[str, tuple[str, dict[str, Any]]] = {}  # command name -> (operation, options); one per group

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in self.lazy:
            op_name, options = self.lazy[cmd_name]
            one = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False)
            _build_registry_command(one, cmd_name, op_name, **options)
            cmd = typer.main.get_command(one)
            cmd.name = cmd_name
            self.add_command(cmd, cmd_name)
        return cmd


def registry_command(group: typer.Typer, name: str, op_name: str, **options: Any) -> None:
    """Declare ``ipfs-kit <group> <name>`` for a registry operation (``options``: those of
    ``_build_registry_command``); it is built when first asked for (``_LazyGroup``)."""
    cls: Any = group.info.cls
    if not (isinstance(cls, type) and issubclass(cls, _LazyGroup)):
        cls = type("LazyGroup", (_LazyGroup,), {"lazy": {}})
        group.info.cls = cls
    cls.lazy[name] = (op_name, options)


def _build_registry_command(group: typer.Typer, name: str, op_name: str, *, body: str | None = None,
                     topic: bool = False, raw: bool = False, stream: bool = False) -> None:
    """Add ``ipfs-kit <group> <name>`` for a registry operation: its positional ``arg``
    and Kubo's options (long names, short flags) become the command's arguments; it
    runs the operation's Kubo command on the server when one runs, in-process
    otherwise, and prints one line per answer object (``Operation.cli_text``; an empty
    text prints nothing).

    ``body``: the operation reads a file (Kubo's multipart part): a positional FILE
    after the argument (``-``, the default, is stdin), described by ``body``.
    ``topic``: the argument is a pubsub topic, multibase-encoded for Kubo's RPC as
    Kubo's CLI does. ``raw``: the answer is bytes, written to stdout untouched.
    ``stream``: lines are printed as they arrive (an endless ``pubsub sub``)."""
    import inspect

    from . import registry

    op = registry.get(op_name)
    kubo = op.kubo
    assert kubo is not None
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    names: dict[str, str] = {}  # python parameter -> Kubo query name
    for p in op.param_specs:
        if p.kind in (registry.Upload, bytes, dict):
            continue
        if p.kubo == "arg":
            ann: Any
            if body is not None:  # one argument, then the file
                ann = Annotated[str, typer.Argument(help=p.doc or "argument", show_default=False)]
                params.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, annotation=ann))
            else:  # an optional argument (name resolve: our own name) may be left out
                ann = Annotated[list[str], typer.Argument(help=p.doc or "arguments", show_default=False)]
                params.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, annotation=ann,
                                                default=inspect.Parameter.empty if p.required else None))
            names[p.name] = "arg"
            continue
        flags = [("-" if len(n) == 1 else "--") + n for n in (p.kubo, *p.flags)]
        kind = {bool: bool, int: int}.get(p.kind, str)
        default = p.default if p.default is not registry._NO_DEFAULT else None
        ann = Annotated[kind | None, typer.Option(*flags, help=p.doc, show_default=default is not None)]
        params.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=None))
        names[p.name] = p.kubo
    if body is not None:
        ann = Annotated[str, typer.Argument(help=f"{body} ('-': stdin)", show_default=False)]
        params.append(inspect.Parameter("file", inspect.Parameter.KEYWORD_ONLY, annotation=ann, default="-"))
    if raw:  # -o, unless one of Kubo's flags has it (files read: -o is --offset)
        taken = any("o" in (p.kubo, *p.flags) for p in op.param_specs)
        ann = Annotated[Path | None, typer.Option("--output", *(() if taken else ("-o",)),
                                                  help="write to this new file (mode 0600) instead of stdout",
                                                  show_default=False)]
        params.append(inspect.Parameter("output", inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=None))

    # a text function that takes it gets the verbose flag: cli_text(obj, verbose=...)
    verbose_text = op.cli_text is not None and "verbose" in inspect.signature(op.cli_text).parameters

    def command(ctx: typer.Context, **values: Any) -> None:
        query: list[tuple[str, str]] = []
        for pname, qname in names.items():
            v = values.get(pname)
            for item in v if isinstance(v, list) else [] if v is None else [v]:
                if qname == "arg" and topic:
                    item = multibase.encode("base64url", str(item).encode())
                query.append((qname, ("true" if item else "false") if isinstance(item, bool) else str(item)))
        data = None
        if body is not None:
            f = values.get("file") or "-"
            data = sys.stdin.buffer.read() if f == "-" else Path(f).expanduser().read_bytes()
        failed = False

        def show(obj: Any) -> None:
            nonlocal failed
            error = obj.get("ErrorMsg") or obj.get("Error") if isinstance(obj, dict) else None
            if error:  # Kubo reports some failures per line (cid format, block rm)
                err_console.print(f"Error: {error}", markup=False, soft_wrap=True)
                failed = True
                return
            text = (op.cli_text(obj, verbose=bool(values.get("verbose"))) if verbose_text else op.cli_text(obj)) \
                if op.cli_text else json.dumps(obj, indent=2)
            if isinstance(text, bytes):  # a value as it is (routing get)
                sys.stdout.buffer.write(text)
                sys.stdout.buffer.flush()
            elif text:
                print(text, flush=stream)

        out: BinaryIO | None = None
        if raw:
            target = values.get("output")
            # a private key may land here: a new file only its owner reads, never an existing one
            out = os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") \
                if target is not None else sys.stdout.buffer
        try:
            run(ctx, lambda b: _run_kubo(b, op, kubo.path, query, data, show, out))
        except BaseException:
            if out is not None and out is not sys.stdout.buffer:
                out.close()
                os.unlink(values["output"])  # nothing half-written is left behind
            raise
        if out is not None and out is not sys.stdout.buffer:
            out.close()
        if failed:
            raise typer.Exit(1)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = f"{op.summary} (registry operation {op.name!r})."
    group.command(name)(command)


async def _run_kubo(backend: ContentBackend, op: Any, path: str, query: list[tuple[str, str]],
                    data: bytes | None, show: Callable[[Any], None], raw: BinaryIO | None) -> None:
    """Run ``op``'s Kubo command (its body ``data``, when it reads one) and hand each answer
    object to ``show`` as it arrives; ``raw``: the answer is bytes, written there."""
    from .client.http import HTTPClient

    if isinstance(backend, HTTPClient):
        files = {"file": ("data", data)} if data is not None else None
        if raw is not None:  # bytes out (with a body in, when the command reads one: multibase encode)
            async with backend._stream(path, query, files=files) as resp:
                async for chunk in resp.aiter_bytes():
                    raw.write(chunk)
            raw.flush()
            return
        async for obj in backend._ndjson(path, query, files=files):
            show(obj)
        return
    from . import registry
    from .access import LOCAL
    from .server.rpc_wire import Args

    # no server: the repo is opened in-process, with the local user's rights (as every other command)
    upload = registry.Upload.single(data) if data is not None else None
    shaped = await registry.kubo_call(op, backend.model, LOCAL, Args(query), upload)  # type: ignore[attr-defined]
    if isinstance(shaped, registry.NDJSON):
        async for line in shaped.lines:
            show(line)
    elif isinstance(shaped, registry.Bytes):
        out = raw or sys.stdout.buffer
        async for chunk in shaped.chunks:
            out.write(chunk)
        out.flush()
    else:
        show(shaped)


cid_app = typer.Typer(help="CIDs: format, base32, codecs.", no_args_is_help=True)
swarm_app = typer.Typer(help="libp2p peers of the running server: connect, disconnect, peers, addrs, peering.",
                        no_args_is_help=True)
app.add_typer(cid_app, name="cid")
app.add_typer(swarm_app, name="swarm")
registry_command(cid_app, "format", "cid_format")
registry_command(block_app, "rm", "block_rm")
registry_command(swarm_app, "connect", "swarm_connect")
registry_command(swarm_app, "peers", "swarm_peers")

# issue 14: Kubo's commands as registry operations (ops/mfs.py, ops/kubo_extra.py)
registry_command(cid_app, "base32", "cid_base32")
registry_command(cid_app, "codecs", "cid_codecs")
files_app = typer.Typer(help="MFS, the mutable file system: mkdir, write, read, ls, stat, cp, mv, rm, flush, chcid.",
                        no_args_is_help=True)
app.add_typer(files_app, name="files")
for _verb in ("mkdir", "ls", "stat", "cp", "mv", "rm", "flush", "chcid"):
    registry_command(files_app, _verb, f"files_{_verb}")
config_app = typer.Typer(help="This node's settings in Kubo's config shape: show, get, set, replace.",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")
registry_command(config_app, "show", "config_show")
registry_command(config_app, "get", "config")
bootstrap_app = typer.Typer(help="Bootstrap peers: list, add, rm.", no_args_is_help=True)
app.add_typer(bootstrap_app, name="bootstrap")
for _verb in ("list", "add", "rm"):
    registry_command(bootstrap_app, _verb, f"bootstrap_{_verb}")
refs_app = typer.Typer(help="Links of DAGs: refs, refs local.", invoke_without_command=False, no_args_is_help=True)
app.add_typer(refs_app, name="refs")
registry_command(refs_app, "links", "refs")
registry_command(refs_app, "local", "refs_local")
for _grp, _verb, _op in ((pin_app, "update", "pin_update"), (pin_app, "verify", "pin_verify"),
                         (dag_app, "resolve", "dag_resolve")):  # dag stat: dag_stat() above
    registry_command(_grp, _verb, _op)
registry_command(dag_app, "get", "dag_get", raw=True)
registry_command(dag_app, "put", "dag_put", body="the object, in the input codec")
registry_command(files_app, "write", "files_write", body="the bytes to write")
registry_command(files_app, "read", "files_read", raw=True)
registry_command(config_app, "set", "config")  # config get KEY VALUE sets too, as Kubo's `ipfs config KEY VALUE`
registry_command(config_app, "replace", "config_replace", body="a Kubo config JSON file")
multibase_app = typer.Typer(help="Multibase text: encode, decode.", no_args_is_help=True)
app.add_typer(multibase_app, name="multibase")
registry_command(multibase_app, "encode", "multibase_encode", body="the bytes", raw=True)
registry_command(multibase_app, "decode", "multibase_decode", body="the multibase text", raw=True)
registry_command(app, "resolve", "resolve")
registry_command(app, "shutdown", "shutdown")
stats_app = typer.Typer(help="Statistics: repo, bw (libp2p bandwidth), bitswap.", no_args_is_help=True)
app.add_typer(stats_app, name="stats")
registry_command(stats_app, "repo", "stats_repo")


@stats_app.command("bw")
def stats_bw(
    ctx: typer.Context,
    peer: Annotated[str | None, typer.Option("--peer", "-p", help="Only this peer's traffic.",
                                             show_default=False)] = None,
    proto: Annotated[str | None, typer.Option("--proto", "-t", help="Only this protocol's traffic.",
                                              show_default=False)] = None,
    poll: Annotated[bool, typer.Option("--poll", help="Print a line every interval, until interrupted.")] = False,
    interval: Annotated[str, typer.Option("--interval", "-i", help="With --poll: time between lines "
                                          "(500ms, 1s, 1m).")] = "1s",
) -> None:
    """libp2p bandwidth of the running server: totals and rates (all, one peer, one protocol)."""
    from . import registry

    op = registry.get("stats_bw")
    query = [(k, v) for k, v in (("peer", peer), ("proto", proto)) if v is not None]
    if poll:
        query += [("poll", "true"), ("interval", interval)]
    end = "\r" if sys.stdout.isatty() else "\n"  # Kubo redraws one line; piped, a line each

    def show(obj: dict[str, Any]) -> None:
        if not poll:
            print(op.cli_text(obj) if op.cli_text else json.dumps(obj))
            return
        h = humanize_bytes
        sys.stdout.write(f"{h(int(obj['TotalOut'])):>8}    {h(int(obj['TotalIn'])):>8}    "
                         f"{h(int(obj['RateOut'])):>8}/s  {h(int(obj['RateIn'])):>8}/s      {end}")
        sys.stdout.flush()

    if poll:  # as Kubo, before the first answer
        print("Total Up    Total Down  Rate Up     Rate Down", flush=True)
    run(ctx, lambda b: _run_kubo(b, op, "stats/bw", query, None, show, None))
registry_command(stats_app, "bitswap", "stats_bitswap")
bitswap_app = typer.Typer(help="Bitswap of the running server: stat, wantlist, ledger.", no_args_is_help=True)
app.add_typer(bitswap_app, name="bitswap")
for _verb in ("stat", "wantlist", "ledger"):
    registry_command(bitswap_app, _verb, f"bitswap_{_verb}")
# the swarm (ops/swarm.py): Kubo's `swarm addrs local|listen` are addrs-local and addrs-listen here
for _verb, _op in (("disconnect", "swarm_disconnect"), ("addrs", "swarm_addrs"), ("addrs-local", "swarm_addrs_local"),
                   ("addrs-listen", "swarm_addrs_listen")):
    registry_command(swarm_app, _verb, _op)
peering_app = typer.Typer(help="Peers kept connected (redialed when lost): add, ls, rm.", no_args_is_help=True)
swarm_app.add_typer(peering_app, name="peering")
for _verb in ("add", "ls", "rm"):
    registry_command(peering_app, _verb, f"swarm_peering_{_verb}")
registry_command(app, "ping", "ping_peer", stream=True)
log_app = typer.Typer(help="Logging: level.", no_args_is_help=True)
app.add_typer(log_app, name="log")
registry_command(log_app, "level", "log_level")

# issue 15: keys, IPNS names and pubsub (ops/names.py, ops/pubsub.py)
key_app = typer.Typer(help="Keys of the keystore: gen, list, rename, rm, import, export, sign, verify.",
                      no_args_is_help=True)
app.add_typer(key_app, name="key")
for _verb in ("gen", "list", "rename", "rm"):
    registry_command(key_app, _verb, f"key_{_verb}")
registry_command(key_app, "import", "key_import", body="the key file")
registry_command(key_app, "export", "key_export", raw=True)
registry_command(key_app, "sign", "key_sign", body="the bytes to sign")
registry_command(key_app, "verify", "key_verify", body="the signed bytes")
name_app = typer.Typer(help="IPNS names: publish, resolve, get, put, inspect.", no_args_is_help=True)
app.add_typer(name_app, name="name")
registry_command(name_app, "publish", "name_publish")
registry_command(name_app, "resolve", "name_resolve", stream=True)
registry_command(name_app, "get", "name_get", raw=True)
registry_command(name_app, "put", "name_put", body="the signed record")
registry_command(name_app, "inspect", "name_inspect", body="the record")
name_pubsub_app = typer.Typer(help="IPNS over pubsub (ipns.use_pubsub): state, subs, cancel.", no_args_is_help=True)
name_app.add_typer(name_pubsub_app, name="pubsub")
for _verb in ("state", "subs", "cancel"):
    registry_command(name_pubsub_app, _verb, f"name_pubsub_{_verb}")
pubsub_app = typer.Typer(help="Pubsub topics (gossipsub) of the running server: pub, sub, ls, peers.",
                         no_args_is_help=True)
app.add_typer(pubsub_app, name="pubsub")
registry_command(pubsub_app, "pub", "pubsub_pub", topic=True, body="the message")
registry_command(pubsub_app, "sub", "pubsub_sub", topic=True, stream=True)
registry_command(pubsub_app, "ls", "pubsub_ls")
registry_command(pubsub_app, "peers", "pubsub_peers", topic=True)

# routing and providing (ops/routing.py); `dht` holds Kubo's legacy names of the same commands
routing_app = typer.Typer(help="Content and peer routing (DHT): findprovs, findpeer, provide, get, put, reprovide.",
                          no_args_is_help=True)
dht_app = typer.Typer(help="Kubo's legacy names of the routing commands: findprovs, findpeer, provide, get, put.",
                      no_args_is_help=True)
provide_app = typer.Typer(help="Providing content on the DHT: stat.", no_args_is_help=True)
app.add_typer(routing_app, name="routing")
app.add_typer(dht_app, name="dht")
app.add_typer(provide_app, name="provide")
for _grp in (routing_app, dht_app):
    for _verb, _op in (("findprovs", "find_providers"), ("findpeer", "find_peer"), ("provide", "provide"),
                       ("get", "routing_get")):
        registry_command(_grp, _verb, _op, stream=True)
    registry_command(_grp, "put", "routing_put", body="the value (a public key or a signed IPNS record)")
registry_command(routing_app, "reprovide", "reprovide")
registry_command(provide_app, "stat", "provide_stat")
registry_command(stats_app, "provide", "provide_stat")


# -- entry point ---------------------------------------------------------------------------
def _error(message: str) -> int:
    err_console.print(f"Error: {message}", markup=False, soft_wrap=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0, or 1 on any error, with 'Error: ...' on stderr)."""
    try:
        args = kubo_bools(sys.argv[1:] if argv is None else argv) or ["--help"]
        rv = app(args=args, prog_name="ipfs-kit", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except (typer.Abort, KeyboardInterrupt):
        _error("interrupted")
        return 130
    except typer.exceptions.TyperException as e:  # usage errors: click's message and usage line
        show = getattr(e, "show", None)
        if show is not None:
            show()
        else:
            _error(str(e))
        return 1
    except IPFSKitError as e:
        return _error(str(e))
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly as Unix tools do
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        return _error(f"{e.strerror or e}{': ' + str(e.filename) if e.filename else ''}")
    except Exception as e:  # a bug: still one line, as Kubo prints errors (IPFS_KIT_TRACEBACK=1 for more)
        if os.environ.get("IPFS_KIT_TRACEBACK"):
            raise
        return _error(f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    sys.exit(main())
