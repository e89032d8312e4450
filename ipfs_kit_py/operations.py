"""The former name of the operation table: an alias of :mod:`ipfs_kit_py.registry`.

``OPERATIONS``, ``READ_ONLY``, ``MUTATING``, ``INLINE_LIMIT`` and
``call(target, name, params, caller)`` are the registry's; :func:`open_content`
keeps its old form for callers that stream content themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .access import LOCAL, Caller
from .errors import LimitExceeded
from .model import IPFSModel
from .registry import (
    INLINE_LIMIT,
    MUTATING,
    OPERATIONS,
    READ_ONLY,
    ByteStream,
    Operation,
    call,
    call_typed,
    get,
    names,
)

__all__ = ["INLINE_LIMIT", "MUTATING", "OPERATIONS", "READ_ONLY", "Operation", "call", "call_typed", "get", "names",
           "open_content"]


async def open_content(model: IPFSModel, params: Any, limit: int,
                       caller: Caller = LOCAL) -> tuple[str, int, AsyncIterator[bytes]]:
    """Check ``{"cid", "offset"?, "length"?}`` and return (cid, bytes to come, chunks).
    Raises LimitExceeded when more than ``limit`` bytes would be sent."""
    stream: ByteStream = await call_typed(model, "cat", params, caller)
    size = stream.size or 0
    if size > limit:
        raise LimitExceeded(f"{size} bytes exceed this channel's limit of {limit}: use the HTTP gateway")
    return stream.cid, size, stream.chunks
