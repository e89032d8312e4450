"""The client picks the channel with select_protocol when the caller does not, and each
channel delivers the content: WebRTC frames for video, WebSocket frames for small
high-priority content, libp2p for the rest."""

from __future__ import annotations

import httpx
import pytest
from conftest import ServerProcess, stream_bytes
from webrtc_media import make_mp4

from ipfs_kit_py import ice
from ipfs_kit_py.errors import NotFound
from ipfs_kit_py.high_level_api import IPFSSimpleAPI


def add(srv: ServerProcess, data: bytes, name: str) -> str:
    r = httpx.post(f"{srv.url}/api/v0/add", files={"file": (name, data)}, timeout=60)
    r.raise_for_status()
    return r.json()["Hash"]


async def test_select_protocol_picks_and_each_channel_delivers(shared_server: ServerProcess) -> None:
    ice.apply_settings()
    video = add(shared_server, make_mp4(2.0, audio=False), "clip.mp4")
    small = add(shared_server, b'{"small": "and urgent"}', "note.json")
    big = stream_bytes(9 * 1024 * 1024 + 7)  # more than one 4 MiB libp2p range
    large = add(shared_server, big, "big.bin")
    async with IPFSSimpleAPI(mcp_url=shared_server.url) as api:
        got = await api.get_content(video, tracks=("video",))
        assert got.channel == "webrtc" and got.content_type == "video/mp4" and got.data is None
        async for frame in got.stream:
            assert (frame.width, frame.height) == (640, 480)
            break
        got = await api.get_content(small, priority="high")
        assert got.channel == "websocket" and got.data == b'{"small": "and urgent"}'
        got = await api.get_content(small)  # normal priority: libp2p
        assert got.channel == "libp2p" and got.data == b'{"small": "and urgent"}'
        got = await api.get_content(large, priority="high")  # too big for the WebSocket rule
        assert got.channel == "libp2p" and got.size == len(big) and got.data == big
        got = await api.get_content(large, channel="websocket")  # the caller decides
        assert got.channel == "websocket" and got.data == big
        with pytest.raises(NotFound):
            await api.get_content("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
