"""Content over an RTCDataChannel: the DAG of a CID as a CAR stream, verified by the receiver.

Protocol on the channel labelled ``ipfs-kit`` (ordered, reliable):
- receiver -> sender, text: ``{"type":"get","id":N,"cid":CID}``
- sender -> receiver, text ``{"type":"begin","id":N,"cid":CID,"format":"car"}``, then the
  CAR v1 bytes as binary messages of at most ``CHUNK`` bytes, then text
  ``{"type":"end","id":N,"bytes":TOTAL}``; or ``{"type":"error","id":N,"error":MSG}``.
One transfer at a time per channel (binary messages carry no id). The sender
keeps ``bufferedAmount`` under ``HIGH_WATER`` (flow control). The receiver
checks every block against its CID and the root against the request, then
reassembles the file bytes from the DAG, so nothing unverified is returned.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiortc import RTCDataChannel

from ..content.car import CarParser
from ..content.cid import CID, DAG_PB, RAW
from ..content.dagpb import decode_node, decode_unixfs
from ..errors import CorruptBlock, IPFSKitError

LABEL = "ipfs-kit"
CHUNK = 64 * 1024  # bytes per message (aiortc and Chromium accept 64 KiB)
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


def assemble(root: CID, blocks: dict[bytes, bytes]) -> bytes:
    """The file bytes of the DAG under ``root`` from verified ``blocks`` (by multihash)."""
    out = bytearray()
    stack = [root]
    while stack:
        cid = stack.pop()
        block = blocks.get(cid.multihash)
        if block is None:
            raise CorruptBlock(f"block {cid} of {root} was not received")
        if cid.codec == RAW:
            out += block
            continue
        if cid.codec != DAG_PB:
            raise CorruptBlock(f"{cid} is {cid.codec_name}, not UnixFS")
        node = decode_node(block)
        data = decode_unixfs(node.data)
        if data.data:
            out += data.data
        stack.extend(reversed([link.cid for link in node.links]))
    return bytes(out)


class CarReceiver:
    """Collects one ``get`` transfer; ``result`` resolves to the verified file bytes."""

    def __init__(self, cid: str, rid: int) -> None:
        self.cid = CID.decode(cid)
        self.rid = rid
        self.parser = CarParser(verify=True)
        self.blocks: dict[bytes, bytes] = {}
        self.result: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def on_text(self, msg: dict[str, Any]) -> None:
        if msg.get("id") not in (self.rid, None) or self.result.done():
            return
        if msg.get("type") == "error":
            self.result.set_exception(IPFSKitError(f"data channel: {msg.get('error')}"))
        elif msg.get("type") == "end":
            try:
                self.parser.close()
                if [str(r) for r in self.parser.roots or []] != [str(self.cid)]:
                    raise CorruptBlock(f"CAR roots {self.parser.roots} are not {self.cid}")
                if msg.get("bytes") != self.parser.bytes:
                    raise CorruptBlock(f"received {self.parser.bytes} bytes, sender sent {msg.get('bytes')}")
                self.result.set_result(assemble(self.cid, self.blocks))
            except IPFSKitError as e:
                self.result.set_exception(e)

    def on_binary(self, data: bytes) -> None:
        if self.result.done():
            return
        try:
            for cid, block in self.parser.feed(data):
                self.blocks[cid.multihash] = block
        except IPFSKitError as e:
            self.result.set_exception(e)
