"""The seed's transfer_content fallback chain between real servers: libp2p first, then
WebSocket, then HTTP. Each test cuts channels on the target and shows the next one
carrying the content, which the target verifies and pins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ServerProcess, start_server, stream_bytes

from ipfs_kit_py.client import HTTPClient
from ipfs_kit_py.client.ws_rpc import GeneralChannel
from ipfs_kit_py.errors import NotFound, TransferError
from ipfs_kit_py.high_level_api import IPFSSimpleAPI

OFF_LIBP2P = {"IPFS_KIT_LIBP2P_ENABLED": "false"}
OFF_WS = {"IPFS_KIT_WEBSOCKET_ENABLED": "false"}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("source") / "repo")
    try:
        yield srv
    finally:
        srv.stop()


def add(srv: ServerProcess, data: bytes) -> str:
    r = httpx.post(f"{srv.url}/api/v0/add", files={"file": ("f.bin", data)}, timeout=60)
    r.raise_for_status()
    return r.json()["Hash"]


def assert_pinned_with(target: ServerProcess, cid: str, data: bytes) -> None:
    pins = httpx.post(f"{target.url}/api/v0/pin/ls", params={"arg": cid}, timeout=10)
    assert pins.status_code == 200 and pins.json()["Keys"][cid]["Type"] == "recursive"
    assert httpx.post(f"{target.url}/api/v0/cat", params={"arg": cid}, timeout=30).content == data


async def events(srv: ServerProcess, cid: str, type_: str) -> list[dict]:
    async with GeneralChannel(srv.url) as ws:
        reply = await ws.request("get_history", notification_types=[type_], filters={"cid": cid})
    return reply["events"]


@pytest.mark.parametrize(("cut", "carrier"), [
    ({}, "libp2p"),
    (OFF_LIBP2P, "websocket"),
    ({**OFF_LIBP2P, **OFF_WS}, "http"),
], ids=["all-open", "libp2p-off", "libp2p-and-websocket-off"])
async def test_next_channel_carries_the_transfer(source: ServerProcess, tmp_path: Path, cut: dict, carrier: str) -> None:
    data = stream_bytes(700_000) + carrier.encode()
    cid = add(source, data)
    async with HTTPClient(source.url) as client:
        source_id = (await client.id()).id
    target = start_server(tmp_path / "target", env={**cut, "IPFS_KIT_LIBP2P_ACCEPT_PUSH_FROM": source_id})
    try:
        async with IPFSSimpleAPI(mcp_url=source.url) as api:
            report = await api.transfer_content(cid, target.url)
        assert report.channel == carrier and report.cid == cid
        channels = ["libp2p", "websocket", "http"]
        assert [a.channel for a in report.attempts] == channels[: channels.index(carrier) + 1]
        assert [a.ok for a in report.attempts] == [False] * channels.index(carrier) + [True]
        assert all(a.error for a in report.attempts if not a.ok)
        assert_pinned_with(target, cid, data)
        failed = await events(source, cid, "transfer_failed")
        assert [e["data"]["protocol"] for e in failed if "next" in e["data"]] == channels[: channels.index(carrier)]
        (done,) = await events(source, cid, "transfer_completed")  # one event shape on every channel
        assert done["data"]["protocol"] == carrier and done["data"]["transfer_id"] == report.transfer_id
    finally:
        target.stop()


async def test_every_channel_failing_is_a_typed_error_with_each_reason(source: ServerProcess, tmp_path: Path) -> None:
    cid = add(source, b"nobody will receive this")
    gone = start_server(tmp_path / "gone")
    url = gone.url
    gone.stop()
    async with IPFSSimpleAPI(mcp_url=source.url) as api:
        with pytest.raises(TransferError) as info:
            await api.transfer_content(cid, url)
        assert [a.channel for a in info.value.attempts] == ["libp2p", "websocket", "http"]
        assert not any(a.ok for a in info.value.attempts)
        with pytest.raises(NotFound):
            await api.transfer_content("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", url)
