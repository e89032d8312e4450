"""Which channel carries a piece of content: the seed's ``select_protocol``."""

from __future__ import annotations

from typing import Literal

Channel = Literal["webrtc", "websocket", "libp2p"]
SMALL_CONTENT = 1024 * 1024  # below this, high-priority content goes over the WebSocket already open


def select_protocol(content_type: str, size: int, priority: str) -> Channel:
    """Select the optimal protocol based on content characteristics.

    Streaming media goes over WebRTC; small high-priority content over the
    WebSocket connection a client already holds; everything else over libp2p.
    """
    if content_type.startswith("video/") or content_type.startswith("audio/"):
        return "webrtc"
    if size < SMALL_CONTENT and priority == "high":
        return "websocket"
    return "libp2p"
