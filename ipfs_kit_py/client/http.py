"""Async client for a server's Kubo-compatible RPC API (``/api/v0``).

Written against Kubo's documented RPC API (docs.ipfs.tech/reference/kubo/rpc):
every call is a POST with query arguments (``arg`` for positional ones);
``add``, ``block/put`` and ``dag/import`` upload multipart bodies; ``cat``,
``get`` (a tar) and ``dag/export`` (a CAR) stream their answers; errors come as
``{"Message", "Code", "Type"}`` and become the typed exceptions of
``ipfs_kit_py.errors``. Uploads are streamed from disk a chunk at a time, so
adding a file of any size holds only one chunk in memory; downloads likewise.

Only the documented Kubo wire format is assumed, so it should work against Kubo
for the operations the two share; it is tested against ipfs_kit_py's server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from .. import errors
from ..content.fswalk import walk_files
from .auth import auth_headers
from .base import CarSource
from .tarstream import ChunkPipe, extract_tar
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
    metadata_from_dict,
)

CHUNK = 1 << 20  # bytes read from disk per upload write
DEFAULT_TIMEOUT = 300.0  # seconds without progress on a socket before giving up

Params = list[tuple[str, str]]


def normalize_url(url: str) -> str:
    """``host:port``, ``http://host:port[/]`` or Kubo's ``/ip4/H/tcp/P`` to ``http://host:port``."""
    u = url.strip().rstrip("/")
    if u.startswith(("/ip4/", "/ip6/", "/dns/", "/dns4/", "/dns6/")):
        parts = u.split("/")
        if len(parts) < 5 or parts[3] != "tcp":
            raise errors.InvalidArgument(f"unsupported API multiaddr {url!r}")
        host = f"[{parts[2]}]" if parts[1] == "ip6" else parts[2]
        return f"http://{host}:{parts[4]}"
    if "://" not in u:
        u = "http://" + u
    scheme = u.split("://", 1)[0]
    if scheme not in ("http", "https"):
        raise errors.InvalidArgument(f"unsupported API URL {url!r}: use http://host:port")
    if u.endswith("/api/v0"):
        u = u[: -len("/api/v0")]
    return u


def _params(**kw: Any) -> Params:
    """Query arguments as Kubo spells them: ``foo_bar`` -> ``foo-bar``, booleans as true/false,
    lists repeated, None left out."""
    out: Params = []
    for key, value in kw.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        for v in value if isinstance(value, list) else [value]:
            out.append((name, ("true" if v else "false") if isinstance(v, bool) else str(v)))
    return out


# -- errors -----------------------------------------------------------------------------------
_BY_STATUS: dict[int, type[errors.IPFSKitError]] = {
    400: errors.InvalidArgument,
    401: errors.Unauthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.RepoLocked,
    413: errors.LimitExceeded,
    429: errors.LimitExceeded,
    503: errors.ChannelUnavailable,
}


# What a message says, for servers (Kubo among them) that answer most failures with a
# bare 500: the first pattern found in the lower-cased message decides.
_BY_MESSAGE: list[tuple[re.Pattern[str], type[errors.IPFSKitError]]] = [
    (re.compile(r"invalid cid|selected encoding not supported|unsupported multibase"), errors.InvalidCID),
    (re.compile(r"\bcar\b"), errors.InvalidCAR),
    (re.compile(r"does not match|corrupt"), errors.CorruptBlock),
    (re.compile(r"block .*not found|block was not found"), errors.BlockNotFound),
    (re.compile(r"not found|not pinned|no link named"), errors.NotFound),
    (re.compile(r"not a directory|unsafe name|ipns paths"), errors.PathError),
]


