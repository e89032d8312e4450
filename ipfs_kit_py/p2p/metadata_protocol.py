"""``/ipfs-kit/metadata/1.0.0``: query and update the metadata of CIDs.

Framed JSON (see :mod:`.framing`), any number of requests per stream, each
answered in order:

* ``{"type": "get", "cid": C}`` -> ``{"type": "metadata", "cid": C, "metadata": {...}}``
* ``{"type": "query", "cids": [C, ...]}`` (at most 1000) ->
  ``{"type": "results", "results": [{"cid": C, "metadata": {...}} | {"cid": C, "error": ..., "code": ...}]}``
* ``{"type": "set", "cid": C, "values": {...}, "replace": false}`` (peers on
  ``libp2p.mcp_allowlist`` only) -> ``{"type": "metadata", ...}``

Errors are ``{"type": "error", "code": code, "message": text}`` and the stream
stays usable; a bad frame or a message that is not a JSON request resets it.
The metadata object is the model's (``metadata_get``): what ``/api/v0``
shows, the same store.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import access, registry
from ..errors import IPFSKitError
from ..model import IPFSModel
from .framing import Block, FramingError
from .stream import FramedStream, IncompleteReadError, P2PStream

log = logging.getLogger(__name__)

PROTOCOL_ID = "/ipfs-kit/metadata/1.0.0"
MAX_QUERY = 1000


async def answer(model: IPFSModel, peer_id: str, allowlist: set[str], msg: dict[str, Any]) -> dict[str, Any]:
    kind = msg.get("type")
    caller = access.peer_caller(peer_id, allowlist)  # the registry refuses a set from a peer not allowlisted
    try:
        if kind == "get":
            md = await registry.call(model, "metadata_get", {"cid": msg.get("cid")}, caller)
            return {"type": "metadata", "cid": msg.get("cid"), "metadata": md}
        if kind == "query":
            cids = msg.get("cids")
            if not isinstance(cids, list) or len(cids) > MAX_QUERY:
                return {"type": "error", "code": "invalid_argument",
                        "message": f"'cids' must be a list of at most {MAX_QUERY} CIDs"}
            results = []
            for c in cids:
                try:
                    results.append({"cid": c, "metadata": await registry.call(model, "metadata_get", {"cid": c}, caller)})
                except IPFSKitError as e:
                    results.append({"cid": c, "error": str(e), "code": e.code})
            return {"type": "results", "results": results}
        if kind == "set":
            params = {k: msg[k] for k in ("cid", "values", "replace") if k in msg}
            md = await registry.call(model, "metadata_set", params, caller)
            return {"type": "metadata", "cid": msg.get("cid"), "metadata": md}
        return {"type": "error", "code": "invalid_argument", "message": f"unknown message type {kind!r}"}
    except IPFSKitError as e:
        return {"type": "error", "code": e.code, "message": str(e)}


async def handle(stream: P2PStream, model: IPFSModel, allowlist: set[str], max_message: int) -> None:
    framed = FramedStream(stream, max_message)
    while True:
        try:
            msg = await framed.recv()
        except (FramingError, IncompleteReadError) as e:
            log.warning("metadata stream from %s: %s; resetting it", stream.peer_id, e)
            await stream.reset()
            return
        if msg is None:
            return
        if isinstance(msg, Block):
            await stream.reset()
            return
        await framed.send_json(await answer(model, stream.peer_id, allowlist, msg))
