"""The seed's hybrid pattern: WebRTC frames and WebSocket metadata at the same time."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import ServerProcess
from webrtc_media import make_mp4

from ipfs_kit_py import ice
from ipfs_kit_py.errors import NotFound
from ipfs_kit_py.high_level_api import IPFSSimpleAPI


async def test_stream_with_metadata(shared_server: ServerProcess) -> None:
    ice.apply_settings()
    r = httpx.post(f"{shared_server.url}/api/v0/add", files={"file": ("clip.mp4", make_mp4(2.0, audio=False))}, timeout=60)
    cid = r.json()["Hash"]
    async with IPFSSimpleAPI(mcp_url=shared_server.url) as api:
        await api.set_metadata(cid, {"title": "test clip"})
        both = await api.stream_with_metadata(cid, tracks=("video",))
        assert both.metadata["content_type"] == "video/mp4" and both.metadata["user"] == {"title": "test clip"}
        frames = 0
        async for frame in both.stream:
            assert (frame.width, frame.height) == (640, 480)
            frames += 1
            if frames == 5:
                break
        await both.close()


async def test_stream_with_metadata_unknown_cid_fails_cleanly(shared_server: ServerProcess) -> None:
    ice.apply_settings()
    async with IPFSSimpleAPI(mcp_url=shared_server.url) as api:
        with pytest.raises(NotFound):
            await asyncio.wait_for(api.stream_with_metadata("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"), 30)
