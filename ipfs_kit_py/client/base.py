"""The operation set every client backend offers.

Two backends implement it: ``HTTPClient`` (a running server, over Kubo's
``/api/v0`` RPC API) and ``LocalClient`` (the repo opened in-process through
``IPFSModel``). The CLI and ``IPFSSimpleAPI`` are written once against this
interface, so a command never exists twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .types import (
    Added,
    AddOptions,
    BlockStat,
    CarImport,
    LsEntry,
    Metadata,
    NodeId,
    Pin,
    Progress,
    RepoStat,
    Stat,
    VerifyResult,
    VersionInfo,
)

CarSource = str | Path | bytes | AsyncIterable[bytes]
"""A CAR file path, its bytes, or an async stream of its bytes."""


@runtime_checkable
class ContentBackend(Protocol):
    async def add_path(self, path: str | Path, options: AddOptions | None = None,
                       progress: Progress | None = None) -> list[Added]:
        """``add [-r] PATH``: every file and directory added, the root last."""
        ...

    async def add_stream(self, chunks: AsyncIterable[bytes], name: str = "",
                         options: AddOptions | None = None, progress: Progress | None = None) -> Added:
        """Add one file from a stream of bytes (stdin, a socket...)."""
        ...

    async def add_bytes(self, data: bytes, name: str = "", options: AddOptions | None = None) -> Added: ...

    def cat(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]: ...

    async def get(self, path: str, dest: str | Path, progress: Progress | None = None) -> int:
        """Write the file or tree at ``path`` to ``dest``; return the file bytes written."""
        ...

    async def ls(self, path: str) -> list[LsEntry]: ...

    async def stat(self, path: str) -> Stat: ...

    async def pin_add(self, path: str, recursive: bool = True, progress: Progress | None = None) -> list[str]:
        """Pin ``path``, fetching what the repo lacks; ``progress(n)``: blocks present so far."""
        ...

    async def pin_rm(self, path: str) -> list[str]: ...

    async def pin_ls(self, type: str = "all", path: str | None = None) -> list[Pin]: ...

    async def block_get(self, cid: str) -> bytes: ...

    async def block_put(self, data: bytes, cid_codec: str = "raw", mhtype: str = "sha2-256",
                        pin: bool = False) -> BlockStat: ...

    async def block_stat(self, cid: str) -> BlockStat: ...

    def dag_export(self, path: str) -> AsyncIterator[bytes]: ...

    async def dag_import(self, source: CarSource, pin_roots: bool = True) -> CarImport: ...

    async def repo_gc(self) -> list[str]: ...

    async def repo_stat(self) -> RepoStat: ...

    async def repo_verify(self) -> VerifyResult: ...

    async def id(self) -> NodeId: ...

    async def version(self) -> VersionInfo: ...

    async def metadata_get(self, cid: str) -> Metadata: ...

    async def metadata_set(self, cid: str, values: dict[str, Any], replace: bool = False) -> Metadata: ...

    async def close(self) -> None: ...
