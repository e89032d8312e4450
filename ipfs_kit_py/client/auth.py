"""API tokens on the client side: how each channel sends one (docs/protocols.md, "Access").

- HTTP and Python WebSocket clients: ``Authorization: Bearer <token>``;
- browsers' WebSockets (which cannot set headers): the subprotocols
  ``["ipfs-kit", "ipfs-kit-token.<token>"]``; the server chooses ``ipfs-kit``.

Low-level clients take the token they are given and nothing else (a server
pushing content elsewhere must never send its own credentials along);
``IPFSSimpleAPI`` and the CLI fall back to ``$IPFS_KIT_TOKEN``.
"""

from __future__ import annotations

import os

ENV = "IPFS_KIT_TOKEN"
SUBPROTOCOL = "ipfs-kit"
TOKEN_SUBPROTOCOL = "ipfs-kit-token."


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def token_from_env(token: str | None) -> str | None:
    """``token`` if given, else ``$IPFS_KIT_TOKEN`` (empty: none)."""
    return token if token is not None else (os.environ.get(ENV) or None)


def browser_subprotocols(token: str) -> list[str]:
    """What a browser passes as ``new WebSocket(url, protocols)`` to send a token."""
    return [SUBPROTOCOL, TOKEN_SUBPROTOCOL + token]
