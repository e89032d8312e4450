"""Getting content over the channel that suits it: ``select_protocol`` in use.

``get_content`` asks the node what the content is (type and size, from its
metadata and stat), lets :func:`select_protocol` pick the channel unless the
caller named one, and retrieves it there:

- ``webrtc``: a live :class:`MediaStream` (decoded frames) for audio and video;
- ``websocket``: the bytes as binary frames over the general channel ``/ws``;
- ``libp2p``: the bytes straight from the node's peer, in ranges over
  ``/ipfs-kit/mcp/1.0.0`` (``cat`` with offset and length), by a leecher peer.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from ..errors import ChannelUnavailable, IPFSKitError
from .http import HTTPClient
from .selection import Channel, select_protocol
from .streaming import MediaStream, stream_content
from .ws_rpc import GeneralChannel, raise_error

LIBP2P_RANGE = 4 << 20  # bytes per mcp request: the operation table's inline limit


@dataclass
class Retrieved:
    cid: str
    channel: Channel
    content_type: str
    size: int
    data: bytes | None = None  # websocket and libp2p
    stream: MediaStream | None = None  # webrtc


async def fetch_over_libp2p(url: str, cid: str, size: int, timeout: float = 60.0, token: str | None = None) -> bytes:
    from ..libp2p_peer import IPFSLibp2pPeer

    async with HTTPClient(url, timeout=timeout, token=token) as client:
        ident = await client.id()
    addrs = [a for a in ident.addresses if "/p2p/" in a]
    if not addrs:
        raise ChannelUnavailable("the node has no libp2p address (libp2p.enabled=false?)")
    out = bytearray()
    async with IPFSLibp2pPeer(role="leecher") as peer:
        await peer.connect_to_peer(ident.id, addrs[0])
        while len(out) < size or not out and size == 0:
            stream = await peer.new_stream(ident.id, "/ipfs-kit/mcp/1.0.0")
            await stream.write(json.dumps({"action": "cat", "cid": cid, "offset": len(out),
                                           "length": LIBP2P_RANGE}).encode())
            answer = json.loads(await stream.read(2 * LIBP2P_RANGE))
            await stream.close()
            if "error" in answer:
                raise_error({"code": answer.get("code"), "message": answer["error"]})
            piece = base64.b64decode(answer["content"])
            if not piece:
                break
            out += piece
    return bytes(out)


async def get_content(url: str, cid: str, *, channel: Channel | None = None, priority: str = "normal",
                      token: str | None = None, **stream_options: Any) -> Retrieved:
    """Retrieve ``cid`` over ``channel``, or over the one ``select_protocol`` picks."""
    async with GeneralChannel(url, token=token) as ws:
        md = await ws.request("metadata_get", cid=cid)
        st = await ws.request("stat", cid=cid)
        if st.get("type") == "directory":
            raise IPFSKitError(f"{cid} is a directory: list it with ls")
        content_type = md.get("content_type") or "application/octet-stream"
        size = int(st.get("size") or 0)
        chosen = channel or select_protocol(content_type, size, priority)
        if chosen == "websocket":
            return Retrieved(cid, chosen, content_type, size, data=await ws.cat(cid))
    if chosen == "webrtc":
        return Retrieved(cid, chosen, content_type, size, stream=await stream_content(url, cid, token=token, **stream_options))
    if chosen == "libp2p":
        return Retrieved(cid, chosen, content_type, size, data=await fetch_over_libp2p(url, cid, size, token=token))
    raise ValueError(f"unknown channel {chosen!r}")
