"""Kubo RPC routing verbs over :class:`~ipfs_kit_py.routing.api.RoutingAPI`.

``/api/v0/routing/{findprovs,findpeer,provide,get,put,reprovide}``, the legacy
``/api/v0/dht/*`` aliases of the first five (Kubo 0.22's names), and
``/api/v0/provide/stat``. The answers are Kubo's: a stream of ``QueryEvent``
objects (``{"Extra","ID","Responses","Type"}``, one per line, with Kubo's
``X-Chunked-Output`` header), and the legacy provider's stat object. Event types
(go-libp2p ``routing.QueryEventType``): 2 FinalPeer, 3 QueryError, 4 Provider,
5 Value. Errors found before the first event get Kubo's error shape and status.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..errors import InvalidArgument
from ..node import Node
from ..server.multipart import iter_events, part_data
from ..server.rpc_wire import Args, error_response, ndjson_response
from .api import RoutingAPI, routing_api
from .delegated import parse_peer_id

FINAL_PEER, QUERY_ERROR, PROVIDER, VALUE = 2, 3, 4, 5
MAX_VALUE = 10 * 1024  # bytes: the IPNS record limit (and far above a public key)

Handler = Callable[[Request, Args, RoutingAPI], Awaitable[Response]]


def event(type_: int, *, id_: str = "", responses: list[dict[str, Any]] | None = None, extra: str = "") -> dict[str, Any]:
    return {"Extra": extra, "ID": id_, "Responses": responses, "Type": type_}


def addr_info(record: dict[str, Any]) -> dict[str, Any]:
    """A routing record as the ``peer.AddrInfo`` Kubo puts in ``Responses``."""
    return {"ID": record["ID"], "Addrs": list(record.get("Addrs") or [])}


# -- the verbs (plain functions of the API; the registry can wrap them too) ---------------------
async def findprovs_events(api: RoutingAPI, cid: str, num: int) -> AsyncIterator[dict[str, Any]]:
    async for rec in api.find_providers(cid, num):
        yield event(PROVIDER, responses=[addr_info(rec)])


async def findpeer_events(api: RoutingAPI, peer_id: str) -> AsyncIterator[dict[str, Any]]:
    pid = parse_peer_id(peer_id)
    svc = api.service
    if svc is not None and pid == svc.get_id():
        raise InvalidArgument("finding your own node in the DHT is currently not supported")
    rec = await api.find_peer(pid)
    if rec is None:
        raise InvalidArgument("routing: not found")
    yield event(FINAL_PEER, responses=[addr_info(rec)])


async def provide_events(api: RoutingAPI, cids: list[str], recursive: bool) -> AsyncIterator[dict[str, Any]]:
    await api.check_provide(cids)  # errors before the stream starts
    async for result in api.provide(cids, recursive=recursive):
        for peer in result.peers:  # Kubo's -v: "sending provider record to peer X"
            yield event(FINAL_PEER, id_=peer)
        if result.error:
            yield event(QUERY_ERROR, extra=f"{result.cid}: {result.error}")


def register(app: FastAPI, node: Node) -> None:
    def route(paths: list[str], summary: str) -> Callable[[Handler], Handler]:
        def wrap(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                try:
                    return await handler(request, Args(request.query_params), routing_api(node))
                except Exception as e:  # noqa: BLE001 - Kubo's error shape and the error's status
                    return error_response(e)

            for path in paths:
                endpoint.__name__ = handler.__name__ + path.replace("/", "_")
                app.post(path, tags=["routing"], summary=summary)(endpoint)
            return handler

        return wrap

    def both(verb: str) -> list[str]:
        return [f"/api/v0/routing/{verb}", f"/api/v0/dht/{verb}"]

    @route(both("findprovs"), "Find providers of a CID: arg=<cid>[&num-providers=20]; QueryEvent stream (Type 4)")
    async def findprovs(request: Request, a: Args, api: RoutingAPI) -> Response:
        num = a.int("num-providers", "n", default=20, minimum=None)
        if num is None or num < 1:
            raise InvalidArgument("number of providers must be greater than 0")
        return await ndjson_response(findprovs_events(api, a.arg("key"), num))

    @route(both("findpeer"), "Addresses of a peer: arg=<peer ID>; QueryEvent stream (Type 2)")
    async def findpeer(request: Request, a: Args, api: RoutingAPI) -> Response:
        return await ndjson_response(findpeer_events(api, a.arg("peerID")))

    @route(both("provide"), "Announce CIDs held here: arg=<cid>...[&recursive=true]; QueryEvent stream "
                            "(Type 2 per peer that took a record, Type 3 per CID nobody took)")
    async def provide(request: Request, a: Args, api: RoutingAPI) -> Response:
        cids = [c.strip() for c in a.args() if c.strip()]
        return await ndjson_response(provide_events(api, cids, bool(a.bool("recursive", "r"))))

    @route(both("get"), "The value of a DHT key: arg=/pk/<peer ID> or /ipns/<peer ID>; Type 5, Extra base64")
    async def get(request: Request, a: Args, api: RoutingAPI) -> Response:
        value = await api.get_value(a.arg("key"))
        return await ndjson_response(_one(event(VALUE, extra=base64.b64encode(value).decode())))

    @route(both("put"), "Store a value under a DHT key: arg=/pk/<id> or /ipns/<id>, body: multipart value-file")
    async def put(request: Request, a: Args, api: RoutingAPI) -> Response:
        key = a.arg("key")
        value = await _read_value(request)
        await api.put_value(key, value)
        return await ndjson_response(_one(event(VALUE, id_=parse_peer_id(key.rsplit("/", 1)[-1]))))

    @route(["/api/v0/routing/reprovide"], "Run the reprovider now and wait for the run to finish")
    async def reprovide(request: Request, a: Args, api: RoutingAPI) -> Response:
        reprovider = getattr(api.service, "reprovider", None)
        if reprovider is None:
            api.provide_stat()  # raises the reason
        await reprovider.run_once()
        return Response(b"", status_code=200)

    @route(["/api/v0/provide/stat", "/api/v0/stats/provide"], "The reprovider's state (Kubo's legacy shape + ours)")
    async def provide_stat(request: Request, a: Args, api: RoutingAPI) -> Response:
        return JSONResponse(api.provide_stat())


async def _one(obj: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    yield obj


async def _read_value(request: Request) -> bytes:
    """The first multipart part of the body (Kubo's ``value-file``), bounded."""
    events = iter_events(request.stream(), request.headers.get("content-type"))
    async for ev in events:
        if ev.kind != "begin":
            break
        buf = bytearray()
        async for data in part_data(events):
            buf += data
            if len(buf) > MAX_VALUE:
                raise InvalidArgument(f"value too large: the limit is {MAX_VALUE} bytes")
        return bytes(buf)
    raise InvalidArgument('argument "value-file" is required (a multipart part)')
