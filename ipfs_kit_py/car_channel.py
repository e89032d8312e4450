"""Content over an RTCDataChannel: the DAG of a CID as a CAR stream, verified by the receiver.

Shared by both sides: the server sends (``webrtc.datachannel``), the Python client
receives with ``CarReceiver`` (``client.streaming``); neither imports the other.

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
from typing import Any

from .content.car import CarParser
from .content.cid import CID, DAG_PB, RAW
from .content.reader import UnixFSReader
from .errors import CorruptBlock, IPFSKitError

LABEL = "ipfs-kit"
CHUNK = 64 * 1024  # bytes per message (aiortc and Chromium accept 64 KiB)


class ReceivedBlocks:
    """The verified blocks of one transfer (by multihash), as a store the file reader reads."""

    def __init__(self, root: CID, blocks: dict[bytes, bytes] | None = None) -> None:
        self.root = root
        self.blocks: dict[bytes, bytes] = {} if blocks is None else blocks

    def get(self, cid: CID, *, verify: bool = False) -> bytes:
        block = self.blocks.get(cid.multihash)
        if block is None:
            raise CorruptBlock(f"block {cid} of {self.root} was not received")
        return block

    def has(self, cid: CID) -> bool:
        return cid.multihash in self.blocks

    def size(self, cid: CID) -> int:
        return len(self.get(cid))


def assemble(root: CID, blocks: dict[bytes, bytes]) -> bytes:
    """The file bytes of the DAG under ``root`` from verified ``blocks`` (by multihash),
    read as every UnixFS file is (``content.reader``: each node's blocksizes checked)."""
    if root.codec not in (RAW, DAG_PB):
        raise CorruptBlock(f"{root} is {root.codec_name}, not UnixFS")
    return b"".join(UnixFSReader(ReceivedBlocks(root, blocks), root).iter_range())


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
