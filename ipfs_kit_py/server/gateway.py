"""Path gateway: ``GET/HEAD /ipfs/{cid}[/{path}]``, fetching what the repo lacks.

Follows the IPFS HTTP gateway specs (specs.ipfs.tech/http-gateways/path-gateway,
trustless-gateway): deserialized UnixFS responses with Content-Type, Range
(206/416), immutable caching (``ETag``, ``If-None-Match`` -> 304), directory
listings (or ``index.html``), and the verifiable responses ``?format=raw``
(application/vnd.ipld.raw, the block) and ``?format=car`` (application/vnd.ipld.car,
``dag-scope=all|entity|block``), also chosen by ``Accept``.

Content the repo lacks is fetched from the network (``retrieval.py``) as the
response streams: bytes go out as blocks arrive, and a Range fetches only the
blocks it covers (plus a bounded read-ahead). One request is one read operation
(one bitswap session): resolving the path, type sniffing and the body ask the peers
the first block came from directly, and a Range's first block is fetched at the same
time as the first leaf that sniffing needs. ``Cache-Control: only-if-cached``
never fetches (404 when absent), and with ``retrieval.offline`` nothing is
fetched. Bodies stream from ``model.open()`` / ``model.cat()``. Range and
negotiation logic are plain functions below, apart from I/O.
"""

from __future__ import annotations

import asyncio
import functools
import html
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse

from .. import __version__
from ..content.car import write_car
from ..content.cid import CID
from ..content.sniff import sniff
from ..errors import (
    InvalidArgument,
    InvalidCID,
    IPFSKitError,
    NotCached,
    NotFound,
    PathError,
    RangeNotSatisfiable,
    public_message,
)
from ..model import IPFSModel, stream_in_thread
from ..node import Node
from ..retrieval import ReadOp, ReadOptions, read_options
from .routes import get_and_head
from .rpc_wire import first_then, log

IMMUTABLE = "public, max-age=29030400, immutable"
RAW_TYPE = "application/vnd.ipld.raw"
CAR_TYPE = "application/vnd.ipld.car"
CAR_CONTENT_TYPE = "application/vnd.ipld.car; version=1; order=dfs; dups=n"
SNIFF_BYTES = 512
MAX_POSITION_DIGITS = 19  # a Range position with more digits is past the end of any content


