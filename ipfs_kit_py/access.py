"""Who may run what: scopes, the caller of an operation, and the one authorization check.

Every channel turns its request into a :class:`Caller` (the HTTP/WebSocket guard
from the handshake's token and Origin, the libp2p protocols from the peer ID and
``libp2p.mcp_allowlist``) and every operation names the :class:`Scope` it needs;
:func:`authorize` decides, in the operation call path (``operations.call``), so a
new channel or operation cannot forget it.

Scopes are ordered: ``admin`` includes ``write``, which includes ``read``.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Forbidden, InvalidArgument


@functools.total_ordering
class Scope(enum.Enum):
    READ = "read"  # content, pins, metadata, stats, event streams
    WRITE = "write"  # add, pin, unpin, metadata, imports, transfers
    ADMIN = "admin"  # gc, verify, tokens, config, shutdown

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Scope):
            return NotImplemented
        return _RANK[self] < _RANK[other]

    @classmethod
    def parse(cls, text: str) -> Scope:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidArgument(f"unknown scope {text!r}: read, write or admin") from None

    def granted(self) -> frozenset[Scope]:
        """This scope and every scope below it."""
        return frozenset(s for s in Scope if s <= self)


_RANK = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}
ALL = frozenset(Scope)
NONE: frozenset[Scope] = frozenset()


@dataclass(frozen=True)
class Caller:
    """Who is asking, as the channel established it."""

    channel: str  # http, ws, webrtc, libp2p, mcp, local
    scopes: frozenset[Scope]
    token_name: str | None = None
    origin: str | None = None
    peer_id: str | None = None

    def describe(self) -> str:
        if self.peer_id:
            return f"peer {self.peer_id}"
        if self.token_name:
            return f"token {self.token_name!r}"
        return f"this {self.channel} client"


LOCAL = Caller("local", ALL)  # in-process callers (CLI on the repo, the server's own work)

# What to do about a refusal, per channel (the error message says it).
_HINTS = {
    "libp2p": "add the peer ID to libp2p.mcp_allowlist",
    "http": "use a token with that scope (ipfs-kit token create NAME --scope SCOPE)",
    "ws": "use a token with that scope (ipfs-kit token create NAME --scope SCOPE)",
    "webrtc": "use a token with that scope (ipfs-kit token create NAME --scope SCOPE)",
    "mcp": "use a token with that scope (ipfs-kit token create NAME --scope SCOPE)",
}


def authorize(caller: Caller, required: Scope, what: str) -> None:
    """Raise :class:`~ipfs_kit_py.errors.Forbidden` unless ``caller`` holds ``required``."""
    if any(s >= required for s in caller.scopes):
        return
    have = max(caller.scopes).value if caller.scopes else "no scope"
    hint = _HINTS.get(caller.channel)
    raise Forbidden(f"{caller.describe()} may not run {what!r}: it needs the {required.value} scope "
                    f"and has {have}" + (f"; {hint}" if hint else ""))


def peer_caller(peer_id: str, allowlist: Iterable[str]) -> Caller:
    """A libp2p peer: write on ``libp2p.mcp_allowlist``, read otherwise."""
    scopes = Scope.WRITE.granted() if peer_id in set(allowlist) else Scope.READ.granted()
    return Caller("libp2p", scopes, peer_id=peer_id)


CALLER_KEY = "caller"  # where the HTTP/WebSocket guard leaves the Caller in the ASGI scope's "state"


def caller_of(asgi_scope: Mapping[str, Any]) -> Caller:
    """The Caller the guard put in an ASGI scope; a route served without the guard
    gets a caller with no scope (refused), never an open door."""
    state = asgi_scope.get("state")
    caller = state.get(CALLER_KEY) if isinstance(state, Mapping) else None
    if isinstance(caller, Caller):
        return caller
    kind = {"websocket": "ws"}.get(str(asgi_scope.get("type")), "http")
    return Caller(kind, NONE)
