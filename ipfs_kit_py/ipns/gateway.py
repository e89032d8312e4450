"""``/ipns/{name}[/path]`` on the gateway: resolve the name, then serve the content as
``/ipfs/`` does (every format and header of ``server/gateway.py``); with
``?format=ipns-record`` (or ``Accept: application/vnd.ipfs.ipns-record``) the
signed record itself, as the trustless gateway spec says, for the client to verify."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from ..errors import InvalidArgument, IPFSKitError, public_message
from ..server.gateway import Gateway
from ..server.routes import get_and_head
from .names import name_id, split_name_path
from .service import names_of

log = logging.getLogger(__name__)
RECORD_TYPE = "application/vnd.ipfs.ipns-record"


def register(app: FastAPI, node: object) -> None:
    gateway = Gateway(node)  # type: ignore[arg-type]

    async def ipns(request: Request, rest: str) -> Response:
        try:
            name, sub = split_name_path(rest)
            fmt = request.query_params.get("format")
            if fmt == "ipns-record" or (not fmt and RECORD_TYPE in request.headers.get("accept", "")):
                if sub.strip("/"):
                    raise InvalidArgument("?format=ipns-record takes a name without a path")
                best = await names_of(node).best_record(name_id(name))
                ttl = max(0, int(best.ttl_seconds))
                return Response(best.raw if request.method == "GET" else b"", media_type=RECORD_TYPE, headers={
                    "Cache-Control": f"public, max-age={ttl}", "X-Content-Type-Options": "nosniff",
                    "Content-Disposition": f'attachment; filename="{name}.ipns-record"'})
            path = await names_of(node).resolve("/ipns/" + rest.split("?", 1)[0])
            if not path.startswith("/ipfs/"):
                raise InvalidArgument(f"/ipns/{name} resolves to {path}, which this gateway cannot serve")
        except IPFSKitError as e:
            return PlainTextResponse(f"{e}\n", status_code=e.status)
        except Exception as e:  # noqa: BLE001
            log.exception("ipns gateway error")
            return PlainTextResponse(f"{public_message(e)}\n", status_code=500)
        response = await gateway.handle(request, path[len("/ipfs/"):])
        response.headers["X-Ipfs-Path"] = f"/ipns/{rest}"
        return response

    get_and_head(app, "/ipns/{rest:path}", ipns, tags=["gateway"],
                 summary="IPNS gateway: the named content, or ?format=ipns-record")
