"""``ipfs-kit`` starts fast (issue 10): ``version`` and ``add -n`` are answered by
cli_entry.py without typer, pydantic, asyncio, the model or the store, with the very
output of the full CLI; the full CLI itself loads the registry, the model and httpx
only for the commands that use them. Whole processes, as a user runs them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("typer", "pydantic", "asyncio", "rich", "httpx", "ipfs_kit_py.model", "ipfs_kit_py.cli",
         "ipfs_kit_py.registry", "ipfs_kit_py.content.index", "sqlite3")


def run(*argv: str, entry: str = "ipfs_kit_py.cli_entry", env: dict[str, str] | None = None) -> tuple[int, str, str]:
    p = subprocess.run([sys.executable, "-m", entry, *argv], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env=env)
    return p.returncode, p.stdout, p.stderr


def no_settings_env() -> dict[str, str]:
    """This environment without any ``IPFS_KIT_`` variable (a setting would make the fast
    path read the settings module)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("IPFS_KIT_")}


def modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env=no_settings_env())
    assert p.returncode == 0, p.stderr
    return set(json.loads(p.stderr.strip().splitlines()[-1]))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    d = tmp_path / "tree"
    (d / "sub").mkdir(parents=True)
    (d / "a").write_bytes(random.Random(1).randbytes(700_000))  # several leaves
    (d / "sub" / "b").write_bytes(b"b")
    (d / ".hidden").write_bytes(b"h")
    (tmp_path / "one").write_bytes(random.Random(2).randbytes(300_000))
    return tmp_path


@pytest.mark.parametrize("args", [
    ["version"], ["version", "-n"], ["add", "-n", "one"], ["add", "-Q", "-n", "one"], ["add", "-qn", "one"],
    ["add", "-n", "-w", "one"], ["add", "-n", "-r", "tree"], ["add", "-n", "-r", "-H", "-w", "tree"],
    ["add", "-Q", "-n", "-r", "tree", "one"], ["add", "-n", "--cid-version", "1", "one"],
    ["add", "-n", "--cid-version=1", "--raw-leaves=false", "one"], ["add", "-n", "--profile", "v1-2025", "one"],
    ["add", "-n", "--chunker", "size-1000", "--raw-leaves", "one"],
    # errors: the fast path hands these to the full CLI, which reports them
    ["add", "-n", "tree"], ["add", "-n", "missing"], ["add", "-n", "--chunker", "size-0", "one"],
    ["add", "-n", "--profile", "v9", "one"],
])
def test_the_fast_path_answers_as_the_full_cli(tree: Path, args: list[str]) -> None:
    repo = ["--repo", str(tree / "repo")]
    paths = [str(tree / a) if a in ("one", "tree", "missing") else a for a in args]
    fast = run(*repo, *paths)
    full = run(*repo, *paths, entry="ipfs_kit_py.cli")
    assert fast == full


def test_version_and_add_n_load_only_what_they_use(tree: Path) -> None:
    repo = str(tree / "repo")
    for argv in (["version"], ["add", "-Q", "-n", "-r", str(tree / "tree")]):
        loaded = modules_after(f"from ipfs_kit_py.cli_entry import fast\nassert fast({['--repo', repo, *argv]!r}) == 0")
        assert [m for m in HEAVY if m in loaded] == []
    # and without --repo (IPFS_KIT_PATH or the default repo)
    loaded = modules_after("from ipfs_kit_py.cli_entry import fast\nassert fast(['version', '-n']) == 0")
    assert [m for m in HEAVY if m in loaded] == []


def test_add_n_of_a_file_loads_neither_the_settings_nor_the_store(tmp_path: Path) -> None:
    """With no config file (or Repo's empty one) and no IPFS_KIT_ setting, ``add -n FILE``
    imports neither config.py (its settings classes cost ~40 ms a start) nor the repo,
    blockstore or HAMT modules; before, it loaded all of them."""
    (tmp_path / "f").write_bytes(random.Random(3).randbytes(600_000))
    for config in (None, "{}\n"):
        if config is not None:
            (tmp_path / "repo").mkdir(exist_ok=True)
            (tmp_path / "repo" / "config.json").write_text(config)
        argv = ["--repo", str(tmp_path / "repo"), "add", "-Q", "-n", str(tmp_path / "f")]
        loaded = modules_after(f"from ipfs_kit_py.cli_entry import fast\nassert fast({argv!r}) == 0")
        assert [m for m in (*HEAVY, "ipfs_kit_py.config", "ipfs_kit_py.repo", "ipfs_kit_py.content.blockstore",
                            "ipfs_kit_py.content.hamt") if m in loaded] == []


@pytest.mark.parametrize("config, env, want", [
    ('{"add": {"profile": "v1raw"}}', {}, "bafybei"),  # the repo's setting: CIDv1, 2 raw leaves
    ("{}", {"IPFS_KIT_ADD_PROFILE": "v1-2025"}, "bafkrei"),  # the environment's: one 1 MiB raw leaf
    ('{"add": {"profile": "v1raw"}}', {"IPFS_KIT_ADD_PROFILE": "v0"}, "Qm"),  # the environment wins
    ('{"server": {"port": "not a port"}}', {}, None),  # a bad setting elsewhere: the full CLI's error
    ("", {}, None),  # an empty file is not valid JSON
])
def test_add_n_follows_the_settings_as_the_full_cli(tmp_path: Path, config: str, env: dict[str, str],
                                                    want: str | None) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "config.json").write_text(config)
    (tmp_path / "f").write_bytes(random.Random(4).randbytes(300_000))
    environ = {**no_settings_env(), **env}
    argv = ["--repo", str(tmp_path / "repo"), "add", "-Q", "-n", str(tmp_path / "f")]
    fast = run(*argv, env=environ)
    assert fast == run(*argv, entry="ipfs_kit_py.cli", env=environ)
    assert fast[1].startswith(want) if want else fast[0] != 0


def test_the_fast_paths_default_profile_is_the_settings_default() -> None:
    from ipfs_kit_py.cli_entry import DEFAULT_ADD_PROFILE
    from ipfs_kit_py.config import load_settings

    assert load_settings(None, environ={}).add.profile == DEFAULT_ADD_PROFILE


def test_the_fast_path_steps_aside_for_a_server(tree: Path) -> None:
    """With --api (or a server on the repo) version asks the server: the full CLI runs it."""
    from ipfs_kit_py.cli_entry import fast

    assert fast(["--api", "http://127.0.0.1:9", "version"]) is None
    assert fast(["--repo", str(tree / "repo"), "add", "-n", "--encrypt-media", str(tree / "one")]) is None
    assert fast(["--repo", str(tree / "repo"), "add", str(tree / "one")]) is None  # it stores: the model adds


def test_the_full_cli_loads_the_registry_only_for_its_commands() -> None:
    loaded = modules_after("import ipfs_kit_py.cli")
    assert [m for m in ("ipfs_kit_py.registry", "ipfs_kit_py.ops", "ipfs_kit_py.model", "httpx", "rich",
                        "ipfs_kit_py.server") if m in loaded] == []
    code = ("import typer\nfrom ipfs_kit_py.cli import app\nroot = typer.main.get_command(app)\n"
            "assert root.get_command(typer.Context(root), 'cid').get_command(typer.Context(root), 'format')")
    loaded = modules_after(code)
    assert "ipfs_kit_py.registry" in loaded
    # a command sent to a server needs no libp2p (1.5 s to import): it loads where it is used
    assert [m for m in loaded if m.split(".")[0] in ("libp2p", "trio")] == []
