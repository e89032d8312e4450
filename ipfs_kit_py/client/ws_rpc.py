"""A client of the WebSocket general channel ``/ws``: the operation set as requests
with ids, answered by ``result`` or ``error`` (raised as the typed exception).

    async with GeneralChannel("http://127.0.0.1:8000") as ws:
        md = await ws.request("metadata_get", cid=cid)
        data = await ws.cat(cid)            # content arrives as binary frames
        await ws.dag_import(car_chunks)     # a CAR sent as binary frames

Wire format: docs/protocols.md (WebSocket).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterable
from typing import Any

import websockets

from .. import errors
from .auth import auth_headers
from .notifications import ws_url

FRAME = 256 * 1024  # bytes per binary frame when sending content


def raise_error(reply: dict[str, Any]) -> None:
    """Turn an ``error`` reply into the exception the server raised (by its code)."""
    code = reply.get("code")
    raise errors.error_for(code if isinstance(code, str) else None, reply.get("message") or code or "error")


class GeneralChannel:
    def __init__(self, url: str, *, open_timeout: float = 10.0, token: str | None = None) -> None:
        self.url = ws_url(url, "/ws")
        self.open_timeout = open_timeout
        self.token = token
        self._ws: Any = None
        self._ids = itertools.count(1)
        self.welcome: dict[str, Any] = {}

    async def __aenter__(self) -> GeneralChannel:
        try:
            self._ws = await websockets.connect(self.url, open_timeout=self.open_timeout, max_size=None,
                                                additional_headers=auth_headers(self.token))
        except (OSError, websockets.WebSocketException) as e:
            raise errors.ChannelUnavailable(f"cannot open {self.url}: {e}") from None
        self.welcome = json.loads(await self._ws.recv())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    async def _reply(self, id_: int) -> tuple[dict[str, Any], list[bytes]]:
        """The reply to request ``id_`` and any binary frames that came before it."""
        frames: list[bytes] = []
        while True:
            msg = await self._ws.recv()
            if isinstance(msg, bytes):
                frames.append(msg)
                continue
            reply = json.loads(msg)
            if reply.get("id") != id_:
                continue  # events or replies meant for someone else on this connection
            if reply.get("type") == "error":
                raise_error(reply)
            if reply.get("type") != "content":  # a cat's header: its frames and result follow
                return reply, frames

    async def request(self, action: str, **params: Any) -> Any:
        """An operation's ``result``; for other actions (``get_history``, ``ping``) the whole reply."""
        id_ = next(self._ids)
        await self._ws.send(json.dumps({"id": id_, "action": action, **params}))
        reply, _ = await self._reply(id_)
        return reply["result"] if reply.get("type") == "result" else reply

    async def cat(self, cid: str) -> bytes:
        """Content up to the server's ``websocket.max_cat_size``, sent as binary frames."""
        id_ = next(self._ids)
        await self._ws.send(json.dumps({"id": id_, "action": "cat", "cid": cid}))
        _, frames = await self._reply(id_)
        return b"".join(frames)

    async def dag_import(self, chunks: AsyncIterable[bytes], pin_roots: bool = True) -> Any:
        """Send a CAR as binary frames, ended by an empty one; the server verifies every
        block and pins the roots. Returns its result (roots, block count); a root
        that could not be pinned (its DAG incomplete) raises BlockNotFound."""
        id_ = next(self._ids)
        await self._ws.send(json.dumps({"id": id_, "action": "dag_import", "pin_roots": pin_roots}))
        pending = b""
        async for chunk in chunks:
            pending += chunk
            while len(pending) >= FRAME:
                await self._ws.send(pending[:FRAME])
                pending = pending[FRAME:]
        if pending:
            await self._ws.send(pending)
        await self._ws.send(b"")
        reply, _ = await self._reply(id_)
        result = reply.get("result")
        if pin_roots and isinstance(result, dict) and result.get("pin_errors"):
            raise errors.BlockNotFound("; ".join(f"{c}: {m}" for c, m in result["pin_errors"].items()))
        return result
