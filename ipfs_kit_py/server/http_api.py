"""Kubo-compatible RPC API under ``/api/v0``, generated from the operation registry.

Every operation with a Kubo mapping (``registry.Kubo``) gets one route: POST
only, Kubo's path, query options and response shapes, so the maintained Kubo
clients (npm ``kubo-rpc-client``, ...) work unchanged. This module only adapts:
it reads the query by Kubo's rules (``Args``: a bad boolean such as
``?pin=maybe`` or a bad integer is a 400 on every route), turns multipart
uploads into the registry's ``Upload`` as they arrive (``multipart.py``), fills
in the caller, calls the registry (which authorizes), and writes the typed
result as Kubo's JSON, NDJSON or byte stream. Errors are Kubo's
``{"Message","Code","Type"}`` with the status of the typed error
(``errors.py``). The wire format is documented in ``docs/protocols.md (HTTP)``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .. import access, registry
from ..errors import InvalidArgument, LimitExceeded, MalformedMultipart, UploadTimeout
from ..node import Node
from ..registry import NDJSON, Bytes, Operation, Upload, UploadEntry
from .multipart import iter_events, part_data
from .rpc_wire import Args, error_response, first_then, ndjson_response
from .uploads import UploadLimits, bounded

API = "/api/v0"
MAX_JSON_BODY = 1 << 20  # bytes of a JSON request body (metadata/set)

__all__ = ["API", "KuboRPC", "UploadTimeout", "register"]


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


_SCHEMA_TYPES = {str: "string", int: "integer", bool: "boolean"}


async def _method_not_allowed(request: Request) -> Response:
    # Kubo refuses GET on the RPC API (CSRF protection): 405 with its error shape
    return JSONResponse({"Message": f"{request.method} not allowed: use POST", "Code": 0, "Type": "error"},
                        status_code=405, headers={"Allow": "POST"})


class KuboRPC:
    """The ``/api/v0`` routes of one node, one per registry operation with a Kubo mapping."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.model = node.model

    def register(self, app: FastAPI) -> None:
        for op in registry.OPERATIONS.values():
            if op.kubo is not None:
                self.route(app, op)

    def route(self, app: FastAPI, op: Operation[Any, Any]) -> None:
        kubo = op.kubo
        assert kubo is not None

        async def endpoint(request: Request) -> Response:
            try:  # Origin, Host, token and the route's scope were checked by the access guard (guard.py)
                return await self.run(op, request, Args(request.query_params))
            except Exception as e:  # noqa: BLE001 - every error gets Kubo's shape and its status
                return error_response(e)

        extra: dict[str, Any] = {"parameters": [o.schema() for o in self.options(op)]}
        if kubo.body == "files":
            extra["requestBody"] = {"content": {"multipart/form-data": {"schema": {"type": "object"}}},
                                    "description": "multipart parts: filename = URL-encoded path; "
                                                   "application/x-directory for directories"}
        elif kubo.body == "json":
            extra["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        tag = "ipfs-kit extras" if kubo.path.startswith(("ipfs-kit/", "libp2p/")) else "Kubo RPC"
        for path in kubo.paths:  # the path, then its aliases (Kubo's legacy dht/*)
            endpoint.__name__ = "api_" + path.replace("/", "_").replace("-", "_")
            alias = f"; alias of `{kubo.path}`" if path != kubo.path else ""
            app.add_api_route(f"{API}/{path}", endpoint, methods=["POST"], summary=op.summary, tags=[tag],
                              openapi_extra=extra,
                              description=f"registry operation `{op.name}` ({op.scope.value}){alias}")
            app.add_api_route(f"{API}/{path}", _method_not_allowed, methods=["GET", "PUT", "DELETE", "PATCH"],
                              include_in_schema=False)

    @staticmethod
    def options(op: Operation[Any, Any]) -> list[Opt]:
        kubo = op.kubo
        assert kubo is not None
        out = []
        for p in op.param_specs:
            if p.kind in (Upload, bytes, dict):
                continue
            if p.kubo == "arg":
                out.append(Opt("arg", description=kubo.arg_doc, repeated=kubo.each_arg or kubo.run is not None))
            else:
                out.append(Opt(p.kubo, _SCHEMA_TYPES.get(p.kind, "string"), p.doc))
        out += [Opt(name, type_, doc) for name, type_, doc in kubo.options]
        return out

    # -- one call ------------------------------------------------------------------------------
    async def run(self, op: Operation[Any, Any], request: Request, a: Args) -> Response:
        kubo = op.kubo
        assert kubo is not None
        caller = access.caller_of(request.scope)  # the guard's (no scope at all without it)
        upload = self._upload_entries(request) if kubo.body == "files" else None
        body = (lambda: self._json_body(request)) if kubo.body == "json" else None
        return await self.respond(await registry.kubo_call(op, self.node, caller, a, upload, body))

    async def respond(self, shaped: Any) -> Response:
        if isinstance(shaped, Response):
            return shaped
        if isinstance(shaped, NDJSON):
            return await ndjson_response(shaped.lines)
        if isinstance(shaped, Bytes):
            if not shaped.streamed:
                return Response(b"".join([c async for c in shaped.chunks]), media_type=shaped.media_type)
            body = await first_then(shaped.chunks)
            return StreamingResponse(body, media_type=shaped.media_type, headers={"X-Stream-Output": "1"})
        return JSONResponse(shaped)

    # -- request bodies ------------------------------------------------------------------------
    def _upload(self, request: Request) -> AsyncIterator[bytes]:
        """The request body as it arrives, within the server's upload limits (size,
        idle time, total time: see uploads.py), so a slow or stalled upload cannot hold
        the GC guard (or a connection) forever. A declared length over the limit is
        refused before anything is read."""
        limits = UploadLimits.of(self.node.settings.server)
        limits.check_declared(request.headers.get("content-length"))
        return bounded(request.stream().__aiter__(), limits)

    def _upload_entries(self, request: Request) -> Upload:
        """The multipart parts as the registry's Upload: each part's bytes stream as they arrive."""

        async def entries() -> AsyncIterator[UploadEntry]:
            events = iter_events(self._upload(request), request.headers.get("content-type"))
            async for ev in events:
                if ev.kind != "begin":
                    raise MalformedMultipart("part data outside a part")
                part = ev.part
                kind = "directory" if part.is_directory else "symlink" if part.is_symlink else "file"
                yield UploadEntry(kind, part.filename, part_data(events))

        return Upload(entries())

    async def _json_body(self, request: Request) -> Any:
        raw = bytearray()
        async for chunk in self._upload(request):
            raw += chunk
            if len(raw) > MAX_JSON_BODY:
                raise LimitExceeded("the JSON body exceeds 1 MiB")
        try:
            return json.loads(bytes(raw) or b"{}")
        except ValueError as e:
            raise InvalidArgument(f"body is not valid JSON: {e}") from None


def register(app: FastAPI, node: Node) -> None:
    KuboRPC(node).register(app)
