"""``/routing/v1``: the Delegated Routing V1 HTTP API, served beside the gateway.

``GET /routing/v1/providers/{cid}`` and ``GET /routing/v1/peers/{peer-id}``
answer with ``peer`` records from :class:`~ipfs_kit_py.routing.api.RoutingAPI`;
JSON by default, NDJSON (streamed) for ``Accept: application/x-ndjson``;
``filter-addrs`` / ``filter-protocols`` (IPIP-484); 200 with an empty list when
nothing is found (IPIP-513); CORS for every origin. It is public like the
gateway: it reads routing data and changes nothing on the node. The protocol
rules live in :mod:`ipfs_kit_py.routing.delegated`; this module is the glue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from ..content.cid import CID
from ..errors import IPFSKitError
from ..node import Node
from . import delegated as d
from .api import routing_api

log = logging.getLogger(__name__)

PREFIX = "/routing/v1"


def _text(status: int, message: str) -> Response:
    return PlainTextResponse(message[:1024] + "\n", status_code=status, headers=d.CORS_HEADERS)


async def _filtered(records: AsyncIterator[dict[str, Any]], addr_f: list[str],
                    proto_f: list[str]) -> AsyncIterator[dict[str, Any]]:
    async for rec in records:
        kept = d.apply_filters(rec, addr_f, proto_f)
        if kept is not None:
            yield kept


async def _answer(request: Request, key: str, records: AsyncIterator[dict[str, Any]]) -> Response:
    """One JSON document ``{key: [...]}`` (at most JSON_RECORDS_LIMIT) or an NDJSON stream."""
    q = request.query_params
    records = _filtered(records, d.parse_filter(q.get("filter-addrs")), d.parse_filter(q.get("filter-protocols")))
    media = d.negotiate(request.headers.getlist("accept"))
    if media == d.JSON:
        out = []
        async for rec in records:
            out.append(rec)
            if len(out) >= d.JSON_RECORDS_LIMIT:
                break
        await records.aclose()
        body = json.dumps({key: out}, separators=(",", ":")).encode()
        return Response(body, status_code=200, headers=d.response_headers(d.JSON, bool(out)))
    try:
        first = await records.__anext__()
    except StopAsyncIteration:
        first = None

    async def lines() -> AsyncIterator[bytes]:
        if first is None:
            return
        yield json.dumps(first, separators=(",", ":")).encode() + b"\n"
        try:
            async for rec in records:
                yield json.dumps(rec, separators=(",", ":")).encode() + b"\n"
        except Exception:  # noqa: BLE001 - headers are gone: end the stream, as boxo does
            log.warning("routing/v1 stream ended by an error", exc_info=True)

    headers = d.response_headers(d.NDJSON, first is not None)
    return StreamingResponse(lines(), status_code=200, headers=headers, media_type=d.NDJSON)


def register(app: FastAPI, node: Node) -> None:
    limit = d.STREAM_RECORDS_LIMIT

    @app.api_route(PREFIX + "/providers/{cid}", methods=["GET", "HEAD"], tags=["routing"],
                   summary="Delegated routing: providers of a CID (JSON, or NDJSON with Accept: application/x-ndjson)")
    async def providers(request: Request, cid: str) -> Response:
        try:
            root = CID.decode(cid)
            d.negotiate(request.headers.getlist("accept"))
            return await _answer(request, "Providers", routing_api(node).find_providers(root, limit))
        except IPFSKitError as e:
            return _text(e.status if e.status < 500 else 500, f"FindProviders: {e}")
        except ValueError as e:
            return _text(400, f"FindProviders: {e}")
        except Exception as e:  # noqa: BLE001
            log.exception("routing/v1 providers failed")
            return _text(500, f"FindProviders: delegate error: {e}")

    @app.api_route(PREFIX + "/peers/{peer_id}", methods=["GET", "HEAD"], tags=["routing"],
                   summary="Delegated routing: addresses of a peer (JSON, or NDJSON with Accept: application/x-ndjson)")
    async def peers(request: Request, peer_id: str) -> Response:
        async def found(pid: str) -> AsyncIterator[dict[str, Any]]:
            rec = await routing_api(node).find_peer(pid)
            if rec is not None:
                yield rec

        try:
            pid = d.parse_peer_id(peer_id)
            d.negotiate(request.headers.getlist("accept"))
            return await _answer(request, "Peers", found(pid))
        except IPFSKitError as e:
            return _text(e.status if e.status < 500 else 500, f"FindPeers: {e}")
        except ValueError as e:
            return _text(400, f"FindPeers: {e}")
        except Exception as e:  # noqa: BLE001
            log.exception("routing/v1 peers failed")
            return _text(500, f"FindPeers: delegate error: {e}")

    @app.options(PREFIX + "/{rest:path}", include_in_schema=False)
    async def preflight(rest: str) -> Response:
        return Response(status_code=204, headers={**d.CORS_HEADERS, "Access-Control-Max-Age": "86400"})

    @app.api_route(PREFIX + "/{rest:path}", methods=["GET", "HEAD", "PUT", "POST", "DELETE"], include_in_schema=False)
    async def other(request: Request, rest: str) -> Response:
        first = rest.split("/", 1)[0]
        if first in ("providers", "peers") and request.method in ("GET", "HEAD"):
            # a key with a "/" in it: not a CID or a peer ID
            return _text(400, f"invalid {'CID' if first == 'providers' else 'peer ID'} {rest.split('/', 1)[-1]!r}")
        if first in ("ipns", "dht", "providers", "peers"):
            # a path of the spec this node does not serve (IPNS, the optional DHT API, or a
            # method other than GET): 501, as the spec asks
            return _text(501, f"{request.method} {PREFIX}/{rest} is not implemented by this node")
        return JSONResponse({"Message": f"unknown path {PREFIX}/{rest}"}, status_code=400, headers=d.CORS_HEADERS)
