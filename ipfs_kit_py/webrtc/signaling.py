"""WebRTC signaling over WebSocket (``/ws/webrtc`` and ``/webrtc``) and the player page.

Each text message is one JSON object with a ``type``; every request gets
exactly one reply (the reply to a request carrying ``id`` echoes it). Errors
are ``{"type":"error","code":...,"error":...}`` and leave the connection open.
When the WebSocket closes, exactly that client's sessions are closed.
Origin, Host and token are checked at the handshake by the server's access
guard (``server/guard.py``); a handshake without the read scope is refused (403).
``docs/protocols.md (WebRTC)`` documents every message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response

from .. import access
from ..errors import Forbidden, IPFSKitError, public_message
from ..node import Node
from .manager import SignalingError, StreamOptions, WebRTCStreamingManager
from .testpattern import test_pattern_cid

log = logging.getLogger(__name__)

REQUEST_TYPES = ("offer_request", "offer", "answer", "candidate", "close", "stats_request", "quality_change", "ping")


def parse_message(text: str | bytes | None) -> dict[str, Any]:
    """A signaling request from one WebSocket message; raises SignalingError when malformed.
    An unknown ``type`` is refused by :func:`dispatch`, so that its error still echoes the ``id``."""
    if not isinstance(text, str):
        raise SignalingError("malformed", "signaling messages are JSON text, not binary")
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError) as e:  # RecursionError: JSON nested too deeply
        raise SignalingError("malformed", f"invalid JSON: {e}") from None
    if not isinstance(msg, dict):
        raise SignalingError("malformed", "a message must be a JSON object")
    return msg


def error_reply(e: BaseException, msg: dict[str, Any] | None) -> dict[str, Any]:
    code = getattr(e, "code", "error") if isinstance(e, IPFSKitError) else "internal_error"
    reply: dict[str, Any] = {"type": "error", "code": code,
                             "error": public_message(e) if code == "internal_error" else str(e) or code}
    if msg:
        reply["request"] = msg.get("type")
        if "pc_id" in msg:
            reply["pc_id"] = msg["pc_id"]
    return reply


async def dispatch(manager: WebRTCStreamingManager, msg: dict[str, Any], client_id: str, send: Any) -> dict[str, Any]:
    """Run one request; returns the reply."""
    kind = msg.get("type")
    if kind == "offer_request":
        cid = msg.get("cid")
        if msg.get("test_pattern") is True and cid is None:  # the built-in clip: works on an empty node
            cid = await test_pattern_cid(manager.model)
        return await manager.create_offer(cid, StreamOptions.parse(msg), client_id, send)
    if kind == "offer":
        return await manager.answer_offer(msg.get("cid"), msg.get("sdp"), StreamOptions.parse(msg), client_id, send)
    if kind == "answer":
        return await manager.accept_answer(msg.get("pc_id"), msg.get("sdp"), client_id)
    if kind == "candidate":
        await manager.add_candidate(msg.get("pc_id"), msg.get("candidate"), client_id)
        return {"type": "candidate_ack", "pc_id": msg.get("pc_id")}
    if kind == "close":
        manager._session(msg.get("pc_id"), client_id)
        await manager.close_session(msg["pc_id"], "closed by client")
        return {"type": "closed", "pc_id": msg["pc_id"]}
    if kind == "stats_request":
        return await manager.stats(msg.get("pc_id"), client_id)
    if kind == "quality_change":
        return await manager.set_quality(msg.get("pc_id"), str(msg.get("quality")), client_id)
    if kind == "ping":
        return {"type": "pong"}
    raise SignalingError("unknown_type", f"unknown message type {kind!r}; expected one of {list(REQUEST_TYPES)}")


async def handle_websocket(ws: WebSocket, manager: WebRTCStreamingManager, node: Node) -> None:
    try:
        access.authorize(access.caller_of(ws.scope), access.Scope.READ, "WebRTC signaling")
    except Forbidden as e:
        log.info("signaling WebSocket refused: %s", e)
        await ws.close(1008)  # before accept: the handshake is answered 403
        return
    await ws.accept()
    hub = node.services.get("websocket")
    if hub is not None and hasattr(hub, "connection"):
        # join the hub's registry: counted with the other WebSockets, ordered bounded sends
        async with hub.connection(ws, "webrtc") as conn:
            await _serve(ws, manager, conn.id, conn.send)
        return
    lock = asyncio.Lock()

    async def send(message: dict[str, Any]) -> None:
        async with lock:
            await ws.send_text(json.dumps(message))

    await _serve(ws, manager, uuid.uuid4().hex, send)


async def _serve(ws: WebSocket, manager: WebRTCStreamingManager, client_id: str,
                 send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """Read requests until the client goes away, then close exactly its sessions."""
    manager.register_client(client_id, ws.client.host if ws.client else None)
    try:
        while True:
            raw = await ws.receive()
            if raw["type"] == "websocket.disconnect":
                break
            msg: dict[str, Any] | None = None
            try:
                msg = parse_message(raw.get("text"))
                reply = await dispatch(manager, msg, client_id, send)
            except (IPFSKitError, ValueError) as e:
                reply = error_reply(e, msg)
            except Exception as e:  # a bug must not cost the client its connection
                log.exception("webrtc signaling request %r failed", msg and msg.get("type"))
                reply = error_reply(e, msg)
            if msg is not None and "id" in msg:
                reply["id"] = msg["id"]
            await send(reply)
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass
    finally:
        await manager.close_client(client_id)


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static").joinpath(name).read_text()


def register(app: FastAPI, node: Node) -> None:
    manager = WebRTCStreamingManager(node.model, node.settings.webrtc, node.bus)
    node.add_service("webrtc", manager)
    app.state.webrtc = manager

    async def ws_endpoint(websocket: WebSocket) -> None:
        await handle_websocket(websocket, manager, node)

    app.add_api_websocket_route("/ws/webrtc", ws_endpoint)
    app.add_api_websocket_route("/webrtc", ws_endpoint)

    @app.get("/webrtc/player", response_class=HTMLResponse, tags=["webrtc"])
    async def player(cid: str = "") -> HTMLResponse:
        """A page that plays ``cid`` over WebRTC (signaling on ``/ws/webrtc``)."""
        return HTMLResponse(_static("player.html"))

    @app.get("/webrtc/player.js", tags=["webrtc"])
    async def player_js() -> Response:
        return Response(_static("player.js"), media_type="text/javascript")
