"""CAR import over the general channel /ws (the WebSocket leg of transfer_content)."""

from __future__ import annotations

import httpx
import pytest
from conftest import ServerProcess, stream_bytes

from ipfs_kit_py.client.ws_rpc import GeneralChannel
from ipfs_kit_py.content.blockstore import Blockstore
from ipfs_kit_py.content.car import write_car
from ipfs_kit_py.content.dag import walk
from ipfs_kit_py.content.importer import import_bytes
from ipfs_kit_py.errors import InvalidCAR


async def _chunks(data: bytes, size: int = 100_000):
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_dag_import_over_ws_verifies_pins_and_survives_bad_cars(shared_server: ServerProcess, tmp_path) -> None:
    src = Blockstore(tmp_path / "src")
    data = stream_bytes(1_500_000)
    root = import_bytes(data, src).cid
    car = b"".join(write_car([root], ((c, src.get(c)) for c in walk(src, root))))
    async with GeneralChannel(shared_server.url) as ws:
        assert "dag_import" in ws.welcome["actions"]
        corrupt = bytearray(car)
        corrupt[-5] ^= 1
        with pytest.raises(InvalidCAR, match="does not match"):
            await ws.dag_import(_chunks(bytes(corrupt)))
        with pytest.raises(InvalidCAR, match="truncated"):
            await ws.dag_import(_chunks(car[:-50]))
        assert (await ws.request("version"))["version"]  # the connection is still usable
        result = await ws.dag_import(_chunks(car))
        assert result == {"roots": [str(root)], "blocks": 7, "block_bytes": 0, "pin_errors": {}}
    pins = httpx.post(f"{shared_server.url}/api/v0/pin/ls", params={"arg": str(root)}, timeout=10).json()
    assert pins["Keys"][str(root)]["Type"] == "recursive"
    cat = httpx.post(f"{shared_server.url}/api/v0/cat", params={"arg": str(root)}, timeout=30)
    assert cat.content == data