def error_from_kubo(status: int, body: dict[str, Any] | str) -> errors.IPFSKitError:
    """The typed exception for an error answer: our own error code when the server sent
    one, else what the message says, else the HTTP status. ``.status`` keeps the status."""
    if isinstance(body, dict):
        message = str(body.get("Message") or body.get("message") or body.get("detail") or body)
        code = body.get("Code") if isinstance(body.get("Code"), str) else body.get("Type")
    else:
        message, code = body.strip() or f"HTTP {status}", None
    low = message.lower()
    cls: type[errors.IPFSKitError] | None = None
    if isinstance(code, str) and code in errors.BY_CODE and code != "error":
        cls = errors.BY_CODE[code]
    else:
        cls = next((c for pattern, c in _BY_MESSAGE if pattern.search(low)), None)
    if cls is None:
        cls = _BY_STATUS.get(status, errors.IPFSKitError)
    err = cls(message)
    err.status = status
    return err


_STATUS_OF_CODE = {1: 400, 3: 404}  # go-ipfs-cmds ErrClient, ErrNotFound


def _raise_line(obj: Any) -> None:
    """NDJSON streams report a failure after the 200 status as an error object line."""
    if isinstance(obj, dict) and "Message" in obj and obj.get("Type") == "error":
        code = obj.get("Code")
        raise error_from_kubo(_STATUS_OF_CODE.get(code, 500) if isinstance(code, int) else 500, obj)


