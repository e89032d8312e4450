"""Who may run what: scopes, the caller context each channel fills in, and the one check.

Every operation of the registry declares the scope it needs (``read``: looks,
``write``: changes pins, metadata or stored blocks, ``admin``: changes the node
itself). Each channel describes the caller of a request as a :class:`Caller`
(which channel, the scopes it holds, and whatever identifies it: token name,
browser origin, libp2p peer ID); :func:`authorize` is called once, in the
registry's call path, never by an adapter.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import Unauthorized


class Scope(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)
READ_ONLY = frozenset({Scope.READ})


@dataclass(frozen=True, slots=True)
class Caller:
    channel: str  # http, ws, libp2p, cli, internal
    scopes: frozenset[Scope] = ALL_SCOPES
    token_name: str | None = None
    origin: str | None = None
    peer_id: str | None = None

    def who(self) -> str:
        if self.peer_id:
            return f"peer {self.peer_id}"
        if self.token_name:
            return f"token {self.token_name!r}"
        return f"this {self.channel} caller"


def authorize(caller: Caller, required: Scope, what: str) -> None:
    """Raise Unauthorized unless ``caller`` holds ``required`` for ``what``."""
    if required not in caller.scopes:
        raise Unauthorized(f"{caller.who()} may not run {what!r}: it needs the {required.value} scope")


INTERNAL = Caller("internal")  # the server's own calls (and tests of the model)
