"""A small test client for the WebSocket hub: JSON in/out with timeouts, requests
matched by id, events collected. Talks to the real server over real sockets."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from typing import Any

import websockets

TIMEOUT = 10.0


class WSClient:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.welcome: dict[str, Any] = {}
        self._ids = itertools.count(1)

    @classmethod
    async def connect(cls, host_port: str, path: str = "/ws", **kwargs: Any) -> WSClient:
        ws = await websockets.connect(f"ws://{host_port}{path}", **kwargs)
        client = cls(ws)
        client.welcome = await client.recv()
        assert client.welcome["type"] == "welcome", client.welcome
        return client

    async def close(self) -> None:
        await self.ws.close()

    async def __aenter__(self) -> WSClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def recv_raw(self, timeout: float = TIMEOUT) -> str | bytes:
        return await asyncio.wait_for(self.ws.recv(), timeout)

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        raw = await self.recv_raw(timeout)
        assert isinstance(raw, str), f"expected a text frame, got {len(raw)} bytes"
        return json.loads(raw)

    async def request(self, action: str, **params: Any) -> dict[str, Any]:
        """Send a request with a fresh id; return its reply (events in between are skipped)."""
        rid = next(self._ids)
        await self.send({"id": rid, "action": action, **params})
        while True:
            msg = await self.recv()
            if msg.get("id") == rid:
                return msg

    async def call(self, action: str, **params: Any) -> Any:
        reply = await self.request(action, **params)
        assert reply["type"] == "result", reply
        return reply["result"]

    async def add(self, data: bytes, name: str = "", **params: Any) -> str:
        result = await self.call("add", content=base64.b64encode(data).decode(), name=name, **params)
        return result["cid"]

    async def subscribe(self, types: Any = "all", **fields: Any) -> dict[str, Any]:
        await self.send({"action": "subscribe", "notification_types": types, **fields})
        msg = await self.recv()
        assert msg["type"] == "subscription_confirmed", msg
        return msg

    async def events(self, count: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """The next ``count`` event messages (anything else received is an error)."""
        out = []
        while len(out) < count:
            msg = await self.recv(timeout)
            assert "seq" in msg, f"expected an event, got {msg}"
            out.append(msg)
        return out

    async def assert_alive(self) -> None:
        """The connection is open and answers a ping (nothing else queued before it)."""
        await self.send({"action": "ping", "id": "alive"})
        msg = await self.recv()
        assert msg == {"type": "pong", "id": "alive", "timestamp": msg["timestamp"]}, msg
