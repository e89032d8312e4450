"""Safe extraction of the tar stream Kubo's ``/api/v0/get`` sends.

The tar arrives over the network from a server we do not have to trust:
every entry name is checked before anything is written under it (no absolute
paths, no ``..``), only files, directories and symlinks are accepted, and the
writing goes through ``content.extract.TreeWriter`` (unique temp names opened
with ``O_NOFOLLOW|O_EXCL``, duplicate names refused, symlinks created last and
never followed).

``ChunkPipe`` carries the HTTP body from the event loop to the extracting
thread with a bounded buffer, so memory stays flat whatever the size.
"""

from __future__ import annotations

import functools
import io
import os
import tarfile
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..content.extract import TreeWriter
from ..errors import IPFSKitError, PathError

COPY_SIZE = 1 << 20


class ChunkPipe(io.RawIOBase):
    """A bounded byte pipe: the producer ``put``s chunks (blocking while full),
    the consumer reads it as a file. Closing the reader unblocks the producer."""

    def __init__(self, max_chunks: int = 8) -> None:
        super().__init__()
        self._items: deque[bytes] = deque()
        self._max = max_chunks
        self._cond = threading.Condition()
        self._eof = False
        self._reader_closed = False
        self._error: BaseException | None = None
        self._cur = memoryview(b"")

    # producer side
    def put(self, chunk: bytes) -> bool:
        """Queue a chunk; False once the reader has gone away (stop sending)."""
        with self._cond:
            while len(self._items) >= self._max and not self._reader_closed:
                self._cond.wait()
            if self._reader_closed:
                return False
            self._items.append(chunk)
            self._cond.notify_all()
            return True

    def finish(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._eof = True
            self._error = error
            self._cond.notify_all()

    # consumer side
    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._cur:
            with self._cond:
                while not self._items and not self._eof:
                    self._cond.wait()
                if self._items:
                    self._cur = memoryview(self._items.popleft())
                    self._cond.notify_all()
                elif self._error is not None:
                    raise self._error
                else:
                    return 0
        n = min(len(b), len(self._cur))
        b[:n] = self._cur[:n]
        self._cur = self._cur[n:]
        return n

    def close_reader(self) -> None:
        with self._cond:
            self._reader_closed = True
            self._items.clear()
            self._cond.notify_all()


def safe_parts(name: str) -> list[str]:
    """The components of a tar entry name, refusing anything that could escape."""
    if not name or name.startswith("/") or "\0" in name or "\\" in name:
        raise PathError(f"refusing unsafe path {name!r} in tar stream")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise PathError(f"refusing unsafe path {name!r} in tar stream")
    return parts


def extract_tar(fileobj: io.RawIOBase | io.BufferedIOBase, dest: str | os.PathLike[str],
                progress: Callable[[int], None] | None = None) -> int:
    """Extract a tar stream (read sequentially) to ``dest``; return file bytes written.

    As Kubo's ``ipfs get -o``, the first path component (the requested CID or
    name) becomes ``dest`` itself. The stream is untrusted: ``TreeWriter`` refuses
    duplicate names and never writes through a symlink (``content/extract.py``).
    """
    try:
        return _extract(fileobj, Path(dest), progress)
    except tarfile.TarError as e:
        raise IPFSKitError(f"malformed tar stream: {e}") from None


def _extract(fileobj: io.RawIOBase | io.BufferedIOBase, out: Path,
             progress: Callable[[int], None] | None) -> int:
    written = 0

    def count(n: int) -> None:
        nonlocal written
        written += n
        if progress:
            progress(written)

    root: str | None = None
    with TreeWriter(out) as tree, tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in tar:
            parts = safe_parts(member.name)
            if root is None:
                if len(parts) != 1:
                    raise PathError(f"tar stream does not start with its root entry: {member.name!r}")
                root = parts[0]
            elif len(parts) == 1 or parts[0] != root:
                raise PathError(f"refusing to write {member.name!r} outside {out}")
            rel = tuple(parts[1:])
            if member.isdir():
                tree.mkdir(rel)
            elif member.isfile():
                src = tar.extractfile(member)
                assert src is not None
                tree.write_file(rel, iter(functools.partial(src.read, COPY_SIZE), b""), count)
            elif member.issym():
                tree.symlink(rel, member.linkname)
            else:
                raise PathError(f"refusing tar entry {member.name!r} of type {member.type!r}")
        if root is None:
            raise PathError("empty tar stream")
        tree.finish()
    return written
