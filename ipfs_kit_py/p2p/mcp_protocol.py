"""``/ipfs-kit/mcp/1.0.0``: the operation registry (``ipfs_kit_py.registry``) over libp2p.

(This "mcp" is the seed's libp2p protocol; the server package the seed called
``ipfs_kit_py.mcp`` is ``ipfs_kit_py.server``, and the Model Context Protocol is
a separate channel at ``/mcp``.)

The seed's form: the client writes ONE JSON object and reads ONE JSON object,
no framing. The request names the operation in ``action``; its parameters are
either the other top-level fields (``{"action": "get_content", "cid": ...}``)
or an object under ``params``. An optional ``id`` is echoed back. The answer
is the operation's typed result as a JSON object (the same shape as on ``/ws``),
or ``{"error": message, "code": code}``; then the server closes the stream.
Streamed results (``cat``, ``dag_export``, ...) come inline, base64, up to
``registry.INLINE_LIMIT`` bytes. A request that has not fully arrived within
``libp2p.stream_idle_timeout`` seconds is answered ``{"error": ..., "code": "timeout"}``
and the stream reset.

Peers on ``libp2p.mcp_allowlist`` run operations of the read and write
scopes (``pin_add``, ``add``, ``metadata_set``, ...); every other peer only
read ones (``access.peer_caller``; the registry decides). Admin operations
(``gc``, ``repo_verify``) are not offered over libp2p.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import access, registry
from ..access import Caller
from ..errors import InvalidArgument, IPFSKitError, LimitExceeded
from ..model import IPFSModel
from .stream import P2PStream, StreamIdle

if TYPE_CHECKING:
    from ..node import Node

log = logging.getLogger(__name__)

PROTOCOL_ID = "/ipfs-kit/mcp/1.0.0"
MAX_REQUEST = 1 << 20  # bytes of one request; content travels in the answer, not the request
MAX_RESPONSE = 10 * 1024 * 1024  # the seed's client reads at most 10 MB
RESERVED = {"action", "params", "id"}
DEFAULT_IDLE_TIMEOUT = 30.0  # seconds a request may take to arrive (the server passes libp2p.stream_idle_timeout)


def parse_request(data: bytes) -> tuple[str, dict[str, Any], Any]:
    """(operation, params, request id) from a request, or InvalidArgument."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidArgument(f"request is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidArgument("request must be a JSON object")
    action = obj.get("action")
    if not isinstance(action, str):
        raise InvalidArgument("request needs a string 'action'")
    if "params" in obj:
        params = obj["params"]
        if not isinstance(params, dict):
            raise InvalidArgument("'params' must be a JSON object")
        extra = sorted(set(obj) - RESERVED)
        if extra:
            raise InvalidArgument(f"give parameters either in 'params' or at top level, not both: {extra}")
    else:
        params = {k: v for k, v in obj.items() if k not in RESERVED}
    return action, params, obj.get("id")


caller_for_peer = access.peer_caller  # the former name


def error_response(e: BaseException) -> dict[str, Any]:
    if isinstance(e, IPFSKitError):
        return {"error": str(e), "code": e.code}
    return {"error": f"internal error: {type(e).__name__}", "code": "error"}


def complete_json(buf: bytes | bytearray) -> bool:
    """True once ``buf`` holds one whole JSON value (so we answer without waiting for EOF)."""
    try:
        json.loads(buf)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


async def read_request(stream: P2PStream, timeout: float | None = None) -> bytes:
    """The request's bytes: up to EOF or a complete JSON value. StreamIdle when the
    whole request has not arrived within ``timeout`` seconds (a request is one
    small write, so one deadline for all of it: a trickling peer cannot hold the
    stream either)."""
    deadline = time.monotonic() + timeout if timeout else None
    buf = bytearray()
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        try:
            if left is not None and left <= 0:
                raise StreamIdle("deadline passed")
            chunk = await stream.read_some(64 * 1024, timeout=left)
        except StreamIdle:
            raise StreamIdle(f"the request did not arrive within {timeout:g} s "
                             "(libp2p.stream_idle_timeout); write it at once") from None
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > MAX_REQUEST:
            raise LimitExceeded(f"request larger than {MAX_REQUEST} bytes")
        if chunk.rstrip().endswith((b"}", b"]", b'"')) and complete_json(buf):
            return bytes(buf)


async def answer(target: IPFSModel | Node, caller: Caller, data: bytes) -> dict[str, Any]:
    """The response object for one request (never raises for bad input)."""
    req_id = None
    try:
        action, params, req_id = parse_request(data)
        op = registry.get(action)
        if "libp2p" not in op.channels:  # admin operations: refused as the scope says, never run
            access.authorize(caller, op.scope, action)
            raise InvalidArgument(f"operation {action!r} is not offered over libp2p")
        result = await registry.call(target, action, params, caller)
        out = result if isinstance(result, dict) else {"result": result}
    except Exception as e:  # noqa: BLE001 - every failure becomes an error answer
        if not isinstance(e, IPFSKitError):
            log.exception("mcp operation failed")
        out = error_response(e)
    if req_id is not None:
        out = {**out, "id": req_id}
    return out


async def handle(stream: P2PStream, target: IPFSModel | Node, caller: Caller | Iterable[str] | None = None, *,
                 allowlist: Iterable[str] | None = None,
                 idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT) -> None:
    """Serve one request for ``caller`` (default: the stream's peer, with write scope
    when it is on ``allowlist``; the seed's form ``handle(stream, model, allowlist)``
    works too). A request not complete within ``idle_timeout`` seconds gets
    ``{"error", "code": "timeout"}`` and the stream is reset."""
    if not isinstance(caller, Caller):
        caller = access.peer_caller(stream.peer_id, caller if caller is not None else allowlist or ())
    try:
        data = await read_request(stream, idle_timeout)
    except (LimitExceeded, StreamIdle) as e:
        await stream.answer_and_reset(json.dumps(error_response(e)).encode())
        return
    response = await answer(target, caller, data)
    body = json.dumps(response, separators=(",", ":")).encode()
    if len(body) > MAX_RESPONSE:
        body = json.dumps(error_response(LimitExceeded(
            f"response of {len(body)} bytes exceeds {MAX_RESPONSE}: use /ipfs-kit/content/1.0.0"))).encode()
    await stream.write(body)
    await stream.close()
