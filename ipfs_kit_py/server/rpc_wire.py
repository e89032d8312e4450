"""Kubo's RPC wire conventions: query arguments, the error shape, streamed bodies.

Plain helpers shared by the ``/api/v0`` routes (http_api) and the gateway:
``Args`` reads Kubo-style query options (``?arg=..&arg=..&cid-version=1``),
``error_body`` is Kubo's ``{"Message","Code","Type"}``, and ``first_then``
pulls the first chunk of a stream before any header is sent, so an error that
shows up at once (unknown CID, bad option) still gets its proper HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ..errors import InvalidArgument, IPFSKitError, NotFound, TransferError, public_message

log = logging.getLogger("ipfs_kit_py.http")

# go-ipfs-cmds error codes (cmds.ErrorType)
ERR_NORMAL, ERR_CLIENT, ERR_IMPLEMENTATION, ERR_NOT_FOUND, ERR_FATAL = 0, 1, 2, 3, 4
YIELD_EVERY = 64  # chunks a streamed response sends before it lets the event loop run others

_TRUE = {"", "1", "t", "true", "yes", "on"}  # "" : a bare flag (?recursive) means true
_FALSE = {"0", "f", "false", "no", "off"}


class Args:
    """Kubo-style query options. Unknown options are ignored, as Kubo's clients send
    some (``stream-channels``) that not every command knows."""

    def __init__(self, query: QueryParams | Mapping[str, str] | list[tuple[str, str]]) -> None:
        # a list of pairs keeps repeated options (several ``arg``); a dict would keep one
        self.q = query if isinstance(query, QueryParams) else QueryParams(query)

    def _get(self, names: tuple[str, ...]) -> tuple[str, str] | None:
        for n in names:
            v = self.q.get(n)
            if v is not None:
                return n, v
        return None

    def args(self) -> list[str]:
        return [a for a in self.q.getlist("arg")]

    def arg(self, what: str = "ipfs-path") -> str:
        values = self.args()
        if not values or not values[0].strip():
            raise InvalidArgument(f'argument "{what}" is required')
        return values[0].strip()

    def bool(self, *names: str, default: bool | None = False) -> bool | None:
        found = self._get(names)
        if found is None:
            return default
        name, v = found
        low = v.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise InvalidArgument(f"option {name!r}: {v!r} is not a boolean")

    def int(self, *names: str, default: int | None = None, minimum: int | None = 0) -> int | None:
        found = self._get(names)
        if found is None or found[1] == "":
            return default
        name, v = found
        try:
            n = int(v)
        except ValueError:
            raise InvalidArgument(f"option {name!r}: {v!r} is not an integer") from None
        if minimum is not None and n < minimum:
            raise InvalidArgument(f"option {name!r} must be >= {minimum}")
        return n

    def str(self, *names: str, default: str | None = None) -> str | None:
        found = self._get(names)
        return default if found is None or found[1] == "" else found[1]


def error_code(exc: BaseException) -> int:
    if isinstance(exc, NotFound):
        return ERR_NOT_FOUND
    if isinstance(exc, IPFSKitError) and exc.status < 500:
        return ERR_CLIENT
    return ERR_NORMAL


def error_body(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ClientDisconnect):
        return {"Message": "client disconnected before the request body ended", "Code": ERR_CLIENT, "Type": "error"}
    if isinstance(exc, TransferError):  # with how each channel failed
        return exc.to_dict()
    return {"Message": public_message(exc), "Code": error_code(exc), "Type": "error"}


def error_status(exc: BaseException) -> int:
    if isinstance(exc, ClientDisconnect):
        return 400
    return exc.status if isinstance(exc, IPFSKitError) else 500


def error_response(exc: BaseException) -> JSONResponse:
    if isinstance(exc, ClientDisconnect):
        log.info("client disconnected during its upload")
    elif not isinstance(exc, IPFSKitError):
        log.exception("unexpected error in an API call", exc_info=exc)
    return JSONResponse(error_body(exc), status_code=error_status(exc))


def ndjson_line(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


async def first_then(it: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Pull the first chunk now (errors raise here, before headers); return an
    iterator over all chunks. An empty stream gives an iterator yielding b""."""
    try:
        first = await it.__anext__()
    except StopAsyncIteration:
        first = b""

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for chunk in it:
            yield chunk

    return rest()


class AbortedStream(Exception):
    """Raised inside a body iterator to drop the connection without the final
    chunk, so the client sees an incomplete response, not a short success."""


class StreamedResponse(StreamingResponse):
    """A streamed body that may read the request body while it is being sent.

    Starlette's StreamingResponse listens for a disconnect by calling
    ``receive()`` concurrently, which would steal the upload's chunks from the
    handler (add, dag/import stream their results while reading the upload).
    This response only sends; a disconnect surfaces as ``ClientDisconnect``
    from ``request.stream()``. If the body iterator raises ``AbortedStream``
    (or any error) after the headers went out, the response is left incomplete
    and uvicorn closes the connection.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            sent = 0
            async for chunk in self.body_iterator:
                if not isinstance(chunk, bytes | memoryview):
                    chunk = chunk.encode(self.charset)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += 1
                if sent % YIELD_EVERY == 0:  # send() does not suspend while the socket takes it all:
                    await asyncio.sleep(0)  # 20,000 ready lines would otherwise hold the loop
        except AbortedStream as e:
            log.warning("stream aborted after the response started: %s", e)
            return
        except OSError:
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def ndjson_stream(objects: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """NDJSON lines; an error after the first line becomes Kubo's in-stream error
    object, then the connection is dropped (Kubo would set the X-Stream-Error trailer)."""
    try:
        async for obj in objects:
            yield ndjson_line(obj)
    except Exception as e:  # noqa: BLE001 - every error is reported to the client
        if not isinstance(e, IPFSKitError | ClientDisconnect):
            log.exception("error in a streamed API call")
        yield ndjson_line(error_body(e))
        raise AbortedStream(str(e)) from e


async def ndjson_response(objects: AsyncIterator[dict[str, Any]], headers: dict[str, str] | None = None) -> Response:
    """A streamed NDJSON response whose status reflects errors raised before the first line."""
    try:
        first: dict[str, Any] | None = await objects.__anext__()
    except StopAsyncIteration:
        first = None
    except Exception as e:  # noqa: BLE001 - reported with its status
        return error_response(e)

    async def all_objects() -> AsyncIterator[dict[str, Any]]:
        if first is not None:
            yield first
        async for obj in objects:
            yield obj

    h = {"X-Chunked-Output": "1", "Trailer": "X-Stream-Error", "Cache-Control": "no-cache"}
    h.update(headers or {})
    return StreamedResponse(ndjson_stream(all_objects()), media_type="application/json", headers=h)
