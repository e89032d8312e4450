"""Writing a file tree from untrusted input (a DAG, a TAR stream) to disk, safely.

Both ``get`` paths (local ``dag.export`` and the HTTP client's tar extraction)
write through ``TreeWriter``, which holds these rules whatever the input:

- every entry is named by its components under the destination; each component
  is a plain name (no ``/``, ``.``, ``..``, NUL), and a name may occur once
  (a crafted DAG can list a file ``x`` and a symlink ``x``, or a directory and a
  symlink, under the same name: refused);
- directories are opened one component at a time with ``O_NOFOLLOW``, relative
  to their parent's descriptor, so nothing is ever written through a symlink;
- files are written to a fresh temp name (``O_CREAT|O_EXCL|O_NOFOLLOW``) and
  renamed into place: a symlink called ``x.part`` beside ``x`` is never followed;
- symlinks are created last, when every file and directory is written, and
  never followed.

The destination itself (and the directories above it) is the caller's path and
is used as given.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat as stat_
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import InvalidArgument, PathError

Parts = tuple[str, ...]
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def check_component(name: str) -> str:
    """Refuse a name that is not one plain path component."""
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise PathError(f"refusing unsafe name {name!r}")
    return name


def _show(parts: Parts) -> str:
    return "/".join(parts) or "."


def _temp_name() -> str:
    return f".ipfs-kit-{secrets.token_hex(8)}.part"


class TreeWriter:
    """Write one tree under ``dest``: the root (``()``) is ``dest`` itself.

    Call ``mkdir``/``write_file``/``symlink`` with each entry's components, parents
    before children, then ``finish()`` (which creates the symlinks). Use it as a
    context manager so descriptors are closed on every path.
    """

    def __init__(self, dest: str | os.PathLike[str]) -> None:
        self.dest = Path(dest)
        self._seen: set[Parts] = set()
        self._dirs: set[Parts] = set()
        self._links: list[tuple[Parts, str]] = []
        self._root_fd: int | None = None
        self._cached: tuple[Parts, int] | None = None  # the last opened parent directory

    def __enter__(self) -> TreeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None
        if self._root_fd is not None:
            os.close(self._root_fd)
            self._root_fd = None

    # -- the entries -----------------------------------------------------------------------
    def mkdir(self, parts: Parts) -> None:
        self._claim(parts)
        if not parts:
            self.dest.mkdir(parents=True, exist_ok=True)
            self._root_fd = os.open(self.dest, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        else:
            parent = self._open_parent(parts)
            try:
                os.mkdir(parts[-1], 0o755, dir_fd=parent)
            except FileExistsError:  # already on disk (a get into an existing tree): must be a real directory
                st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
                if not stat_.S_ISDIR(st.st_mode):
                    raise PathError(f"refusing to write directory {_show(parts)!r}: "
                                    "something that is not a directory is in the way") from None
        self._dirs.add(parts)

    def write_file(self, parts: Parts, chunks: Iterable[bytes | memoryview],
                   on_bytes: Callable[[int], None] | None = None) -> int:
        """Write a file from its chunks (to a temp name, then renamed); return its size."""
        self._claim(parts)
        if parts:
            parent, name, owned = self._open_parent(parts), parts[-1], False
        else:  # a single file: written beside dest, in the caller's directory
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            parent = os.open(self.dest.parent, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
            name, owned = self.dest.name, True
        try:
            return self._write(parent, name, parts, chunks, on_bytes)
        finally:
            if owned:
                os.close(parent)

    def symlink(self, parts: Parts, target: str) -> None:
        """Record a symlink; it is created by ``finish()``, after everything else."""
        self._claim(parts)
        if "\0" in target:
            raise PathError(f"refusing symlink {_show(parts)!r}: NUL in its target")
        self._links.append((parts, target))

    def finish(self) -> None:
        """Create the symlinks (never followed: each replaces whatever file is at its name)."""
        if not self._seen:
            raise InvalidArgument("nothing to write: the tree is empty")
        for parts, target in self._links:
            if parts:
                self._place_symlink(self._open_parent(parts), parts[-1], parts, target)
            else:
                self.dest.parent.mkdir(parents=True, exist_ok=True)
                parent = os.open(self.dest.parent, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
                try:
                    self._place_symlink(parent, self.dest.name, parts, target)
                finally:
                    os.close(parent)
        self._links.clear()

    # -- internals ---------------------------------------------------------------------------
    def _claim(self, parts: Parts) -> None:
        for p in parts:
            check_component(p)
        if not parts and self._seen:
            raise PathError("the root of the tree appears twice")
        if parts and not self._seen:
            raise PathError(f"entry {_show(parts)!r} comes before the root of the tree")
        if parts in self._seen:
            raise PathError(f"refusing duplicate name {_show(parts)!r}: two entries would share one path")
        if parts and parts[:-1] not in self._dirs:
            raise PathError(f"refusing {_show(parts)!r}: its parent is not a directory of this tree")
        self._seen.add(parts)

    def _open_parent(self, parts: Parts) -> int:
        """A descriptor of the directory holding ``parts`` (owned by the writer's cache),
        reached one component at a time without following symlinks."""
        want = parts[:-1]
        if self._cached is not None:
            if self._cached[0] == want:
                return self._cached[1]
            os.close(self._cached[1])
            self._cached = None
        if self._root_fd is None:
            raise PathError(f"refusing {_show(parts)!r}: the root of the tree is not a directory")
        fd = os.dup(self._root_fd)
        try:
            for name in want:
                try:
                    nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as e:  # ELOOP / ENOTDIR: a symlink or a file where a directory should be
                    raise PathError(f"refusing to write under {_show(want)!r}: not a plain directory ({e.strerror})") from None
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        self._cached = (want, fd)
        return fd

    def _write(self, parent: int, name: str, parts: Parts, chunks: Iterable[bytes | memoryview],
               on_bytes: Callable[[int], None] | None) -> int:
        tmp = _temp_name()
        fd = os.open(tmp, _FILE_FLAGS, 0o644, dir_fd=parent)
        written = 0
        try:
            with os.fdopen(fd, "wb", closefd=True) as f:
                for piece in chunks:
                    f.write(piece)
                    written += len(piece)
                    if on_bytes:
                        on_bytes(len(piece))
            self._rename(tmp, name, parent, parts)
        except BaseException:
            with contextlib.suppress(OSError):  # a broken stream leaves no half file behind
                os.unlink(tmp, dir_fd=parent)
            raise
        return written

    def _place_symlink(self, parent: int, name: str, parts: Parts, target: str) -> None:
        tmp = _temp_name()
        os.symlink(target, tmp, dir_fd=parent)
        try:
            self._rename(tmp, name, parent, parts)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=parent)
            raise

    @staticmethod
    def _rename(tmp: str, name: str, parent: int, parts: Parts) -> None:
        # rename() replaces a file or a symlink at ``name`` itself, never what a symlink points to
        try:
            os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except IsADirectoryError:
            raise PathError(f"refusing to replace the directory at {_show(parts) if parts else name!r}") from None
