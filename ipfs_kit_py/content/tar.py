"""The pieces of a TAR stream, as Kubo's ``/api/v0/get`` sends it.

Plain functions returning bytes, so a response can stream a tree entry by entry
without a file object: a header, the file bytes, then ``padding(size)``; the
archive ends with ``END``. Long names use PAX headers (no 100-byte limit).
"""

from __future__ import annotations

import tarfile

BLOCK = 512
END = b"\0" * (2 * BLOCK)


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def file_header(name: str, size: int, mode: int = 0o644, mtime: int = 0) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.type = size, mode, mtime, tarfile.REGTYPE
    return _header(info)


def dir_header(name: str, mode: int = 0o755, mtime: int = 0) -> bytes:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.type = mode, mtime, tarfile.DIRTYPE
    return _header(info)


def symlink_header(name: str, target: str, mtime: int = 0) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, mtime
    return _header(info)


def padding(size: int) -> bytes:
    """Zero bytes that bring a member of ``size`` bytes to a 512-byte boundary."""
    return b"\0" * (-size % BLOCK)
