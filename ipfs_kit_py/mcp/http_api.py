"""Kubo-compatible RPC API under ``/api/v0``.

Same paths, POST only, Kubo's query options and response field names, so the
maintained Kubo clients (npm ``kubo-rpc-client``, ...) work unchanged. Every
route is a thin adapter over ``node.model`` (IPFSModel); uploads are parsed as
a stream (``multipart.py``) and fed to the model as they arrive; cat, get and
dag/export stream their bodies. Errors are Kubo's ``{"Message","Code","Type"}``
with the status of the typed error (``errors.py``). The wire format is
documented in ``docs/protocols.md (HTTP)``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import platform
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .. import __version__
from ..content.car import CarParser, merge_roots
from ..content.cid import CID, b58encode
from ..errors import InvalidArgument, IPFSKitError, LimitExceeded
from ..model import AddOptions, IPFSModel
from ..node import Node
from . import tar_stream
from .multipart import MalformedMultipart, iter_events, part_data
from .rpc_wire import Args, error_response, first_then, ndjson_line, ndjson_response
from .uploads import UploadLimits, bounded

API = "/api/v0"
PROGRESS_EVERY = 256 << 10  # bytes between {"Name","Bytes"} progress lines of add
MAX_BLOCK = 2 << 20  # Kubo's block size limit (bitswap's)
PIN_PROGRESS_EVERY = 0.1  # seconds between {"Progress": N} lines of pin add --progress
AGENT_VERSION = f"ipfs-kit-py/{__version__}"
PROTOCOL_VERSION = "ipfs/0.1.0"


@dataclass(frozen=True)
class Opt:
    """A documented query option of a route (shown in the OpenAPI schema at /docs)."""

    name: str
    type: str = "string"  # string, integer, boolean
    description: str = ""
    repeated: bool = False

    def schema(self) -> dict[str, Any]:
        item = {"type": self.type}
        return {
            "name": self.name, "in": "query", "required": False, "description": self.description,
            "schema": {"type": "array", "items": item} if self.repeated else item,
        }


ARG = Opt("arg", description="IPFS path or CID (/ipfs/CID/path or CID/path)", repeated=True)
Handler = Callable[[Request, Args], Awaitable[Response]]


MAX_SYMLINK_TARGET = 4096  # bytes (PATH_MAX)


async def _method_not_allowed(request: Request) -> Response:
    # Kubo refuses GET on the RPC API (CSRF protection): 405 with its error shape
    return JSONResponse({"Message": f"{request.method} not allowed: use POST", "Code": 0, "Type": "error"},
                        status_code=405, headers={"Allow": "POST"})


class KuboRPC:
    """The ``/api/v0`` routes of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.model: IPFSModel = node.model
        self._fallback_id: tuple[str, str] | None = None

    # -- registration --------------------------------------------------------------------
    def route(self, app: FastAPI, path: str, handler: Handler, summary: str, *opts: Opt, upload: str = "") -> None:
        async def endpoint(request: Request) -> Response:
            try:  # Origin, Host, token and the route's scope were checked by the access guard (guard.py)
                return await handler(request, Args(request.query_params))
            except Exception as e:  # noqa: BLE001 - every error gets Kubo's shape and its status
                return error_response(e)

        extra: dict[str, Any] = {"parameters": [o.schema() for o in opts]}
        if upload:
            extra["requestBody"] = {"content": {"multipart/form-data": {"schema": {"type": "object"}}},
                                    "description": upload}
        endpoint.__name__ = "api_" + path.replace("/", "_").replace("-", "_")
        app.add_api_route(f"{API}/{path}", endpoint, methods=["POST"], summary=summary,
                          tags=["Kubo RPC"] if not path.startswith("ipfs-kit/") else ["ipfs-kit extras"],
                          openapi_extra=extra)
        app.add_api_route(f"{API}/{path}", _method_not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"],
                          include_in_schema=False)

    def register(self, app: FastAPI) -> None:
        r = self.route
        r(app, "add", self.add, "Add files and directories (multipart upload, streamed NDJSON results)",
          Opt("cid-version", "integer", "0 or 1; 1 implies raw-leaves"),
          Opt("raw-leaves", "boolean"), Opt("chunker", description="size-N"),
          Opt("only-hash", "boolean", "compute CIDs, store nothing"), Opt("pin", "boolean", "default true"),
          Opt("wrap-with-directory", "boolean"), Opt("recursive", "boolean", "accepted; the client sends the tree"),
          Opt("hidden", "boolean", "accepted; the client decides which files it sends"),
          Opt("quiet", "boolean"), Opt("quieter", "boolean", "only the root line"),
          Opt("silent", "boolean", "no output lines"), Opt("progress", "boolean", '{"Name","Bytes"} lines'),
          Opt("profile", description="ipfs-kit extra: v0 (default), v1raw, v1-2025"),
          Opt("hash", description="sha2-256 only"), Opt("trickle", "boolean", "false only"),
          upload="files as multipart parts: filename = URL-encoded path; application/x-directory for directories")
        r(app, "cat", self.cat, "Stream the bytes of a file", ARG, Opt("offset", "integer"), Opt("length", "integer"))
        r(app, "get", self.get, "A file or directory as a TAR stream", ARG,
          Opt("archive", "boolean"), Opt("compress", "boolean", "false only"))
        r(app, "ls", self.ls, "List the links of directories", ARG)
        r(app, "pin/add", self.pin_add, "Pin content (fetching what the repo lacks)", ARG,
          Opt("recursive", "boolean", "default true"),
          Opt("progress", "boolean", 'stream {"Progress": blocks} lines while fetching, then {"Pins": [...]}'))
        r(app, "pin/rm", self.pin_rm, "Unpin content", ARG, Opt("recursive", "boolean"))
        r(app, "pin/ls", self.pin_ls, "List pins", ARG, Opt("type", description="all, recursive, direct, indirect"),
          Opt("quiet", "boolean"), Opt("stream", "boolean", "one NDJSON line per pin"))
        r(app, "block/get", self.block_get, "The raw bytes of a block", ARG)
        r(app, "block/put", self.block_put, "Store raw blocks (one per multipart part)",
          Opt("cid-codec", description="raw (default) or dag-pb"),
          Opt("format", description="legacy: raw, v0/protobuf (dag-pb CIDv0), dag-pb"),
          Opt("mhtype", description="sha2-256"), Opt("mhlen", "integer"), Opt("pin", "boolean"),
          upload="one part per block, at most 2 MiB each")
        r(app, "block/stat", self.block_stat, "Size of a block", ARG)
        r(app, "block/rm", self.block_rm, "Remove blocks", ARG, Opt("force", "boolean"), Opt("quiet", "boolean"))
        r(app, "dag/export", self.dag_export, "The DAG under a CID as a CAR v1 stream", ARG)
        r(app, "dag/import", self.dag_import, "Import CAR v1 files (verifying every block)",
          Opt("pin-roots", "boolean", "default true"), Opt("stats", "boolean"), Opt("silent", "boolean"),
          upload="one CAR v1 per multipart part")
        r(app, "files/stat", self.files_stat, "Stat of an /ipfs/ path (no MFS)", ARG)
        r(app, "id", self.id, "Identity of this node", ARG, Opt("format"))
        r(app, "version", self.version, "Version of this server")
        r(app, "repo/gc", self.repo_gc, "Remove unpinned blocks", Opt("quiet", "boolean"),
          Opt("stream-errors", "boolean"))
        r(app, "repo/stat", self.repo_stat, "Size of the repo", Opt("size-only", "boolean"), Opt("human", "boolean"))
        r(app, "repo/verify", self.repo_verify, "Check every block against its hash")
        r(app, "ipfs-kit/metadata/get", self.metadata_get, "Metadata of a CID (name, size, type, user values)", ARG)
        r(app, "ipfs-kit/metadata/set", self.metadata_set,
          "Merge (or with replace=true, replace) user key/values; body: JSON object", ARG,
          Opt("replace", "boolean"))

    # -- uploads -------------------------------------------------------------------------------
    def _upload(self, request: Request) -> AsyncIterator[bytes]:
        """The request body as it arrives, within the server's upload limits (size,
        idle time, total time: see uploads.py), so a slow or stalled upload cannot hold
        the GC guard (or a connection) forever. A declared length over the limit is
        refused before anything is read."""
        limits = UploadLimits.of(self.node.settings.server)
        limits.check_declared(request.headers.get("content-length"))
        return bounded(request.stream().__aiter__(), limits)

    # -- add -----------------------------------------------------------------------------------
    async def add(self, request: Request, a: Args) -> Response:
        if a.bool("trickle", "t"):
            raise InvalidArgument("the trickle layout is not supported: use the balanced layout")
        if a.str("hash") not in (None, "sha2-256"):
            raise InvalidArgument("only the sha2-256 hash is supported")
        if a.bool("nocopy") or a.bool("inline"):
            raise InvalidArgument("nocopy and inline are not supported")
        options = AddOptions(
            profile=a.str("profile"),
            cid_version=a.int("cid-version"),
            raw_leaves=a.bool("raw-leaves", default=None),
            chunker=a.str("chunker", "s"),
            pin=bool(a.bool("pin", default=True)),
            only_hash=bool(a.bool("only-hash", "n")),
            wrap_with_directory=bool(a.bool("wrap-with-directory", "w")),
            recursive=bool(a.bool("recursive", "r")),
            hidden=bool(a.bool("hidden", "H")),
        )
        progress = bool(a.bool("progress", "p"))
        quieter = bool(a.bool("quieter", "Q"))
        silent = bool(a.bool("silent"))
        session = self.model.begin_add(options)  # validates the options (400 before reading)

        async def lines() -> AsyncIterator[dict[str, Any]]:
            files = dirs = 0
            try:
                events = iter_events(self._upload(request), request.headers.get("content-type"))
                async for ev in events:
                    if ev.kind != "begin":
                        raise MalformedMultipart("part data outside a part")
                    part = ev.part
                    if part.is_directory:
                        session.add_dir(part.filename)
                        dirs += 1
                        async for _ in part_data(events):
                            raise MalformedMultipart(f"directory part {part.filename!r} has a body")
                        continue
                    if part.is_symlink:  # the body is the link's target
                        target = b""
                        async for data in part_data(events):
                            target += data
                            if len(target) > MAX_SYMLINK_TARGET:
                                raise InvalidArgument(f"symlink target of {part.filename!r} is too long")
                        result = await session.add_symlink(part.filename, target.decode("utf-8", "surrogateescape"))
                        files += 1
                        if not quieter and not silent:
                            yield _add_line(result.to_dict(), file=True)
                        continue
                    name = part.filename
                    session.start_file(name)
                    reported = 0
                    async for data in part_data(events):
                        written = await session.write(data)
                        if progress and written - reported >= PROGRESS_EVERY:
                            reported = written
                            yield {"Name": name, "Bytes": written}
                    result = await session.finish_file()
                    files += 1
                    if progress:
                        yield {"Name": name, "Bytes": result.size}
                    if not quieter and not silent:
                        yield _add_line(result.to_dict(), file=True)
                if files == 0 and dirs == 0:
                    raise InvalidArgument("no file in the request body (expected multipart file parts)")
                results = await session.commit()
            finally:
                session.close()
            if silent:
                return
            if quieter:
                yield _add_line(results[-1].to_dict(), file=len(results) == files)
                return
            for r in results[files:]:  # directories (files were sent as they finished)
                yield _add_line(r.to_dict(), file=False)

        # the upload is read (and the GC guard held) apart from sending the lines, so a
        # client that stops reading its response cannot hold the guard for ever
        return await ndjson_response(_decoupled(lines()))

    # -- reading -------------------------------------------------------------------------------
    async def cat(self, request: Request, a: Args) -> Response:
        offset = a.int("offset", "o", default=0) or 0
        length = a.int("length", "l")
        body = await first_then(self.model.cat(a.arg(), offset, length))
        return StreamingResponse(body, media_type="text/plain", headers={"X-Stream-Output": "1"})

    async def get(self, request: Request, a: Args) -> Response:
        if a.bool("compress", "C"):
            raise InvalidArgument("compressed output is not supported: use compress=false")
        path = a.arg()
        cid = await asyncio.to_thread(self.model.resolve, path)
        st = await self.model.stat(cid)
        top = path.rstrip("/").split("/")[-1] if "/" in path.strip("/") else str(cid)
        body = await first_then(self._tar(cid, st.type, top))
        return StreamingResponse(body, media_type="application/x-tar", headers={"X-Stream-Output": "1"})

    async def _tar(self, root: CID, root_type: str, top: str) -> AsyncIterator[bytes]:
        """TAR of the tree at ``root``: entries named ``top/...`` as Kubo names them."""
        first_type = {"directory": 1, "symlink": 4}.get(root_type, 2)
        stack: list[tuple[CID, str, int]] = [(root, top, first_type)]
        while stack:
            cid, name, type_ = stack.pop()
            if type_ in (1, 5):  # directory (5: HAMT shard)
                entries = await self.model.ls(cid)
                for e in entries:  # every name is checked before the directory is written
                    _safe(e.name)
                yield tar_stream.dir_header(name)
                for e in reversed(entries):
                    stack.append((e.cid, f"{name}/{e.name}", e.type))
            elif type_ == 4:  # symlink
                target = (await asyncio.to_thread(self._read_all, cid)).decode("utf-8", "replace")
                yield tar_stream.symlink_header(name, target)
            else:
                reader = await asyncio.to_thread(self.model.open, cid)
                yield tar_stream.file_header(name, reader.size)
                async for chunk in self.model.cat(cid):
                    yield chunk
                yield tar_stream.padding(reader.size)
        yield tar_stream.END

    def _read_all(self, cid: CID) -> bytes:
        return self.model.open(cid).read()

    async def ls(self, request: Request, a: Args) -> Response:
        paths = a.args() or [a.arg()]
        objects = []
        for path in paths:
            await self.model.stat(path)  # 404 for an absent root (model.ls does not read raw leaves)
            entries = await self.model.ls(path)
            objects.append({"Hash": path, "Links": [e.to_dict() for e in entries]})
        return JSONResponse({"Objects": objects})

    async def files_stat(self, request: Request, a: Args) -> Response:
        path = a.arg("path")
        if not path.startswith("/ipfs/"):
            raise InvalidArgument("only /ipfs/ paths are supported (there is no MFS)")
        st = await self.model.stat(path)
        d = st.to_dict()
        return JSONResponse({**d, "WithLocality": False})

    # -- pins --------------------------------------------------------------------------------
    async def pin_add(self, request: Request, a: Args) -> Response:
        recursive = bool(a.bool("recursive", "r", default=True))
        paths = a.args() or [a.arg()]
        if not a.bool("progress"):
            pins = [str(await self.model.pin_add(p, recursive=recursive)) for p in paths]
            return JSONResponse({"Pins": pins})

        async def lines() -> AsyncIterator[dict[str, Any]]:
            # Kubo's AddPinOutput: {"Progress": N} while fetching (N: blocks present so far), then {"Pins": [...]}
            counted: asyncio.Queue[int | None] = asyncio.Queue()
            pins = []
            for p in paths:
                task = asyncio.ensure_future(self.model.pin_add(p, recursive=recursive, progress=counted.put_nowait))
                task.add_done_callback(lambda _t: counted.put_nowait(None))
                try:
                    last, sent = 0, 0.0
                    while (n := await counted.get()) is not None:
                        last = n
                        now = asyncio.get_running_loop().time()
                        if now - sent >= PIN_PROGRESS_EVERY:
                            sent = now
                            yield {"Progress": n}
                    if last:
                        yield {"Progress": last}
                    pins.append(str(await task))
                finally:
                    if not task.done():
                        task.cancel()
            yield {"Pins": pins}

        return await ndjson_response(lines())

    async def pin_rm(self, request: Request, a: Args) -> Response:
        pins = [str(await self.model.pin_rm(p)) for p in (a.args() or [a.arg()])]
        return JSONResponse({"Pins": pins})

    async def pin_ls(self, request: Request, a: Args) -> Response:
        type_ = a.str("type", "t", default="all") or "all"
        pins: list[tuple[str, str]] = []
        if a.args():
            for p in a.args():
                pins += await self.model.pin_ls(type_, p)
        else:
            pins = await self.model.pin_ls(type_)
        if a.bool("stream", "s"):
            async def lines() -> AsyncIterator[dict[str, Any]]:
                for cid, t in pins:
                    yield {"Cid": cid, "Type": t, "Name": ""}

            return await ndjson_response(lines())
        return JSONResponse({"Keys": {cid: {"Type": t, "Name": ""} for cid, t in pins}})

    # -- blocks ------------------------------------------------------------------------------
    async def block_get(self, request: Request, a: Args) -> Response:
        data = await self.model.block_get(a.arg("cid"))
        return Response(data, media_type="application/octet-stream")

    async def block_put(self, request: Request, a: Args) -> Response:
        codec, version = _block_codec(a)
        mhtype = a.str("mhtype", default="sha2-256") or "sha2-256"
        if a.int("mhlen", default=-1, minimum=-1) not in (-1, 32):
            raise InvalidArgument("only 32-byte sha2-256 digests are supported (mhlen=32)")
        pin = bool(a.bool("pin"))
        out = []
        events = iter_events(self._upload(request), request.headers.get("content-type"))
        async for ev in events:
            if ev.kind != "begin":
                raise MalformedMultipart("part data outside a part")
            buf = bytearray()
            async for data in part_data(events):
                buf += data
                if len(buf) > MAX_BLOCK:
                    raise InvalidArgument(f"block too large: the limit is {MAX_BLOCK} bytes")
            cid = await self.model.block_put(bytes(buf), codec=codec, mhtype=mhtype, cid_version=version, pin=pin)
            out.append({"Key": str(cid), "Size": len(buf)})
        if not out:
            raise InvalidArgument("no block in the request body (expected a multipart part)")
        body = b"".join(ndjson_line(o) for o in out)
        return Response(body, media_type="application/json")

    async def block_stat(self, request: Request, a: Args) -> Response:
        cid, size = await self.model.block_stat(a.arg("cid"))
        return JSONResponse({"Key": str(cid), "Size": size})

    async def block_rm(self, request: Request, a: Args) -> Response:
        force, quiet = bool(a.bool("force", "f")), bool(a.bool("quiet", "q"))
        cids = a.args() or [a.arg("cid")]

        async def lines() -> AsyncIterator[dict[str, Any]]:
            for c in cids:
                try:
                    removed = await self.model.block_rm(c)
                except IPFSKitError as e:  # Kubo reports each block's error in its line
                    if not (force and e.status == 404):
                        yield {"Hash": c, "Error": str(e)}
                    continue
                if not quiet:
                    yield {"Hash": str(removed), "Error": ""}

        return await ndjson_response(lines())

    # -- CAR -------------------------------------------------------------------------------
    async def dag_export(self, request: Request, a: Args) -> Response:
        body = await first_then(self.model.car_export(a.arg("root")))
        return StreamingResponse(body, media_type="application/vnd.ipld.car",
                                 headers={"X-Stream-Output": "1"})

    async def dag_import(self, request: Request, a: Args) -> Response:
        pin_roots = bool(a.bool("pin-roots", default=True))
        stats, silent = bool(a.bool("stats")), bool(a.bool("silent"))

        async def lines() -> AsyncIterator[dict[str, Any]]:
            roots: list[CID] = []
            blocks = 0
            block_bytes = 0
            lease = None  # the GC guard, from the first part until every root is pinned
            try:
                events = iter_events(self._upload(request), request.headers.get("content-type"))
                async for ev in events:
                    if ev.kind != "begin":
                        raise MalformedMultipart("part data outside a part")
                    if lease is None:
                        lease = await self.model.gc_lease()
                    counter = _BlockBytes(part_data(events), count=stats)
                    part_roots, n = await self.model.car_import(counter, pin_roots=False)
                    roots = merge_roots(roots, part_roots, self.model.repo.settings.repo.max_car_roots)
                    blocks += n
                    block_bytes += counter.bytes
                results = []
                if not silent and pin_roots:
                    for root in roots:  # like Kubo: pin after every part is in; report per root
                        try:
                            await self.model.pin_root(root)
                            msg = ""
                        except IPFSKitError as e:
                            msg = str(e)
                        results.append({"Root": {"Cid": {"/": str(root)}, "PinErrorMsg": msg}})
            finally:
                if lease is not None:
                    lease.release()
            for line in results:
                yield line
            if stats:
                yield {"Stats": {"BlockCount": blocks, "BlockBytesCount": block_bytes}}

        return await ndjson_response(lines())

    # -- node --------------------------------------------------------------------------------
    async def id(self, request: Request, a: Args) -> Response:
        libp2p = self.node.services.get("libp2p")
        peer = a.args()[0] if a.args() else None
        if libp2p is not None and hasattr(libp2p, "get_id"):
            my_id = str(libp2p.get_id())
            addrs = _addresses(libp2p)
            pub = _public_key(libp2p)
        else:
            my_id, pub = self._server_identity()
            addrs = []
        if peer is not None and peer != my_id:
            raise InvalidArgument("only the local node's identity is available here")
        return JSONResponse({"ID": my_id, "PublicKey": pub, "Addresses": addrs,
                             "AgentVersion": AGENT_VERSION, "ProtocolVersion": PROTOCOL_VERSION,
                             "Protocols": []})

    def _server_identity(self) -> tuple[str, str]:
        """Without a libp2p service: a per-process Ed25519 key, so ``ID`` is a valid
        peer ID for clients that parse it. Replaced by the peer's real identity once
        the libp2p service runs."""
        if self._fallback_id is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

            raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            proto = b"\x08\x01\x12\x20" + raw  # libp2p PublicKey{Type: Ed25519, Data}
            self._fallback_id = (b58encode(b"\x00" + bytes([len(proto)]) + proto),
                                 base64.b64encode(proto).decode())
        return self._fallback_id

    async def version(self, request: Request, a: Args) -> Response:
        return JSONResponse({"Version": __version__, "Commit": "", "Repo": "1",
                             "System": f"{platform.machine()}/{platform.system().lower()}",
                             "Golang": f"python{platform.python_version()}"})

    async def repo_gc(self, request: Request, a: Args) -> Response:
        result = await self.model.gc()

        async def lines() -> AsyncIterator[dict[str, Any]]:
            for c in result.removed:
                yield {"Key": {"/": str(c)}}
            for pin in result.incomplete:  # Kubo's GcResult error lines; the GC itself went on
                yield {"Error": f"{pin.message}: kept; add or fetch it again to repair it"}

        return await ndjson_response(lines())

    async def repo_stat(self, request: Request, a: Args) -> Response:
        st = await self.model.repo_stat()
        body = {"RepoSize": st["RepoSize"], "StorageMax": 0}
        if not a.bool("size-only"):
            body.update({"NumObjects": st["NumObjects"], "RepoPath": st["RepoPath"], "Version": st["Version"]})
        return JSONResponse(body)

    async def repo_verify(self, request: Request, a: Args) -> Response:
        report = await self.model.repo_verify()

        async def lines() -> AsyncIterator[dict[str, Any]]:
            for key in report.corrupt:
                yield {"Msg": f"block {key} was corrupt", "Progress": 0}
            for pin in report.incomplete:
                yield {"Msg": pin.message, "Progress": 0}
            yield {"Msg": "", "Progress": report.checked}
            if report.ok:
                yield {"Msg": "verify complete, all blocks validated.", "Progress": 0}
            else:
                yield {"Msg": f"verify complete, {len(report.corrupt)} blocks were corrupt, "
                              f"{len(report.incomplete)} pins are incomplete", "Progress": 0}

        return await ndjson_response(lines())

    # -- ipfs-kit extras ----------------------------------------------------------------------
    async def metadata_get(self, request: Request, a: Args) -> Response:
        md = await self.model.metadata_get(a.arg("cid"))
        return JSONResponse(md.to_dict())

    async def metadata_set(self, request: Request, a: Args) -> Response:
        import json

        raw = bytearray()
        async for chunk in self._upload(request):
            raw += chunk
            if len(raw) > 1 << 20:
                raise LimitExceeded("metadata body exceeds 1 MiB")
        try:
            values = json.loads(bytes(raw) or b"{}")
        except ValueError as e:
            raise InvalidArgument(f"body is not valid JSON: {e}") from None
        md = await self.model.metadata_set(a.arg("cid"), values, replace=bool(a.bool("replace")))
        return JSONResponse(md.to_dict())


