"""The ``ipfs-kit`` entry point: starts as fast as Kubo's CLI for what needs no command set.

``ipfs-kit version`` on a repo with no server, and ``ipfs-kit add -n`` (only hash) of
files and directories on a repo with no server, are answered here, importing only
what they use: ``repo_paths`` and, for add, the UnixFS importer (no typer, pydantic,
asyncio, model, repo lock or store; the settings module only when a config file or an
``IPFS_KIT_`` variable could change the add profile). Every other command line, and any of these two
with an option this parser does not know, a server running on the repo, or ``--api``,
goes to the full CLI (``cli.py``), which gives the same answers, errors and usage.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

KUBO_BOOL_FLAGS = ("pin", "raw-leaves", "recursive", "pin-roots", "progress")
GLOBAL_VALUES = ("--repo", "--api", "--token", "--timeout")  # the global options that take a value
# add's options this parser knows: flags, and those taking a value; anything else goes to cli.py
ADD_FLAGS = {
    "-r": "recursive", "--recursive": "recursive", "-H": "hidden", "--hidden": "hidden",
    "-w": "wrap", "--wrap-with-directory": "wrap", "-n": "only_hash", "--only-hash": "only_hash",
    "-Q": "quieter", "--quieter": "quieter", "-q": "quiet", "--quiet": "quiet",
    "--pin": "pin", "--no-pin": "no_pin", "--raw-leaves": "raw_leaves", "--no-raw-leaves": "no_raw_leaves",
}
ADD_VALUES = ("--cid-version", "--chunker", "--profile")
DEFAULT_ADD_PROFILE = "v0"  # config.AddSettings.profile's default (tests/test_cli_start.py holds them equal)


def kubo_bools(argv: list[str]) -> list[str]:
    """Kubo's ``--pin=false`` spelling to ``--no-pin`` (and ``--pin=true`` to ``--pin``)."""
    out = []
    for a in argv:
        name, sep, value = a.partition("=")
        if sep and name[2:] in KUBO_BOOL_FLAGS and name.startswith("--") and value.lower() in ("true", "false"):
            a = name if value.lower() == "true" else "--no-" + name[2:]
        out.append(a)
    return out


class _Unknown(Exception):
    """This command line is for the full CLI."""


def _options(args: list[str], flags: dict[str, str], valued: tuple[str, ...]) -> tuple[dict[str, str | bool], list[str]]:
    """Options (``--name value``, ``--name=value``, clustered short flags) and positionals, as
    click reads them; _Unknown for anything else."""
    opts: dict[str, str | bool] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "-" or not a.startswith("-"):
            rest.append(a)
            continue
        name, sep, value = a.partition("=")
        if name in valued:
            if not sep:
                if i >= len(args):
                    raise _Unknown
                value, i = args[i], i + 1
            opts[name] = value
        elif a in flags:
            opts[flags[a]] = True
        elif not a.startswith("--") and all(f"-{c}" in flags for c in a[1:]):  # -Qn
            opts.update({flags[f"-{c}"]: True for c in a[1:]})
        else:
            raise _Unknown
    return opts, rest


