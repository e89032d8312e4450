"""Two channels at once: the seed's ``stream_with_metadata``.

A WebRTC session plays the content while its metadata comes over the
WebSocket general channel, both started together; the caller gets both.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from .streaming import MediaStream, stream_content
from .ws_rpc import GeneralChannel


@dataclass
class StreamWithMetadata:
    stream: MediaStream  # async iteration over decoded frames, stats(), close()
    metadata: dict[str, Any]  # name, size, content_type, added, user key/values

    async def close(self) -> None:
        await self.stream.close()


async def send_metadata_via_websocket(url: str, cid: str, token: str | None = None) -> dict[str, Any]:
    async with GeneralChannel(url, token=token) as ws:
        result: dict[str, Any] = await ws.request("metadata_get", cid=cid)
        return result


async def start_webrtc_stream(url: str, cid: str, **options: Any) -> MediaStream:
    return await stream_content(url, cid, **options)


async def stream_with_metadata(cid: str, peer_id: str, **options: Any) -> StreamWithMetadata:
    """Stream content while simultaneously transferring metadata.

    ``peer_id`` is the node serving the content: its URL or ``host:port``;
    ``token`` (in ``options``) goes to both channels.
    """
    webrtc_task = asyncio.create_task(start_webrtc_stream(peer_id, cid, **options))
    metadata_task = asyncio.create_task(send_metadata_via_websocket(peer_id, cid, options.get("token")))
    try:
        stream, metadata = await asyncio.gather(webrtc_task, metadata_task)
    except BaseException:
        for task in (webrtc_task, metadata_task):
            task.cancel()
        if webrtc_task.done() and not webrtc_task.cancelled() and webrtc_task.exception() is None:
            await webrtc_task.result().close()
        raise
    return StreamWithMetadata(stream, metadata)
