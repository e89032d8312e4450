"""The server's libp2p peer: /api/v0/id, the seed's /ipfs-kit/mcp/1.0.0 snippet, the allowlist."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest
from conftest import ServerProcess, start_server, stream_bytes

from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer
from ipfs_kit_py.p2p.mcp_protocol import MAX_REQUEST

MCP = "/ipfs-kit/mcp/1.0.0"


def node_id(srv: ServerProcess) -> dict:
    return httpx.post(f"{srv.url}/api/v0/id", timeout=10).json()


def add(srv: ServerProcess, data: bytes) -> str:
    return httpx.post(f"{srv.url}/api/v0/add", files={"file": ("f", data)}, timeout=30).json()["Hash"]


async def mcp_call(peer: IPFSLibp2pPeer, info: dict, request: bytes) -> dict:
    await peer.connect_to_peer(info["ID"], info["Addresses"][0])
    stream = await peer.new_stream(info["ID"], MCP)
    await stream.write(request)
    await stream.close()  # EOF ends the request (the server also answers a complete object without it)
    return json.loads(await stream.read(10 * 1024 * 1024))


def test_id_reports_peer_and_addresses(shared_server: ServerProcess) -> None:
    info = node_id(shared_server)
    assert info["ID"].startswith("12D3KooW")
    assert info["Addresses"] and all(a.startswith("/ip4/127.0.0.1/tcp/") and a.endswith(f"/p2p/{info['ID']}")
                                     for a in info["Addresses"])
    assert base64.b64decode(info["PublicKey"])[:4] == b"\x08\x01\x12\x20"  # Ed25519 PublicKey protobuf


async def test_seed_snippet_get_content(shared_server: ServerProcess) -> None:
    data = stream_bytes(600_000)  # several chunks: a real DAG
    cid = add(shared_server, data)
    info = node_id(shared_server)

    # the seed's connect_to_mcp_libp2p, as written
    async def connect_to_mcp_libp2p(peer_id, multiaddr):  # noqa: ANN001, ANN202
        from ipfs_kit_py.libp2p_peer import IPFSLibp2pPeer

        peer = IPFSLibp2pPeer(role="leecher")
        await peer.connect_to_peer(peer_id, multiaddr)
        stream = await peer.new_stream(peer_id, "/ipfs-kit/mcp/1.0.0")
        request = {"action": "get_content", "cid": cid}
        await stream.write(json.dumps(request).encode())
        response_data = await stream.read(10 * 1024 * 1024)  # 10MB max
        response = json.loads(response_data.decode())
        await stream.close()
        await peer.stop()
        return response

    response = await asyncio.wait_for(connect_to_mcp_libp2p(info["ID"], info["Addresses"][0]), 30)
    assert response["size"] == len(data)
    assert base64.b64decode(response["content"]) == data


async def test_mcp_errors_and_allowlist(tmp_path: Path) -> None:
    ident = tmp_path / "client-id"
    allowed = IPFSLibp2pPeer(identity_dir=ident)
    srv = start_server(tmp_path / "repo", env={"IPFS_KIT_LIBP2P_MCP_ALLOWLIST": allowed.get_id()})
    stranger = IPFSLibp2pPeer()
    try:
        info = node_id(srv)
        cid = add(srv, b"pinned by the server")
        async with asyncio.timeout(40):
            unknown = await mcp_call(stranger, info, b'{"action": "get_content", "cid": "QmUnknownUnknownUnknownUnknownUnknownUnknownUnk"}')
            assert "error" in unknown and unknown["code"] in ("invalid_cid", "not_found")
            missing = await mcp_call(stranger, info, json.dumps(
                {"action": "get_content", "cid": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}).encode())
            assert missing["code"] in ("not_found", "block_not_found")
            bad = await mcp_call(stranger, info, b'{"action": "get_content", "cid": ')  # malformed, then EOF
            assert bad["code"] == "invalid_argument"
            nope = await mcp_call(stranger, info, b'{"action": "no_such_op"}')
            assert nope["code"] == "invalid_argument" and "no_such_op" in nope["error"]
            denied = await mcp_call(stranger, info, json.dumps({"action": "pin_rm", "cid": cid, "id": 7}).encode())
            assert denied["code"] == "forbidden" and denied["id"] == 7
            pins = httpx.post(f"{srv.url}/api/v0/pin/ls", params={"arg": cid}, timeout=10).json()
            assert cid in pins["Keys"]  # the refused write changed nothing
            ok = await mcp_call(allowed, info, json.dumps({"action": "pin_rm", "params": {"cid": cid}}).encode())
            assert ok == {"pins": [cid]}
            added = await mcp_call(allowed, info, json.dumps(
                {"action": "add", "content": base64.b64encode(b"via libp2p").decode()}).encode())
            assert httpx.post(f"{srv.url}/api/v0/cat", params={"arg": added["cid"]}).content == b"via libp2p"
            # an oversized request is refused and the peer keeps working
            await stranger.connect_to_peer(info["ID"], info["Addresses"][0])
            stream = await stranger.new_stream(info["ID"], MCP)
            try:
                await stream.write(b'{"action": "id", "pad": "' + b"x" * (MAX_REQUEST + 10))
                answer = await stream.read(1 << 20)
            except ConnectionError:
                answer = b""
            assert answer == b"" or json.loads(answer)["code"] == "limit_exceeded"
            assert (await mcp_call(stranger, info, b'{"action": "version"}'))["version"]
    finally:
        await stranger.stop()
        await allowed.stop()
        srv.stop()


def test_peer_id_survives_restart_and_can_be_disabled(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    srv = start_server(repo)
    first = node_id(srv)["ID"]
    srv.stop()
    srv = start_server(repo)
    try:
        assert node_id(srv)["ID"] == first
    finally:
        srv.stop()
    srv = start_server(repo, env={"IPFS_KIT_LIBP2P_ENABLED": "false"})
    try:
        info = node_id(srv)
        assert info["Addresses"] == []
        r = httpx.post(f"{srv.url}/api/v0/swarm/peers", timeout=10)
        assert r.status_code == 503
    finally:
        srv.stop()


@pytest.mark.parametrize("role", ["leecher"])
async def test_leecher_serves_nothing(tmp_path: Path, role: str) -> None:
    srv = start_server(tmp_path / "repo", env={"IPFS_KIT_LIBP2P_ROLE": role})
    peer = IPFSLibp2pPeer()
    try:
        info = node_id(srv)
        async with asyncio.timeout(30):
            await peer.connect_to_peer(info["ID"], info["Addresses"][0])
            with pytest.raises(ConnectionError):
                await peer.new_stream(info["ID"], MCP)
    finally:
        await peer.stop()
        srv.stop()


async def test_connectivity_probe(shared_server: ServerProcess) -> None:
    from ipfs_kit_py.p2p.check import probe_peer

    info = node_id(shared_server)
    result = await probe_peer(info["ID"], info["Addresses"], timeout=20)
    assert result["ping_ms"] > 0 and "get_content" in result["operations"]
    with pytest.raises(ConnectionError):
        await probe_peer(info["ID"], ["/ip4/127.0.0.1/tcp/9"], timeout=10)


async def test_concurrent_stream_limit_per_peer(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "repo", env={"IPFS_KIT_LIBP2P_MAX_STREAMS_PER_PEER": "3"})
    greedy, other = IPFSLibp2pPeer(), IPFSLibp2pPeer()
    try:
        info = node_id(srv)
        async with asyncio.timeout(40):
            await greedy.connect_to_peer(info["ID"], info["Addresses"][0])
            held = [await greedy.new_stream(info["ID"], MCP) for _ in range(3)]  # requests never finished
            await held[0].write(b'{"action": ')  # the server is now waiting on these three
            try:  # the reset may come during negotiation, the write or the read
                extra = await greedy.new_stream(info["ID"], MCP)
                await extra.write(b'{"action": "version"}')
                answer = await extra.read(1 << 20)
            except ConnectionError:
                answer = b""
            assert answer == b""  # the fourth concurrent stream was reset unanswered
            # another peer is not affected, and the greedy one gets service again once it lets go
            assert (await mcp_call(other, info, b'{"action": "version"}'))["version"]
            for s in held:
                await s.reset()
            # the server frees the slots once it sees the resets: retry until it has
            answer = None
            while answer is None:  # bounded by the asyncio.timeout above
                try:
                    answer = await mcp_call(greedy, info, b'{"action": "version"}')
                except (ConnectionError, ValueError):  # reset (empty read) while still full
                    await asyncio.sleep(0.05)
            assert answer["version"]
    finally:
        await greedy.stop()
        await other.stop()
        srv.stop()


def test_taken_libp2p_port_falls_back_to_a_free_one(tmp_path: Path) -> None:
    """Kubo holds 4001 on many machines: the server still starts, reachable, and says why."""
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    try:
        srv = start_server(tmp_path / "repo", env={"IPFS_KIT_LIBP2P_LISTEN_ADDRS": f"/ip4/127.0.0.1/tcp/{taken}"})
        try:
            addrs = node_id(srv)["Addresses"]
            assert addrs and all(f"/tcp/{taken}/" not in a for a in addrs)
            assert "cannot listen on" in srv.log.read_text()
        finally:
            srv.stop()
    finally:
        holder.close()
