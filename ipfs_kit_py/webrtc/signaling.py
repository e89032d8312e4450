"""WebRTC signaling over WebSocket (``/ws/webrtc`` and ``/webrtc``) and the player page.

Each text message is one JSON object with a ``type``; every request gets
exactly one reply (the reply to a request carrying ``id`` echoes it). Errors
are ``{"type":"error","code":...,"error":...}`` and leave the connection open.
When the WebSocket closes, exactly that client's sessions are closed.
Origin, Host and token are checked at the handshake by the server's access
guard (``server/guard.py``); a handshake without the read scope is refused (403).
Messages are parsed into typed requests at the boundary (``messages.py``);
``docs/protocols.md (WebRTC)`` documents every message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from importlib import resources
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response

from .. import access
from ..errors import Forbidden, IPFSKitError, SignalingError, public_message
from ..node import Node
from . import messages
from .manager import WebRTCStreamingManager
from .messages import REQUEST_TYPES, parse_message
from .session import Send
from .testpattern import test_pattern_cid

__all__ = ["REQUEST_TYPES", "SignalingError", "dispatch", "error_reply", "handle_websocket", "parse_message",
           "register"]

log = logging.getLogger(__name__)

def error_reply(e: BaseException, msg: dict[str, Any] | None) -> dict[str, Any]:
    code = getattr(e, "code", "error") if isinstance(e, IPFSKitError) else "internal_error"
    reply: dict[str, Any] = {"type": "error", "code": code,
                             "error": public_message(e) if code == "internal_error" else str(e) or code}
    if msg:
        reply["request"] = msg.get("type")
        if "pc_id" in msg:
            reply["pc_id"] = msg["pc_id"]
    return reply


async def dispatch(manager: WebRTCStreamingManager, request: messages.Request, client_id: str,
                   send: Send | None) -> dict[str, Any]:
    """Run one typed request; returns the reply."""
    match request:
        case messages.OfferRequest(cid=cid, test_pattern=test_pattern, options=options):
            if test_pattern:  # the built-in clip: works on an empty node
                cid = await test_pattern_cid(manager.model)
            return await manager.create_offer(cid, options, client_id, send)
        case messages.ClientOffer(pc_id=str(pc_id), sdp=sdp, stream=stream):
            return await manager.answer_reoffer(pc_id, sdp, stream, client_id)
        case messages.ClientOffer(cid=cid, sdp=sdp, options=options, test_pattern=test_pattern):
            if test_pattern:
                cid = await test_pattern_cid(manager.model)
            return await manager.answer_offer(cid, sdp, options, client_id, send)
        case messages.AddStream(pc_id=pc_id, stream=stream):
            return await manager.add_stream(pc_id, stream, client_id)
        case messages.RemoveStream(pc_id=pc_id, stream_id=stream_id):
            return await manager.remove_stream(pc_id, stream_id, client_id)
        case messages.StreamControl(pc_id=pc_id, stream_id=stream_id, action=action, position=position):
            return await manager.control_stream(pc_id, stream_id, action, position, client_id)
        case messages.Answer(pc_id=pc_id, sdp=sdp):
            return await manager.accept_answer(pc_id, sdp, client_id)
        case messages.Candidate(pc_id=pc_id, candidate=candidate):
            await manager.add_candidate(pc_id, candidate, client_id)
            return {"type": "candidate_ack", "pc_id": pc_id}
        case messages.Close(pc_id=pc_id):
            manager._session(pc_id, client_id)
            await manager.close_session(pc_id, "closed by client")
            return {"type": "closed", "pc_id": pc_id}
        case messages.StatsRequest(pc_id=pc_id):
            return await manager.stats(pc_id, client_id)
        case messages.QualityChange(pc_id=pc_id, quality=quality):
            return await manager.set_quality(pc_id, quality, client_id)
        case messages.FrameError():
            return manager.viewer_error(request, client_id)
    return {"type": "pong"}


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


async def _serve(ws: WebSocket, manager: WebRTCStreamingManager, client_id: str, send: Send) -> None:
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
                reply = await dispatch(manager, messages.parse_request(msg), client_id, send)
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

    @app.get("/webrtc/sframe-worker.js", tags=["webrtc"])
    async def sframe_worker_js() -> Response:
        """The player's SFrame decryption worker (RTCRtpScriptTransform)."""
        return Response(_static("sframe-worker.js"), media_type="text/javascript")
