"""``cid_format`` (Kubo's ``ipfs cid format``), added in one place (ops/node.py) and
therefore on every channel: here its meaning; tests/test_registry_parity.py shows it
on HTTP, /ws, libp2p mcp and the CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ipfs_kit_py import registry
from ipfs_kit_py.content.cid import CID
from ipfs_kit_py.errors import InvalidArgument, InvalidCID
from ipfs_kit_py.node import Node

V0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"
V1 = "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # `ipfs cid base32` of V0 (Kubo's docs)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    n = Node(tmp_path / "repo")
    yield n
    n.close()


async def fmt(node: Node, **params: object) -> str:
    return (await registry.call(node, "cid_format", params))["formatted"]


async def test_versions_and_bases(node: Node) -> None:
    assert await fmt(node, cid=V0) == V0
    assert await fmt(node, cid=V0, version=1) == V1
    assert await fmt(node, cid=V0, base="base32") == V1  # another base than base58btc implies CIDv1
    assert await fmt(node, cid=V1, version=0) == V0
    raw = bytes(CID.decode(V1))
    assert await fmt(node, cid=V1, base="base16") == "f" + raw.hex()
    assert await fmt(node, cid=V1, base="base32upper") == "B" + V1[1:].upper()
    assert (await fmt(node, cid=V1, base="base58btc")).startswith("z")
    assert CID.decode(await fmt(node, cid=V1, base="base58btc")) == CID.decode(V1)


async def test_format_verbs(node: Node) -> None:
    digest = CID.decode(V0).digest
    assert await fmt(node, cid=V0, format="%P") == "cidv0-dag-pb-sha2-256-32"
    assert await fmt(node, cid=V1, format="%v %V %c %C %h %H %L %b %B %%") == \
        "cidv1 1 dag-pb 112 sha2-256 18 32 base32 b %"
    assert await fmt(node, cid=V1, format="%D", base="base16") == digest.hex()
    assert await fmt(node, cid=V1, format="%d", base="base16") == "f" + digest.hex()
    assert await fmt(node, cid=V1, format="%M", base="base16") == "1220" + digest.hex()
    assert await fmt(node, cid=V1, format="%S") == V1[1:]
    raw_leaf = str(CID.hash(b"x", 0x55))
    assert await fmt(node, cid=raw_leaf, format="%c-%s") == f"raw-{raw_leaf}"
    assert hashlib.sha256(b"x").digest() == CID.decode(raw_leaf).digest


async def test_refusals(node: Node) -> None:
    with pytest.raises(InvalidCID):
        await fmt(node, cid="not-a-cid")
    with pytest.raises(InvalidArgument, match="verb"):
        await fmt(node, cid=V0, format="%Z")
    with pytest.raises(InvalidArgument, match="multibase"):
        await fmt(node, cid=V0, base="base99")
    with pytest.raises(InvalidArgument, match="CIDv0"):
        await fmt(node, cid=str(CID.hash(b"x", 0x55)), version=0)
    with pytest.raises(InvalidArgument):
        await fmt(node, cid=V0, version=2)


def test_kubo_form_reports_a_bad_cid_in_its_line(node: Node) -> None:
    """Over /api/v0 (and so the CLI) a bad CID is Kubo's ErrorMsg line, not a failed request."""
    import asyncio

    from ipfs_kit_py.access import LOCAL
    from ipfs_kit_py.server.rpc_wire import Args

    async def run() -> list[dict[str, str]]:
        shaped = await registry.kubo_call(registry.get("cid_format"), node, LOCAL,
                                          Args([("arg", V0), ("arg", "nope"), ("v", "1")]))
        return [line async for line in shaped.lines]

    good, bad = asyncio.run(run())
    assert good == {"Formatted": V1, "CidStr": V0, "ErrorMsg": ""}
    assert bad["CidStr"] == "nope" and bad["Formatted"] == "" and "invalid CID" in bad["ErrorMsg"]