# -- protocol logic (no I/O) ---------------------------------------------------------------
def _position(digits: str) -> int:
    """A byte position of a Range header. More digits than any size has (a 5000-digit
    number: ``int()`` refuses it) means "beyond the end", which RFC 9110 defines: a
    last-pos past the end is clamped, a first-pos past it is unsatisfiable."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_POSITION_DIGITS else 1 << 64


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` -> (start, end inclusive), or None for the whole body.

    One range is served; several ranges are answered with the whole body (allowed
    by RFC 9110). A malformed or unsatisfiable range raises RangeNotSatisfiable
    (416), as Go's http.ServeContent (Kubo's gateway) does."""
    if header is None:
        return None
    shown = header if len(header) <= 100 else f"{header[:100]}...({len(header)} characters)"
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        raise RangeNotSatisfiable(f"invalid range {shown!r}")
    ranges = [r.strip() for r in spec.split(",") if r.strip()]
    if len(ranges) != 1:
        return None
    m = re.fullmatch(r"(\d*)-(\d*)", ranges[0])
    if not m or (not m.group(1) and not m.group(2)):
        raise RangeNotSatisfiable(f"invalid range {shown!r}")
    first, last = m.group(1), m.group(2)
    if not first:  # suffix: the last N bytes
        n = _position(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {shown!r} is not satisfiable for {size} bytes")
        return max(0, size - n), size - 1
    start = _position(first)
    end = _position(last) if last else size - 1
    if end < start or start >= size:
        raise RangeNotSatisfiable(f"range {shown!r} is not satisfiable for {size} bytes")
    return start, min(end, size - 1)


def response_format(query_format: str | None, accept: str | None) -> str:
    """"unixfs" (deserialized), "raw" or "car": ``format`` wins over ``Accept``."""
    if query_format:
        if query_format not in ("raw", "car"):
            raise InvalidArgument(f"unsupported format {query_format!r}: raw or car")
        return query_format
    for item in (accept or "").split(","):
        mime = item.split(";")[0].strip().lower()
        if mime == RAW_TYPE:
            return "raw"
        if mime == CAR_TYPE:
            return "car"
    return "unixfs"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag.removeprefix("W/"):
            return True
    return False


def split_gateway_path(rest: str) -> tuple[CID, list[str]]:
    parts = rest.split("/")
    try:
        cid = CID.decode(parts[0])
    except (InvalidCID, ValueError) as e:
        raise InvalidCID(f"invalid CID {parts[0]!r}: {e}") from None
    names = [p for p in parts[1:] if p]
    for n in names:
        if n in (".", ".."):
            raise PathError(f"invalid path segment {n!r}")
    return cid, names


def listing_html(url_path: str, root: str, entries: list[tuple[str, str, int, bool]],
                 console_url: str = "/") -> str:
    """A directory listing page in the console's style (its stylesheet inline, so the page
    also works on a gateway-only listener), human sizes, SVG icons, a link to the console.
    entries: (name, cid, size, is_dir)."""
    esc = html.escape
    rows = []
    if url_path.rstrip("/").count("/") > 2:  # below /ipfs/<cid>: link to the parent
        rows.append(f'<tr><td class="name"><a href="..">{_ICONS["up"]} ..</a></td><td></td><td></td></tr>')
    for name, cid, size, is_dir in entries:
        href = quote(name) + ("/" if is_dir else "")
        rows.append(
            f'<tr><td class="name"><a href="{esc(href)}">{_ICONS["dir" if is_dir else "file"]} {esc(name)}</a></td>'
            f'<td class="cid"><a href="/ipfs/{esc(cid)}">{esc(cid)}</a></td>'
            f'<td class="num" title="{"" if is_dir else f"{size} bytes"}">{"" if is_dir else human_size(size)}</td></tr>'
        )
    browse = f"{console_url}#/files?path={quote(url_path.rstrip('/'))}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Index of {esc(url_path)}</title><style>{console_css()}</style></head>"
        "<body class=\"plain\"><main class=\"page\"><div class=\"listing-head\">"
        f"<h1>{_ICONS['dir']} Index of <code>{esc(url_path)}</code></h1>"
        f'<a class="button" href="{esc(browse)}">Open in the console</a></div>'
        f"<p class=\"muted\">root <code>{esc(root)}</code></p>"
        "<div class=\"table-wrap\"><table class=\"listing\"><thead><tr><th>Name</th><th>CID</th>"
        "<th class=\"num\">Size</th></tr></thead><tbody>"
        + "".join(rows)
        + f"</tbody></table></div><p class=\"muted\"><small><a href=\"{esc(console_url)}\">ipfs_kit_py "
        f"{esc(__version__)} console</a></small></p></main></body></html>\n"
    )


def human_size(n: int) -> str:
    """1536 -> "1.50 KiB" (the console's humanSize)."""
    v, units = float(n), ["B", "KiB", "MiB", "GiB", "TiB"]
    i = 0
    while v >= 1024 and i < len(units) - 1:
        v /= 1024
        i += 1
    return f"{n} B" if i == 0 else f"{v:.{2 if v < 10 else 1}f} {units[i]}"


_SVG = '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true">{}</svg>'
_ICONS = {  # the console's icons (static/console/icons.js)
    "dir": _SVG.format('<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>'),
    "file": _SVG.format('<path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z"/><path d="M14 3v5h5"/>'),
    "up": _SVG.format('<path d="M12 19V5M5 12l7-7 7 7"/>'),
}


@functools.cache
def console_css() -> str:
    from .console import STATIC

    return (STATIC / "console.css").read_text(encoding="utf-8").replace("</", "<\\/")


@dataclass(slots=True)
class Resolved:
    root: CID
    cid: CID
    chain: list[CID]  # CIDs along the path, root first, ending with ``cid``
    url_path: str