def _split_globals(argv: list[str]) -> tuple[dict[str, str | bool], str, list[str]]:
    """(global options, command, its arguments)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in GLOBAL_VALUES else 1  # ``--repo R``: skip its value
    if i >= len(argv):
        raise _Unknown
    opts, rest = _options(argv[:i], {"--offline": "offline"}, GLOBAL_VALUES)
    if rest:
        raise _Unknown
    return opts, argv[i], argv[i + 1:]


def _no_server(opts: dict[str, str | bool]) -> Path | None:
    """The repo path when the command runs without a server (else _Unknown)."""
    from .repo_paths import api_url_for

    repo = Path(str(opts["--repo"])) if "--repo" in opts else None
    if "--api" in opts or api_url_for(repo):
        raise _Unknown
    return repo


def _add_profile_setting(repo: Path) -> str:
    """The repo's ``add.profile`` setting. Without the settings module when nothing could
    set it (no config file, or an empty one as ``Repo`` writes it, and no ``IPFS_KIT_``
    variable but the repo path); else from ``load_settings``, which also checks every
    other setting, as the full CLI does."""
    from .repo_paths import CONFIG_FILE

    try:
        empty = (repo / CONFIG_FILE).read_text().strip() == "{}"
    except FileNotFoundError:
        empty = True
    except (OSError, UnicodeDecodeError):
        empty = False
    if empty and not any(k.startswith("IPFS_KIT_") and k != "IPFS_KIT_PATH" for k in os.environ):
        return DEFAULT_ADD_PROFILE
    from .config import load_settings

    return load_settings(repo).add.profile


def _version(opts: dict[str, str | bool], args: list[str]) -> int:
    number, rest = _options(args, {"-n": "number", "--number": "number"}, ())
    if rest:
        raise _Unknown
    _no_server(opts)
    from . import __version__

    print(__version__ if number else f"ipfs-kit version {__version__}")
    return 0


def _add_only_hash(opts: dict[str, str | bool], args: list[str]) -> int:
    """``add -n`` as the model's ``add_path`` answers it, without a store."""
    o, paths = _options(args, ADD_FLAGS, ADD_VALUES)
    if not o.get("only_hash") or not paths or "-" in paths:
        raise _Unknown
    if not (o.get("quiet") or o.get("quieter")) and sys.stderr.isatty():
        raise _Unknown  # a progress bar: the full CLI draws it
    if o.get("wrap") and len(paths) > 1:
        raise _Unknown
    for given in map(Path, paths):
        if not given.exists() or (given.is_dir() and not o.get("recursive")):
            raise _Unknown  # its error message
    repo = _no_server(opts)
    from .content.profiles import resolve_profile
    from .errors import IPFSKitError
    from .repo_paths import default_repo_path

    raw = True if o.get("raw_leaves") else False if o.get("no_raw_leaves") else None
    try:
        version = int(str(o["--cid-version"])) if "--cid-version" in o else None
        default = _add_profile_setting(repo or default_repo_path())
        profile = resolve_profile(str(o.get("--profile") or default), cid_version=version, raw_leaves=raw,
                                  chunker=str(o["--chunker"]) if "--chunker" in o else None)
    except (ValueError, IPFSKitError):
        raise _Unknown from None
    from .content.importer import import_path

    lines: list[tuple[str, str]] = []
    try:
        for p in paths:
            root = import_path(p, None, profile, recursive=bool(o.get("recursive")), hidden=bool(o.get("hidden")),
                               wrap=bool(o.get("wrap")), on_entry=lambda name, e: lines.append((str(e.cid), name)))
            if o.get("wrap"):
                lines.append((str(root.cid), ""))
    except (OSError, IPFSKitError):
        raise _Unknown from None  # the full CLI reports it as every error
    if o.get("quieter"):
        print(lines[-1][0])
        return 0
    out = sys.stdout
    for cid, name in lines:
        out.write(f"{cid}\n" if o.get("quiet") else f"added {cid} {name or cid}\n")
    return 0


def fast(argv: list[str]) -> int | None:
    """The exit status of a command answered here, or None: the full CLI runs it."""
    try:
        opts, command, args = _split_globals(argv)
        if command == "version":
            return _version(opts, args)
        if command == "add":
            return _add_only_hash(opts, args)
    except _Unknown:
        pass
    return None


def main(argv: list[str] | None = None) -> int:
    """Run ``ipfs-kit``; return the exit status."""
    args = kubo_bools(sys.argv[1:] if argv is None else argv)
    try:
        rv = fast(args)
    except BrokenPipeError:
        rv = 0
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if rv is not None:
        return rv
    from .cli import main as full

    return full(args)


if __name__ == "__main__":
    sys.exit(main())