# -- multipart --------------------------------------------------------------------------------
def _part_header(boundary: str, name: str, content_type: str) -> bytes:
    # Kubo's clients escape the path in filename (url.QueryEscape / encodeURIComponent)
    return (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{quote(name, safe="")}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()


async def _read_file(path: Path, sent: list[int], progress: Progress | None) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            sent[0] += len(chunk)
            if progress:
                progress(sent[0])
            yield chunk
    finally:
        f.close()


async def multipart_body(
    boundary: str, entries: Iterable[tuple[str, str, Path | AsyncIterable[bytes] | bytes | None]],
    progress: Progress | None = None,
) -> AsyncIterator[bytes]:
    """A streamed ``multipart/form-data`` body as Kubo's ``add`` reads it. Each entry is
    (name, kind, source): kind ``file`` (source a path, bytes or an async byte stream),
    ``dir`` (``application/x-directory``, empty) or ``symlink`` (source: the target)."""
    sent = [0]
    for name, kind, source in entries:
        if kind == "dir":
            yield _part_header(boundary, name, "application/x-directory") + b"\r\n"
            continue
        if kind == "symlink":
            assert isinstance(source, bytes)
            yield _part_header(boundary, name, "application/symlink") + source + b"\r\n"
            continue
        yield _part_header(boundary, name, "application/octet-stream")
        if isinstance(source, Path):
            async for chunk in _read_file(source, sent, progress):
                yield chunk
        elif isinstance(source, bytes):
            sent[0] += len(source)
            if progress:
                progress(sent[0])
            yield source
        elif source is not None:
            async for chunk in source:
                if chunk:
                    sent[0] += len(chunk)
                    if progress:
                        progress(sent[0])
                    yield bytes(chunk)
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def path_entries(path: Path, options: AddOptions) -> list[tuple[str, str, Path | bytes | None]]:
    """The parts Kubo's CLI sends for ``add [-r] [--hidden] PATH``, in the importer's order."""
    if path.is_symlink() and not path.is_dir():
        return [(path.name, "symlink", os.readlink(path).encode())]
    if path.is_dir():
        if not options.recursive:
            raise errors.InvalidArgument(f"{path} is a directory, use -r to add directories")
        out: list[tuple[str, str, Path | bytes | None]] = [(path.name, "dir", None)]
        for rel, abs_path, kind in walk_files(path, options.hidden):
            name = f"{path.name}/{rel}"
            if kind == "symlink":
                out.append((name, "symlink", os.readlink(abs_path).encode()))
            else:
                out.append((name, kind, abs_path if kind == "file" else None))
        return out
    if not path.exists():
        raise errors.NotFound(f"{path}: no such file or directory")
    return [(path.name, "file", path)]


def _add_params(options: AddOptions) -> Params:
    return _params(
        cid_version=options.cid_version, raw_leaves=options.raw_leaves, chunker=options.chunker,
        pin=options.pin, only_hash=options.only_hash, wrap_with_directory=options.wrap_with_directory,
        profile=options.profile, quieter=None,
    )


class HTTPClient:
    """The operation set over a server's ``/api/v0`` (implements ``ContentBackend``)."""

    def __init__(self, url: str = "http://127.0.0.1:8000", *, timeout: float | None = DEFAULT_TIMEOUT,
                 transport: httpx.AsyncBaseTransport | None = None, token: str | None = None,
                 offline: bool = False, request_timeout: str | None = None) -> None:
        """``token``: an API token (``ipfs-kit token create``), sent as ``Authorization: Bearer``;
        ``offline``: the server answers from its local store only (Kubo's ``--offline``);
        ``request_timeout``: every command stops after this Go duration (Kubo's ``--timeout``)."""
        self.base_url = normalize_url(url)
        self.token = token
        defaults: dict[str, str] = {}
        if offline:
            defaults["offline"] = "true"
        if request_timeout:
            defaults["timeout"] = request_timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/api/v0/",
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            headers=auth_headers(token),
            params=defaults,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> HTTPClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport ----------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _stream(self, path: str, params: Params | None = None, *, content: Any = None,
                      files: Any = None, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.Response]:
        """POST and yield the response with its body unread; non-2xx answers raise."""
        try:
            query = tuple(params) if params is not None else None  # a tuple: httpx's type takes it as it is
            req = self._http.build_request("POST", path, params=query, content=content, files=files,
                                           headers=headers)
            resp = await self._http.send(req, stream=True)
        except httpx.ConnectError as e:
            raise errors.ChannelUnavailable(f"cannot reach the ipfs-kit server at {self.base_url}: {e}") from None
        except httpx.TimeoutException as e:
            raise errors.ChannelUnavailable(f"{self.base_url} did not answer in time ({type(e).__name__})") from None
        except httpx.TransportError as e:
            raise errors.ChannelUnavailable(f"connection to {self.base_url} broke: {e}") from None
        try:
            if resp.status_code >= 400:
                body = await resp.aread()
                try:
                    decoded: dict[str, Any] | str = json.loads(body)
                except ValueError:
                    decoded = body.decode("utf-8", "replace")
                raise error_from_kubo(resp.status_code, decoded)
            try:
                yield resp
            except httpx.TransportError as e:
                raise errors.ChannelUnavailable(f"connection to {self.base_url} broke: {e}") from None
        finally:
            await resp.aclose()

    async def _json(self, path: str, params: Params | None = None, **kw: Any) -> Any:
        async with self._stream(path, params, **kw) as resp:
            body = await resp.aread()
        try:
            return json.loads(body)
        except ValueError:
            raise errors.IPFSKitError(f"{path}: the server's answer is not JSON: {body[:200]!r}") from None

    async def _ndjson(self, path: str, params: Params | None = None, **kw: Any) -> AsyncIterator[Any]:
        async with self._stream(path, params, **kw) as resp:
            async for line in resp.aiter_lines():
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        raise errors.IPFSKitError(f"{path}: malformed answer line {line[:200]!r}") from None
                    _raise_line(obj)
                    yield obj

    async def _bytes(self, path: str, params: Params | None = None) -> AsyncIterator[bytes]:
        async with self._stream(path, params) as resp:
            async for chunk in resp.aiter_bytes():
                yield chunk

    async def command(self, path: str, params: Params | None = None) -> list[Any]:
        """Any ``/api/v0`` command whose answer is JSON or NDJSON, as its decoded objects
        (what the CLI's registry-generated commands use)."""
        return [obj async for obj in self._ndjson(path, params)]

    def _multipart(self, entries: Iterable[tuple[str, str, Any]], progress: Progress | None = None
                   ) -> tuple[AsyncIterator[bytes], dict[str, str]]:
        boundary = secrets.token_hex(16)
        return multipart_body(boundary, entries, progress), {
            "Content-Type": f"multipart/form-data; boundary={boundary}"}

    # -- add ------------------------------------------------------------------------------
    async def _add(self, entries: list[tuple[str, str, Any]], options: AddOptions,
                   progress: Progress | None) -> list[Added]:
        body, headers = self._multipart(entries, progress)
        out = []
        async for obj in self._ndjson("add", _add_params(options), content=body, headers=headers):
            if "Hash" in obj:  # result line; {"Name","Bytes"} lines are the server's progress
                out.append(Added.from_kubo(obj))
        if not out:
            raise errors.IPFSKitError("the server added nothing")
        return out

    async def add_path(self, path: str | Path, options: AddOptions | None = None,
                       progress: Progress | None = None) -> list[Added]:
        opts = options or AddOptions()
        p = Path(path).expanduser()
        entries = await asyncio.to_thread(path_entries, p, opts)
        return await self._add(entries, opts, progress)

    async def add_stream(self, chunks: AsyncIterable[bytes], name: str = "",
                         options: AddOptions | None = None, progress: Progress | None = None) -> Added:
        return (await self._add([(name, "file", chunks)], options or AddOptions(), progress))[-1]

    async def add_bytes(self, data: bytes, name: str = "", options: AddOptions | None = None) -> Added:
        return (await self._add([(name, "file", bytes(data))], options or AddOptions(), None))[-1]

    # -- read -----------------------------------------------------------------------------
    async def cat(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of a file, as they arrive."""
        async for chunk in self._bytes("cat", _params(arg=path, offset=offset or None, length=length)):
            yield chunk

    async def get(self, path: str, dest: str | Path, progress: Progress | None = None) -> int:
        """Download ``path`` (Kubo sends a tar) and extract it safely to ``dest``."""
        pipe = ChunkPipe()
        extract = asyncio.ensure_future(asyncio.to_thread(self._extract, pipe, dest, progress))
        try:
            async with self._stream("get", _params(arg=path)) as resp:
                async for chunk in resp.aiter_bytes(CHUNK):
                    if extract.done() or not await asyncio.to_thread(pipe.put, chunk):
                        break  # the extractor stopped: its error is raised below
            pipe.finish()
        except BaseException as e:
            pipe.finish(errors.ChannelUnavailable(f"download of {path} failed: {e}"))
            with contextlib.suppress(BaseException):
                await extract
            raise
        return await extract

    @staticmethod
    def _extract(pipe: ChunkPipe, dest: str | Path, progress: Progress | None) -> int:
        try:
            return extract_tar(pipe, dest, progress)
        finally:
            pipe.close_reader()

    async def ls(self, path: str) -> list[LsEntry]:
        data = await self._json("ls", _params(arg=path))
        return [LsEntry.from_kubo(lk) for obj in data.get("Objects") or [] for lk in obj.get("Links") or []]

    async def stat(self, path: str) -> Stat:
        p = path if path.startswith("/") else f"/ipfs/{path}"
        return Stat.from_kubo(await self._json("files/stat", _params(arg=p)))

    # -- pins -----------------------------------------------------------------------------
    async def pin_add(self, path: str, recursive: bool = True, progress: Progress | None = None) -> list[str]:
        if progress is None:
            return list((await self._json("pin/add", _params(arg=path, recursive=recursive))).get("Pins") or [])
        pins: list[str] = []
        async for obj in self._ndjson("pin/add", _params(arg=path, recursive=recursive, progress=True)):
            if obj.get("Progress"):
                progress(int(obj["Progress"]))
            pins += obj.get("Pins") or []
        return pins

    async def pin_rm(self, path: str) -> list[str]:
        return list((await self._json("pin/rm", _params(arg=path))).get("Pins") or [])

    async def pin_ls(self, type: str = "all", path: str | None = None) -> list[Pin]:
        data = await self._json("pin/ls", _params(arg=path, type=type))
        return [Pin(cid, info.get("Type", "")) for cid, info in (data.get("Keys") or {}).items()]

    # -- blocks ---------------------------------------------------------------------------
    async def block_get(self, cid: str) -> bytes:
        async with self._stream("block/get", _params(arg=cid)) as resp:
            return await resp.aread()

    async def block_put(self, data: bytes, cid_codec: str = "raw", mhtype: str = "sha2-256",
                        pin: bool = False) -> BlockStat:
        params = _params(cid_codec=cid_codec, mhtype=mhtype, pin=pin)
        files = {"file": ("block", bytes(data), "application/octet-stream")}
        return BlockStat.from_kubo(await self._json("block/put", params, files=files))

    async def block_stat(self, cid: str) -> BlockStat:
        return BlockStat.from_kubo(await self._json("block/stat", _params(arg=cid)))

    # -- CAR ------------------------------------------------------------------------------
    async def dag_export(self, path: str) -> AsyncIterator[bytes]:
        """The DAG under ``path`` as a CAR v1 stream."""
        async for chunk in self._bytes("dag/export", _params(arg=path)):
            yield chunk

    async def dag_import(self, source: CarSource, pin_roots: bool = True) -> CarImport:
        src = Path(source).expanduser() if isinstance(source, (str, Path)) else source
        body, headers = self._multipart([("car", "file", src)])
        roots: list[str] = []
        pin_errors: dict[str, str] = {}
        blocks = None
        async for obj in self._ndjson("dag/import", _params(pin_roots=pin_roots, stats=True),
                                      content=body, headers=headers):
            if "Root" in obj:
                cid = obj["Root"]["Cid"]["/"]
                roots.append(cid)
                if obj["Root"].get("PinErrorMsg"):
                    pin_errors[cid] = obj["Root"]["PinErrorMsg"]
            elif "Stats" in obj:
                blocks = int(obj["Stats"].get("BlockCount") or 0)
        return CarImport(roots, blocks, pin_errors)

    # -- repo -----------------------------------------------------------------------------
    async def repo_gc(self) -> list[str]:
        removed = []
        async for obj in self._ndjson("repo/gc"):
            if obj.get("Error"):
                raise errors.IPFSKitError(obj["Error"])
            key = obj.get("Key")
            if key:
                removed.append(key["/"] if isinstance(key, dict) else str(key))
        return removed

    async def repo_stat(self) -> RepoStat:
        return RepoStat.from_kubo(await self._json("repo/stat"))

    async def repo_verify(self) -> VerifyResult:
        checked, corrupt, incomplete = 0, [], []
        try:
            async for obj in self._ndjson("repo/verify"):
                checked = max(checked, int(obj.get("Progress") or 0))
                msg = obj.get("Msg") or ""
                if "corrupt" in msg and msg.startswith("block "):  # "block <cid> was corrupt (...)"
                    corrupt.append(msg.split()[1])
                elif msg.startswith("pin ") and " is incomplete" in msg:  # "pin <cid> is incomplete (...)"
                    incomplete.append(msg.split()[1])
        except errors.IPFSKitError as e:
            if not corrupt or "corrupt" not in str(e):  # Kubo ends a failed verify with this error
                raise
        return VerifyResult(checked, corrupt, incomplete)

    async def id(self) -> NodeId:
        return NodeId.from_kubo(await self._json("id"))

    async def version(self) -> VersionInfo:
        return VersionInfo.from_kubo(await self._json("version"))

    # -- metadata (ipfs-kit extension, see docs/protocols.md (HTTP)) ---------------------------
    async def metadata_get(self, cid: str) -> Metadata:
        return metadata_from_dict(await self._json("ipfs-kit/metadata/get", _params(arg=cid)))

    async def metadata_set(self, cid: str, values: dict[str, Any], replace: bool = False) -> Metadata:
        body = json.dumps(values).encode()
        return metadata_from_dict(await self._json(
            "ipfs-kit/metadata/set", _params(arg=cid, replace=replace), content=body,
            headers={"Content-Type": "application/json"}))
