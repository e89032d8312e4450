"""libp2p transfers driven over the server's HTTP API (the seed's
``await api.transfer_via_libp2p(cid, target_peer)``): the server pushes the
DAG over ``/ipfs-kit/content/1.0.0`` to ``target_peer``, which verifies every
block and pins it. ``target_peer``: a multiaddr ending in ``/p2p/<ID>``, or the
ID of a peer the server is connected to."""

from __future__ import annotations

from typing import Any

import httpx

from .. import errors
from .auth import auth_headers
from .http import error_from_kubo
from .types import Attempt, Libp2pTransfer, TransferReport


async def _post(url: str, path: str, params: dict[str, str], timeout: float | None,
                token: str | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=timeout, headers=auth_headers(token)) as client:
        r = await client.post(f"{url.rstrip('/')}/api/v0/{path}", params=params)
    try:
        body = r.json()
    except ValueError:
        body = r.text
    if r.status_code != 200:
        err = error_from_kubo(r.status_code, body)
        err.body = body  # type: ignore[attr-defined]  # the whole answer, for callers that need more
        raise err
    if not isinstance(body, dict):
        raise errors.IPFSKitError(f"{path}: the server answered {str(body)[:200]!r}, not a JSON object")
    return body


async def transfer_via_libp2p(url: str, cid: str, target_peer: str, *, pin: bool = True,
                              transfer_id: str | None = None, timeout: float | None = 600.0,
                              token: str | None = None) -> Libp2pTransfer:
    """Push ``cid`` from the server at ``url`` to ``target_peer``; returns
    ``{"cid", "peer", "blocks", "bytes", "transfer_id", "pinned"}``. Raises the
    server's typed error: ChannelUnavailable (unreachable, cancelled),
    Unauthorized (refused), NotFound (the server lacks the CID)."""
    params = {"arg": cid, "peer": target_peer, "pin": "true" if pin else "false"}
    if transfer_id:
        params["id"] = transfer_id
    return Libp2pTransfer.from_dict(await _post(url, "libp2p/transfer", params, timeout, token))


async def transfer_content(url: str, cid: str, target_peer: str, *, channels: tuple[str, ...] | None = None,
                           timeout: float | None = 600.0, token: str | None = None) -> TransferReport:
    """Have the server at ``url`` push ``cid`` to another node: libp2p, else WebSocket, else
    HTTP (the seed's fallback chain). ``target_peer``: the target's URL, peer ID or multiaddr.
    Raises TransferError (with ``.attempts``) when every channel fails."""
    params = {"arg": cid, "target": target_peer}
    if channels:
        params["channels"] = ",".join(channels)
    try:
        return TransferReport.from_dict(await _post(url, "ipfs-kit/transfer", params, timeout, token))
    except errors.IPFSKitError as e:
        body = getattr(e, "body", None)
        if isinstance(body, dict) and "Attempts" in body:
            raise errors.TransferError(str(e), [Attempt(**a) for a in body["Attempts"]]) from None
        raise


async def fetch_via_libp2p(url: str, cid: str, source_peer: str, *, offset: int | None = None,
                           length: int | None = None, pin: bool = False,
                           timeout: float | None = 600.0, token: str | None = None) -> dict[str, Any]:
    """Have the server fetch ``cid`` (or a byte range's blocks) from ``source_peer``."""
    params = {"arg": cid, "peer": source_peer, "pin": "true" if pin else "false"}
    if offset is not None:
        params["offset"] = str(offset)
    if length is not None:
        params["length"] = str(length)
    return await _post(url, "libp2p/fetch", params, timeout, token)


async def cancel_transfer(url: str, transfer_id: str, timeout: float | None = 30.0,
                          token: str | None = None) -> dict[str, Any]:
    return await _post(url, "libp2p/transfer/cancel", {"arg": transfer_id}, timeout, token)