# -- small helpers -----------------------------------------------------------------------------
async def _decoupled(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """``items``, produced by a task of their own: the producer never waits for the
    consumer (the lines queue up, a few per file added), only the other way round."""
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in items:
                queue.put_nowait(("item", item))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            queue.put_nowait(("error", e))
            if isinstance(e, asyncio.CancelledError):
                raise
        else:
            queue.put_nowait(("end", None))

    task = asyncio.create_task(pump())
    try:
        while True:
            kind, value = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def _add_line(d: dict[str, Any], file: bool) -> dict[str, Any]:
    if file and not d["Name"]:  # an unnamed file is named by its CID, as Kubo does (a wrapping root stays "")
        d["Name"] = d["Hash"]
    return d


def _safe(name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise InvalidArgument(f"refusing unsafe name {name!r} in the DAG")


def _block_codec(a: Args) -> tuple[str, int]:
    """(codec, CID version) from Kubo's ``cid-codec`` and legacy ``format`` options."""
    fmt = a.str("format", "f")
    codec = a.str("cid-codec")
    if fmt and codec:
        raise InvalidArgument("use either format or cid-codec, not both")
    if fmt:
        if fmt in ("v0", "protobuf"):
            return "dag-pb", 0
        if fmt in ("raw", "dag-pb"):
            return fmt, 1
        raise InvalidArgument(f"unsupported block format {fmt!r}: raw, dag-pb, v0")
    codec = codec or "raw"
    if codec not in ("raw", "dag-pb"):
        raise InvalidArgument(f"unsupported cid-codec {codec!r}: raw or dag-pb")
    return codec, 1


class _BlockBytes:
    """Passes a CAR's chunks through; with ``count``, sums its block bytes (Kubo's
    ``BlockBytesCount``) with an unverified parse (the model verifies the blocks)."""

    def __init__(self, it: AsyncIterator[bytes], count: bool) -> None:
        self.it = it
        self.bytes = 0
        self._parser = CarParser(verify=False) if count else None

    def __aiter__(self) -> _BlockBytes:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.it.__anext__()
        if self._parser is not None:
            try:
                self.bytes += sum(len(b) for _, b in self._parser.feed(chunk))
            except IPFSKitError:
                self._parser = None  # the model reports the error
        return chunk


def _addresses(svc: Any) -> list[str]:
    for name in ("get_addrs", "get_addresses"):
        fn = getattr(svc, name, None)
        if callable(fn):
            return [str(x) for x in fn()]
    return [str(x) for x in getattr(svc, "addresses", [])]


def _public_key(svc: Any) -> str:
    fn = getattr(svc, "get_public_key", None)
    key = fn() if callable(fn) else getattr(svc, "public_key", b"")
    if isinstance(key, bytes | bytearray):
        return base64.b64encode(bytes(key)).decode()
    return str(key or "")


def register(app: FastAPI, node: Node) -> None:
    KuboRPC(node).register(app)

