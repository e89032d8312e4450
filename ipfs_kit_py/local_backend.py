"""The operation set on a repo opened in this process (implements ``client.ContentBackend``).

What the CLI uses when no server runs on the repo, like Kubo's offline mode. It runs
the model in this process, so it lives outside ``client/`` (which imports no server
code): ``client.open_backend`` and ``client.LocalClient`` import it only when asked.
It holds the repo lock while open, so a server cannot start on the repo
underneath it (and two writers never garbage-collect each other's blocks).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

from . import __version__
from .client.base import CarSource
from .errors import InvalidArgument, IPFSKitError, NotFound
from .events import EventBus
from .model import AddResult, IPFSModel
from .repo import Repo
from .types import (
    UNIXFS_TYPES,
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

READ_SIZE = 1 << 20


def _added(r: AddResult) -> Added:
    return Added(r.name, str(r.cid), r.tsize)


class LocalClient:
    def __init__(self, repo_path: str | os.PathLike[str] | None = None) -> None:
        self.repo = Repo(repo_path)
        try:
            self.repo.lock()
        except BaseException:
            self.repo.index.close()
            raise
        self.model = IPFSModel(self.repo, EventBus())

    async def close(self) -> None:
        self.repo.close()

    async def __aenter__(self) -> LocalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- add ------------------------------------------------------------------------------
    async def add_path(self, path: str | Path, options: AddOptions | None = None,
                       progress: Progress | None = None) -> list[Added]:
        p = Path(path).expanduser()
        if not p.exists() and not p.is_symlink():
            raise NotFound(f"{p}: no such file or directory")
        done: dict[str, int] = {}
        total = [0]

        def on_progress(name: str, n: int) -> None:  # per-file counts -> one running total
            total[0] += n - done.get(name, 0)
            done[name] = n
            if progress:
                progress(total[0])

        results = await self.model.add_path(p, options, on_progress)
        return [_added(r) for r in results]

    async def add_stream(self, chunks: AsyncIterable[bytes], name: str = "",
                         options: AddOptions | None = None, progress: Progress | None = None) -> Added:
        session = self.model.begin_add(options)
        try:
            session.start_file(name)
            async for chunk in chunks:
                n = await session.write(chunk)
                if progress:
                    progress(n)
            await session.finish_file()
            return _added((await session.commit())[-1])
        finally:
            session.close()

    async def add_bytes(self, data: bytes, name: str = "", options: AddOptions | None = None) -> Added:
        return _added(await self.model.add_bytes(data, name, options))

    # -- read -----------------------------------------------------------------------------
    async def cat(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        async for chunk in self.model.cat(path, offset, length):
            yield chunk

    async def get(self, path: str, dest: str | Path, progress: Progress | None = None) -> int:
        return await self.model.get(path, dest, progress)

    async def ls(self, path: str) -> list[LsEntry]:
        return [LsEntry(e.name, str(e.cid), e.size, UNIXFS_TYPES.get(e.type, "file"), e.target)
                for e in await self.model.ls(path)]

    async def stat(self, path: str) -> Stat:
        s = await self.model.stat(path)
        return Stat(str(s.cid), s.type, s.size, s.cumulative_size, s.blocks)

    # -- pins -----------------------------------------------------------------------------
    async def pin_add(self, path: str, recursive: bool = True, progress: Progress | None = None) -> list[str]:
        return [str(await self.model.pin_add(path, recursive, progress))]

    async def pin_rm(self, path: str) -> list[str]:
        return [str(await self.model.pin_rm(path))]

    async def pin_ls(self, type: str = "all", path: str | None = None) -> list[Pin]:
        return [Pin(c, t) for c, t in await self.model.pin_ls(type, path)]

    # -- blocks ---------------------------------------------------------------------------
    async def block_get(self, cid: str) -> bytes:
        return await self.model.block_get(cid)

    async def block_put(self, data: bytes, cid_codec: str = "raw", mhtype: str = "sha2-256",
                        pin: bool = False) -> BlockStat:
        cid = await self.model.block_put(data, cid_codec, mhtype, 1, pin)
        return BlockStat(str(cid), len(data))

    async def block_stat(self, cid: str) -> BlockStat:
        c, size = await self.model.block_stat(cid)
        return BlockStat(str(c), size)

    # -- CAR ------------------------------------------------------------------------------
    async def dag_export(self, path: str) -> AsyncIterator[bytes]:
        async for chunk in self.model.car_export(path):
            yield chunk

    async def dag_import(self, source: CarSource, pin_roots: bool = True) -> CarImport:
        roots, count = await self.model.car_import(_car_chunks(source), pin_roots)
        return CarImport([str(r) for r in roots], count)

    # -- repo -----------------------------------------------------------------------------
    async def repo_gc(self) -> list[str]:
        result = await self.model.gc()
        if result.incomplete:  # as the HTTP API's error lines: the GC ran, these pins need repair
            raise IPFSKitError("; ".join(p.message for p in result.incomplete))
        return [str(c) for c in result.removed]

    async def repo_stat(self) -> RepoStat:
        return RepoStat.from_kubo(await self.model.repo_stat())

    async def repo_verify(self) -> VerifyResult:
        r = await self.model.repo_verify()
        return VerifyResult(r.checked, r.corrupt, [p.cid for p in r.incomplete])

    async def id(self) -> NodeId:
        # offline: the libp2p identity belongs to the running server
        return NodeId("", agent_version=f"ipfs-kit/{__version__}")

    async def version(self) -> VersionInfo:
        return VersionInfo(__version__, repo="1", system="python")

    # -- metadata -------------------------------------------------------------------------
    async def metadata_get(self, cid: str) -> Metadata:
        return await self.model.metadata_get(cid)

    async def metadata_set(self, cid: str, values: dict[str, Any], replace: bool = False) -> Metadata:
        return await self.model.metadata_set(cid, values, replace)


async def _car_chunks(source: CarSource) -> AsyncIterator[bytes]:
    if isinstance(source, bytes):
        yield source
    elif isinstance(source, (str, Path)):
        f = await asyncio.to_thread(open, Path(source).expanduser(), "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, READ_SIZE):
                yield chunk
        finally:
            f.close()
    elif hasattr(source, "__aiter__"):
        async for chunk in source:
            yield chunk
    else:
        raise InvalidArgument("a CAR source is a path, bytes or an async stream of bytes")
