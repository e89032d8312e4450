"""The sending side of content over an RTCDataChannel: the DAG of a CID as a CAR stream.

The protocol (label, messages, chunk size) and the verifying receiver are shared with
the Python client: ``ipfs_kit_py.car_channel``. The sender keeps ``bufferedAmount``
under ``HIGH_WATER`` (flow control).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiortc import RTCDataChannel

from ..car_channel import CHUNK, LABEL
from ..errors import IPFSKitError

__all__ = ["LABEL", "send_car", "serve_channel"]

HIGH_WATER = 1 << 20  # bytes queued in the channel before the sender waits
LOW_WATER = 256 * 1024


async def send_car(channel: RTCDataChannel, chunks: AsyncIterator[bytes]) -> int:
    """Send ``chunks`` as binary messages with flow control; returns the bytes sent."""
    drained = asyncio.Event()
    channel.bufferedAmountLowThreshold = LOW_WATER

    @channel.on("bufferedamountlow")
    def _low() -> None:
        drained.set()

    total = 0
    try:
        async for chunk in chunks:
            view = memoryview(chunk)
            for i in range(0, len(view), CHUNK):
                while channel.bufferedAmount > HIGH_WATER:
                    if channel.readyState != "open":
                        raise ConnectionError("data channel closed during transfer")
                    drained.clear()
                    try:
                        await asyncio.wait_for(drained.wait(), 1.0)
                    except TimeoutError:
                        pass
                if channel.readyState != "open":
                    raise ConnectionError("data channel closed during transfer")
                piece = bytes(view[i : i + CHUNK])
                channel.send(piece)
                total += len(piece)
    finally:
        channel.remove_listener("bufferedamountlow", _low)
    return total


def serve_channel(channel: RTCDataChannel, car_export: Callable[[str], AsyncIterator[bytes]]) -> None:
    """Answer ``get`` requests on ``channel`` with ``car_export(cid)`` (the model's)."""
    lock = asyncio.Lock()

    def reply(msg: dict[str, Any]) -> None:
        if channel.readyState == "open":
            channel.send(json.dumps(msg))

    async def handle(raw: str) -> None:
        try:
            msg = json.loads(raw)
            if not isinstance(msg, dict):
                raise ValueError("message is not a JSON object")
        except ValueError as e:
            reply({"type": "error", "id": None, "error": f"malformed message: {e}"})
            return
        rid = msg.get("id")
        if msg.get("type") != "get" or not isinstance(msg.get("cid"), str):
            reply({"type": "error", "id": rid, "error": "expected {\"type\":\"get\",\"id\":N,\"cid\":CID}"})
            return
        async with lock:
            cid = msg["cid"]
            chunks = car_export(cid)
            try:
                first = await anext(chunks)  # resolve errors (unknown CID) before "begin"
            except StopAsyncIteration:
                first = b""
            except (IPFSKitError, ValueError) as e:
                reply({"type": "error", "id": rid, "error": str(e)})
                return

            async def all_chunks() -> AsyncIterator[bytes]:
                yield first
                async for c in chunks:
                    yield c

            reply({"type": "begin", "id": rid, "cid": cid, "format": "car"})
            try:
                total = await send_car(channel, all_chunks())
            except (IPFSKitError, ConnectionError) as e:
                reply({"type": "error", "id": rid, "error": str(e)})
                return
            reply({"type": "end", "id": rid, "bytes": total})

    @channel.on("message")
    def _on_message(message: str | bytes) -> None:
        if isinstance(message, str):
            asyncio.ensure_future(handle(message))
        else:
            reply({"type": "error", "id": None, "error": "binary messages are not requests"})