# -- the gateway ----------------------------------------------------------------------------
class Gateway:
    def __init__(self, node: Node) -> None:
        self.model: IPFSModel = node.model

    def register(self, app: FastAPI) -> None:
        get_and_head(app, "/ipfs/{rest:path}", self.handle, tags=["gateway"],
                     summary="Path gateway: UnixFS, ?format=raw, ?format=car (fetches what the repo lacks)")

    async def handle(self, request: Request, rest: str) -> Response:
        try:
            return await self._handle(request, rest)
        except IPFSKitError as e:
            return PlainTextResponse(f"{e}\n", status_code=e.status)
        except Exception as e:  # noqa: BLE001
            log.exception("gateway error")
            return PlainTextResponse(f"{public_message(e)}\n", status_code=500)

    async def _resolve(self, request: Request, root: CID, names: list[str], op: ReadOp) -> Resolved:
        def run() -> Resolved:
            chain = self.model.resolve_chain(root, names, op)  # fetches what the repo lacks
            return Resolved(root, chain[-1], chain, request.url.path)

        return await self.model.in_reader(run)

    async def _handle(self, request: Request, rest: str) -> Response:
        if "only-if-cached" in request.headers.get("cache-control", ""):
            token = read_options.set(ReadOptions(offline=True))  # the spec's probe: never fetch
            try:
                return await self._handle_request(request, rest)
            finally:
                read_options.reset(token)
        return await self._handle_request(request, rest)

    async def _handle_request(self, request: Request, rest: str) -> Response:
        q = request.query_params
        fmt = response_format(q.get("format"), request.headers.get("accept"))
        root, names = split_gateway_path(rest)
        op = self.model.begin_read({"raw": "block", "car": "car"}.get(fmt, "cat"), root)
        try:
            response = await self._serve(request, fmt, root, names, op)
        except BaseException as e:
            op.close(e)
            raise
        if isinstance(response, StreamingResponse):  # its body ends the read (_ending)
            return response
        await op.settle()
        op.close()
        return response

    async def _serve(self, request: Request, fmt: str, root: CID, names: list[str], op: ReadOp) -> Response:
        try:
            r = await self._resolve(request, root, names, op)
        except NotFound:
            if "only-if-cached" in request.headers.get("cache-control", ""):
                raise NotCached("not in this node's repo") from None  # the spec's probe answer
            raise
        common = {"X-Ipfs-Path": request.url.path, "X-Ipfs-Roots": ",".join(str(c) for c in r.chain),
                  "Cache-Control": IMMUTABLE, "Vary": "Accept"}
        if fmt == "raw":
            return await self._raw(request, r, common, op)
        if fmt == "car":
            return await self._car(request, r, common, op)
        st = await self.model.stat(r.cid, op)
        if st.type == "directory":
            return await self._directory(request, r, common, op)
        return await self._file(request, r, common, st.size, op)

    def _not_modified(self, request: Request, etag: str, common: dict[str, str]) -> Response | None:
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={**common, "ETag": etag})
        return None

    async def _raw(self, request: Request, r: Resolved, common: dict[str, str], op: ReadOp) -> Response:
        etag = f'"{r.cid}.raw"'
        if (nm := self._not_modified(request, etag, common)) is not None:
            return nm
        data = await self.model.block_get(r.cid, op)
        headers = {**common, "ETag": etag, "X-Content-Type-Options": "nosniff",
                   "Content-Disposition": f'attachment; filename="{r.cid}.bin"',
                   "Content-Length": str(len(data))}
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers, media_type=RAW_TYPE)
        return Response(data, headers=headers, media_type=RAW_TYPE)

    async def _car(self, request: Request, r: Resolved, common: dict[str, str], op: ReadOp) -> Response:
        scope = request.query_params.get("dag-scope", "all")
        if scope not in ("all", "entity", "block"):
            raise InvalidArgument(f"invalid dag-scope {scope!r}: all, entity or block")
        if request.query_params.get("car-version", "1") != "1":
            raise InvalidArgument("only CAR version 1 is supported")
        etag = f'W/"{r.root}.car.{scope}{request.url.path[len("/ipfs/" + str(r.root)):]}"'
        if (nm := self._not_modified(request, etag, common)) is not None:
            return nm
        headers = {**common, "ETag": etag, "X-Content-Type-Options": "nosniff",
                   "Content-Disposition": f'attachment; filename="{r.cid}.car"'}
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers, media_type=CAR_CONTENT_TYPE)
        if scope == "entity":
            st = await self.model.stat(r.cid, op)
            scope = "block" if st.type == "directory" else "all"
        body = await first_then(self._car_stream(r, scope, op))
        return StreamingResponse(_ending(body, op), headers=headers, media_type=CAR_CONTENT_TYPE)

    def _car_blocks(self, r: Resolved, scope: str, store: Any) -> Iterator[tuple[CID, bytes]]:
        """Blocks to verify the path (root first), then the terminal DAG, each once."""
        seen: set[bytes] = set()
        for c in r.chain[:-1]:
            if c.multihash not in seen:
                seen.add(c.multihash)
                yield c, store.get(c)
        if scope == "block":
            blocks: Iterator[tuple[CID, bytes]] = iter([(r.cid, store.get(r.cid))])
        else:
            blocks = self.model.car_blocks(r.cid, store)
        for c, data in blocks:
            if c.multihash not in seen:
                seen.add(c.multihash)
                yield c, data

    async def _car_stream(self, r: Resolved, scope: str, op: ReadOp) -> AsyncIterator[bytes]:
        blocks = self._car_blocks(r, scope, op.fetching_store)  # blocks stream out as they arrive
        async for data in stream_in_thread(write_car([r.root], blocks), executor=self.model._readers, flush=op):
            yield data

    async def _directory(self, request: Request, r: Resolved, common: dict[str, str], op: ReadOp) -> Response:
        if not request.url.path.endswith("/"):
            url = request.url.path + "/" + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(url, status_code=301, headers=common)
        entries = await self.model.ls(r.cid, op)
        index = next((e for e in entries if e.name == "index.html" and e.type == 2), None)
        if index is not None:
            st = await self.model.stat(index.cid, op)
            resolved = Resolved(r.root, index.cid, [*r.chain, index.cid], request.url.path + "index.html")
            return await self._file(request, resolved, common, st.size, op, name="index.html")
        etag = f'"DirIndex-ipfs-kit-{__version__}_CID-{r.cid}"'
        if (nm := self._not_modified(request, etag, common)) is not None:
            return nm
        page = listing_html(request.url.path, str(r.root),
                            [(e.name, str(e.cid), e.size, e.type in (1, 5)) for e in entries],
                            console_url=_console_url(request)).encode()
        headers = {**common, "ETag": etag, "Content-Length": str(len(page))}
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers, media_type="text/html; charset=utf-8")
        return Response(page, headers=headers, media_type="text/html; charset=utf-8")

    async def _file(self, request: Request, r: Resolved, common: dict[str, str], size: int, op: ReadOp,
                    name: str | None = None) -> Response:
        etag = f'"{r.cid}"'
        if (nm := self._not_modified(request, etag, common)) is not None:
            return nm
        name = name or (r.url_path.rstrip("/").rsplit("/", 1)[-1] if len(r.chain) > 1 else None)
        headers = {**common, "ETag": etag, "Accept-Ranges": "bytes"}
        if filename := request.query_params.get("filename"):
            disp = "attachment" if request.query_params.get("download") == "true" else "inline"
            headers["Content-Disposition"] = f"{disp}; filename*=UTF-8''{quote(filename)}"
        try:
            rng = parse_range(request.headers.get("range"), size)
        except RangeNotSatisfiable as e:
            return PlainTextResponse(f"{e}\n", status_code=416,
                                     headers={**headers, "Content-Range": f"bytes */{size}"})
        status, offset, length = 200, 0, size
        if rng is not None:
            status, offset, length = 206, rng[0], rng[1] - rng[0] + 1
            headers["Content-Range"] = f"bytes {rng[0]}-{rng[1]}/{size}"
        headers["Content-Length"] = str(length)
        # the body's first block is fetched while the first leaf is read for type sniffing
        # (the same block when the body starts at 0). model.cat descends straight to the
        # leaf holding ``offset`` (UnixFS blocksizes): a seek costs O(depth) block reads.
        # A missing first block raises here: a status, not a cut body.
        body = None if request.method == "HEAD" else asyncio.ensure_future(
            first_then(self.model.cat(r.cid, offset, length, op=op)))
        try:
            reader = await self.model.in_reader(self.model.open, r.cid, op)
            reader.read_ahead = 0  # only the first block, to sniff the type
            head = await self.model.in_reader(reader.read, SNIFF_BYTES)
            if name is None:  # a bare CID: the name it was added under gives the extension
                name = (await self.model.metadata_get(r.cid)).name
            ctype = sniff(head, name)
            if body is None:
                return Response(status_code=status, headers=headers, media_type=ctype)
            stream = await body
        except BaseException:
            if body is not None:
                body.cancel()
                body.add_done_callback(lambda t: t.cancelled() or t.exception())  # its error is not the news
            raise
        return StreamingResponse(_ending(stream, op), status_code=status, headers=headers, media_type=ctype)


async def _ending(body: AsyncIterator[bytes], op: ReadOp) -> AsyncIterator[bytes]:
    """The body of a response, then the end of its read operation (with the outcome)."""
    try:
        async for chunk in body:
            yield chunk
        await op.settle()
    except BaseException as e:
        op.close(e)
        raise
    op.close()


def _console_url(request: Request) -> str:
    """The console's address: "/" on the API's port; on a gateway-only listener, the API's."""
    policy = getattr(request.app.state, "access_policy", None)
    api_port = getattr(policy, "api_port", None)
    if api_port is None or request.url.port in (None, api_port):
        return "/"
    host = request.url.hostname or "127.0.0.1"
    return f"{request.url.scheme}://{f'[{host}]' if ':' in host else host}:{api_port}/"


def register(app: FastAPI, node: Node) -> None:
    Gateway(node).register(app)
