"""A connectivity probe for ``python -m ipfs_kit_py.tools.check_connectivity``:
dial the server's peer as a leecher, ping it, ask ``id`` over /ipfs-kit/mcp/1.0.0."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from .mcp_protocol import PROTOCOL_ID as MCP_PROTOCOL
from .peer import IPFSLibp2pPeer, PeerError

PING_PROTOCOL = "/ipfs/ping/1.0.0"


async def probe_peer(peer_id: str, addrs: list[str], timeout: float = 10.0) -> dict[str, Any]:
    """``{"summary", "peer_id", "address", "connect_ms", "ping_ms", "operations"}``;
    raises PeerError (a ConnectionError) when no address answers."""
    peer = IPFSLibp2pPeer(role="leecher")
    try:
        async with asyncio.timeout(timeout):
            errors = []
            used = None
            t0 = time.perf_counter()
            for addr in addrs:
                try:
                    await peer.connect_to_peer(peer_id, addr, timeout=timeout)
                    used = addr
                    break
                except PeerError as e:
                    errors.append(str(e))
            if used is None:
                raise PeerError("; ".join(errors) or "no address to dial")
            connect_ms = (time.perf_counter() - t0) * 1000
            stream = await peer.new_stream(peer_id, PING_PROTOCOL)
            payload = os.urandom(32)
            t1 = time.perf_counter()
            await stream.write(payload)
            echo = await stream.read(32)
            ping_ms = (time.perf_counter() - t1) * 1000
            await stream.close()
            if echo != payload:
                raise PeerError("ping answer did not match")
            stream = await peer.new_stream(peer_id, MCP_PROTOCOL)
            await stream.write(b'{"action": "id"}')
            await stream.close()
            answer = json.loads(await stream.read(1 << 20))
            ops = answer.get("operations", [])
    finally:
        await peer.stop()
    return {"summary": f"peer {peer_id[:16]}… at {used}: connect {connect_ms:.0f} ms, ping {ping_ms:.1f} ms, "
                       f"{len(ops)} mcp operations",
            "peer_id": peer_id, "address": used, "connect_ms": connect_ms, "ping_ms": ping_ms, "operations": ops}
