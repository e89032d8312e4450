"""``/routing/v1``: the Delegated Routing V1 HTTP API, served beside the gateway.

``GET /routing/v1/providers/{cid}`` and ``GET /routing/v1/peers/{peer-id}``
answer with ``peer`` records from :class:`~ipfs_kit_py.routing.api.RoutingAPI`;
JSON by default, NDJSON (streamed) for ``Accept: application/x-ndjson``;
``filter-addrs`` / ``filter-protocols`` (IPIP-484); 200 with an empty list when
nothing is found (IPIP-513); CORS for every origin. It is public like the
gateway: it reads routing data and changes nothing on the node. The protocol
rules live in :mod:`ipfs_kit_py.routing.delegated`; this module is the glue.

``GET /routing/v1/ipns/{name}`` answers the best valid signed record of the name
(``application/vnd.ipfs.ipns-record``: our own, the cache, the DHT; 404 when none)
and ``PUT`` stores one (verified against the name first, then kept and put on the
DHT), as IPIP-379 says: the records authenticate themselves, so the API stays public.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from ..content.cid import CID
from ..errors import IPFSKitError
from ..node import Node
from ..server.routes import get_and_head
from . import delegated as d
from .api import routing_api

log = logging.getLogger(__name__)

PREFIX = "/routing/v1"
IPNS_RECORD = "application/vnd.ipfs.ipns-record"


def _text(status: int, message: str) -> Response:
    return PlainTextResponse(message[:1024] + "\n", status_code=status, headers=d.CORS_HEADERS)


async def _filtered(records: AsyncIterator[dict[str, Any]], addr_f: list[str],
                    proto_f: list[str]) -> AsyncGenerator[dict[str, Any], None]:
    async for rec in records:
        kept = d.apply_filters(rec, addr_f, proto_f)
        if kept is not None:
            yield kept


async def _answer(request: Request, key: str, records: AsyncIterator[dict[str, Any]]) -> Response:
    """One JSON document ``{key: [...]}`` (at most JSON_RECORDS_LIMIT) or an NDJSON stream."""
    q = request.query_params
    kept = _filtered(records, d.parse_filter(q.get("filter-addrs")), d.parse_filter(q.get("filter-protocols")))
    media = d.negotiate(request.headers.getlist("accept"))
    if media == d.JSON:
        out = []
        async for rec in kept:
            out.append(rec)
            if len(out) >= d.JSON_RECORDS_LIMIT:
                break
        await kept.aclose()
        body = json.dumps({key: out}, separators=(",", ":")).encode()
        return Response(body, status_code=200, headers=d.response_headers(d.JSON, bool(out)))
    try:
        first = await kept.__anext__()
    except StopAsyncIteration:
        first = None

    async def lines() -> AsyncIterator[bytes]:
        if first is None:
            return
        yield json.dumps(first, separators=(",", ":")).encode() + b"\n"
        try:
            async for rec in kept:
                yield json.dumps(rec, separators=(",", ":")).encode() + b"\n"
        except Exception:  # noqa: BLE001 - headers are gone: end the stream, as boxo does
            log.warning("routing/v1 stream ended by an error", exc_info=True)

    headers = d.response_headers(d.NDJSON, first is not None)
    return StreamingResponse(lines(), status_code=200, headers=headers, media_type=d.NDJSON)


def register(app: FastAPI, node: Node) -> None:
    limit = d.STREAM_RECORDS_LIMIT

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

    get_and_head(app, PREFIX + "/providers/{cid}", providers, tags=["routing"],
                 summary="Delegated routing: providers of a CID (JSON, or NDJSON with Accept: application/x-ndjson)")

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

    get_and_head(app, PREFIX + "/peers/{peer_id}", peers, tags=["routing"],
                 summary="Delegated routing: addresses of a peer (JSON, or NDJSON with Accept: application/x-ndjson)")

    async def ipns_get(request: Request, name: str) -> Response:
        from ..ipns.names import name_id
        from ..ipns.service import names_of

        try:
            best = await names_of(node).best_record(name_id(name))
        except IPFSKitError as e:
            return _text(e.status if e.status < 500 else 500, f"GetIPNS: {e}")
        except Exception as e:  # noqa: BLE001
            log.exception("routing/v1 ipns failed")
            return _text(500, f"GetIPNS: delegate error: {e}")
        ttl = max(0, int(best.ttl_seconds))
        headers = {**d.CORS_HEADERS, "Cache-Control": f"public, max-age={ttl}", "Vary": "Accept",
                   "Etag": f'"{hashlib.sha256(best.raw).hexdigest()[:32]}"',
                   "Last-Modified": email.utils.formatdate(usegmt=True)}
        return Response(best.raw if request.method == "GET" else b"", media_type=IPNS_RECORD, headers=headers)

    get_and_head(app, PREFIX + "/ipns/{name}", ipns_get, tags=["routing"],
                 summary="Delegated routing: the signed IPNS record of a name (application/vnd.ipfs.ipns-record)")

    @app.put(PREFIX + "/ipns/{name}", tags=["routing"],
             summary="Delegated routing: store a signed IPNS record (body: application/vnd.ipfs.ipns-record)")
    async def ipns_put(request: Request, name: str) -> Response:
        from ..ipns.record import MAX_RECORD_SIZE
        from ..ipns.service import names_of

        if request.headers.get("content-type", "").split(";")[0].strip() != IPNS_RECORD:
            return _text(400, f"PutIPNS: the body must be {IPNS_RECORD}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_RECORD_SIZE:
                return _text(413, f"PutIPNS: a record is at most {MAX_RECORD_SIZE} bytes")
        try:
            await names_of(node).put_record(name, bytes(body), allow_offline=True)
        except IPFSKitError as e:
            return _text(e.status if e.status < 500 else 500, f"PutIPNS: {e}")
        except Exception as e:  # noqa: BLE001
            log.exception("routing/v1 ipns put failed")
            return _text(500, f"PutIPNS: delegate error: {e}")
        return Response(b"", status_code=200, headers=d.CORS_HEADERS)

    @app.options(PREFIX + "/{rest:path}", include_in_schema=False)
    async def preflight(rest: str) -> Response:
        return Response(status_code=204, headers={**d.CORS_HEADERS, "Access-Control-Max-Age": "86400"})

    @app.api_route(PREFIX + "/{rest:path}", methods=["GET", "HEAD", "PUT", "POST", "DELETE"], include_in_schema=False)
    async def other(request: Request, rest: str) -> Response:
        first = rest.split("/", 1)[0]
        if first in ("providers", "peers") and request.method in ("GET", "HEAD"):
            # a key with a "/" in it: not a CID or a peer ID
            return _text(400, f"invalid {'CID' if first == 'providers' else 'peer ID'} {rest.split('/', 1)[-1]!r}")
        if first == "ipns" and request.method in ("GET", "HEAD", "PUT"):
            return _text(400, f"invalid IPNS name {rest.split('/', 1)[-1]!r}")
        if first in ("ipns", "dht", "providers", "peers"):
            # a path of the spec this node does not serve (the optional DHT API, or a
            # method other than GET): 501, as the spec asks
            return _text(501, f"{request.method} {PREFIX}/{rest} is not implemented by this node")
        return JSONResponse({"Message": f"unknown path {PREFIX}/{rest}"}, status_code=400, headers=d.CORS_HEADERS)
