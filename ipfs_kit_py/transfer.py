"""``transfer_content``: push a CID to another ipfs_kit_py node, libp2p first, then
WebSocket, then HTTP (the seed's fallback chain).

The target is described by its peer ID, multiaddrs and HTTP URL; whatever the
caller leaves out is learnt from the target's own ``/api/v0/id`` answer. Each
channel moves the same thing, the DAG under the CID, and the receiver verifies
every block against its CID and pins the root whichever channel carried it:

- libp2p: ``/ipfs-kit/content/1.0.0`` push (the libp2p service);
- WebSocket: a CAR as binary frames over the target's general channel ``/ws``
  (action ``dag_import``);
- HTTP: a CAR posted to the target's ``/api/v0/dag/import``.

Every attempt is reported: in the returned :class:`TransferReport`, and as
``transfer_started`` / ``transfer_progress`` / ``transfer_completed`` /
``transfer_failed`` events on this node's bus.

A Python API; its wire form is the registry operation ``transfer_content``
(``/api/v0/ipfs-kit/transfer``, ``/ws``, libp2p mcp).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import websockets

from .client.http import HTTPClient
from .content.cid import CID
from .errors import ChannelUnavailable, InvalidArgument, IPFSKitError, TransferError
from .events import NotificationType
from .node import Node
from .p2p.content_protocol import Transfer
from .types import Attempt, TransferReport

CHANNELS = ("libp2p", "websocket", "http")


@dataclass
class Target:
    peer_id: str | None = None
    multiaddrs: list[str] = field(default_factory=list)
    url: str | None = None  # the target's HTTP base URL (its WebSocket address derives from it)

    @classmethod
    def parse(cls, target: str | Target | dict[str, Any]) -> Target:
        """A peer ID, a multiaddr ending in ``/p2p/<id>``, an ``http(s)://`` URL, or the fields."""
        if isinstance(target, Target):
            return target
        if isinstance(target, dict):
            return cls(target.get("peer_id"), list(target.get("multiaddrs") or []), target.get("url"))
        t = (target or "").strip()
        if not t:
            raise InvalidArgument("a transfer needs a target: peer ID, multiaddr or URL")
        if t.startswith(("http://", "https://")):
            return cls(url=t.rstrip("/"))
        if t.startswith("/"):
            if "/p2p/" not in t:
                raise InvalidArgument(f"multiaddr {t!r} has no /p2p/<peer-id>")
            return cls(peer_id=t.rsplit("/p2p/", 1)[1], multiaddrs=[t])
        return cls(peer_id=t)


async def _counted(transfer: Transfer, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        transfer.add(len(chunk))  # publishes transfer_progress at most twice a second
        yield chunk


def _transfer(node: Node, cid: str, target: Target, transfer_id: str, channel: str) -> Transfer:
    return Transfer(node.model, cid, target.peer_id or target.url or "", "send", "push",
                    transfer_id=transfer_id, protocol=channel)


async def resolve_target(target: Target, timeout: float = 10.0) -> Target:
    """Fill in the peer ID and multiaddrs from the target's own ``/api/v0/id``."""
    if target.url and not target.peer_id:
        try:
            async with HTTPClient(target.url, timeout=timeout) as client:
                ident = await client.id()
            target.peer_id = ident.id or None
            target.multiaddrs = target.multiaddrs or [a for a in ident.addresses if "/p2p/" in a]
        except IPFSKitError:
            pass  # the HTTP leg will report the target as unreachable
    return target


async def via_libp2p(node: Node, cid: str, target: Target, transfer_id: str) -> int:
    svc = node.services.get("libp2p")
    if svc is None:
        raise ChannelUnavailable("libp2p is disabled on this node")
    if not target.peer_id:
        raise ChannelUnavailable("the target's peer ID is unknown (give its URL or peer ID)")
    for addr in target.multiaddrs:
        try:
            await svc.connect(addr)
            break
        except Exception:  # try the next address; the push reports the final failure
            continue
    result = await svc.transfer_via_libp2p(cid, target.peer_id, transfer_id=transfer_id)
    return int(result.get("bytes", 0))


async def via_websocket(node: Node, cid: str, target: Target, transfer_id: str, timeout: float) -> int:
    from .client.ws_rpc import GeneralChannel

    if not target.url:
        raise ChannelUnavailable("the target's HTTP/WebSocket address is unknown (give its URL)")
    transfer = _transfer(node, cid, target, transfer_id, "websocket")
    transfer.start()
    try:
        async with GeneralChannel(target.url, open_timeout=timeout) as ws:
            result = await ws.dag_import(_counted(transfer, node.model.car_export(cid)), pin_roots=True)
        if cid not in (result or {}).get("roots", []):
            raise ChannelUnavailable(f"target imported {result}, not {cid}")
    except (OSError, websockets.WebSocketException, IPFSKitError) as e:
        transfer.failed(f"WebSocket: {e}")
        raise ChannelUnavailable(f"WebSocket transfer to {target.url} failed: {e}") from None
    transfer.completed()
    return transfer.bytes


async def via_http(node: Node, cid: str, target: Target, transfer_id: str, timeout: float) -> int:
    from .client.http import HTTPClient

    if not target.url:
        raise ChannelUnavailable("the target's HTTP address is unknown (give its URL)")
    transfer = _transfer(node, cid, target, transfer_id, "http")
    transfer.start()
    client = HTTPClient(target.url, timeout=timeout)
    try:
        result = await client.dag_import(_counted(transfer, node.model.car_export(cid)), pin_roots=True)
        if cid not in result.roots:
            raise ChannelUnavailable(f"target imported {result.roots}, not {cid}")
    except Exception as e:
        transfer.failed(f"HTTP: {e}")
        raise
    finally:
        await client.close()
    transfer.completed()
    return transfer.bytes


async def transfer_content(
    node: Node, cid: str, target_peer: str | Target | dict[str, Any],
    channels: tuple[str, ...] = CHANNELS, timeout: float = 60.0,
) -> TransferReport:
    """Transfer content with the protocol fallback chain; raise TransferError if every channel fails."""
    cid = str(CID.decode(cid))
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown or not channels:
        raise InvalidArgument(f"unknown channel(s) {unknown}: choose from {', '.join(CHANNELS)}")
    await node.model.stat(cid)  # NotFound before any network work
    target = await resolve_target(Target.parse(target_peer))
    transfer_id = uuid.uuid4().hex[:16]
    attempts: list[Attempt] = []
    for channel in channels:
        t = time.monotonic()
        try:
            if channel == "libp2p":
                sent = await via_libp2p(node, cid, target, transfer_id)
            elif channel == "websocket":
                sent = await via_websocket(node, cid, target, transfer_id, timeout)
            else:
                sent = await via_http(node, cid, target, transfer_id, timeout)
        except Exception as e:  # each failure is recorded and the next channel tried
            attempts.append(Attempt(channel, False, round(time.monotonic() - t, 3), f"{type(e).__name__}: {e}"))
            node.bus.publish(NotificationType.TRANSFER_FAILED, {
                "transfer_id": transfer_id, "cid": cid, "peer_id": target.peer_id, "protocol": channel,
                "error": attempts[-1].error, "next": next(iter(channels[channels.index(channel) + 1:]), None),
            })
            continue
        attempts.append(Attempt(channel, True, round(time.monotonic() - t, 3)))
        return TransferReport(transfer_id, cid, channel, attempts, sent)
    raise TransferError(f"every channel failed to transfer {cid}: "
                        + "; ".join(f"{a.channel}: {a.error}" for a in attempts), attempts)
