"""The file-system walk for adding directories (not ``dag.walk``, which walks a DAG).

Neutral ground: both the importer (server side) and ``client/`` uploads use it, so a
client does not import the importer to list a directory.
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterable
from pathlib import Path


def name_key(name: str) -> bytes:
    """Sort key of an entry name: its UTF-8 bytes, as go-merkledag sorts links."""
    return name.encode("utf-8", "surrogateescape")


def walk_files(root: Path, hidden: bool) -> Iterable[tuple[str, Path, str]]:
    """Yield (relative path, absolute path, kind) for a directory tree; kind is file, dir or symlink."""
    stack = [(root, "")]
    while stack:
        d, rel = stack.pop()
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: name_key(e.name))
        for e in entries:
            if not hidden and e.name.startswith("."):
                continue
            r = f"{rel}/{e.name}" if rel else e.name
            mode = e.stat(follow_symlinks=False).st_mode
            if stat_mod.S_ISLNK(mode):
                yield r, Path(e.path), "symlink"
            elif stat_mod.S_ISDIR(mode):
                yield r, Path(e.path), "dir"
                stack.append((Path(e.path), r))
            elif stat_mod.S_ISREG(mode):
                yield r, Path(e.path), "file"
