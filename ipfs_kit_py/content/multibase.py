"""Multibase: the text encodings a CID or multihash may be written in, by name
(the names Kubo's ``cid format -b`` accepts) and by prefix character."""

from __future__ import annotations

import base64
from collections.abc import Callable

from ..errors import InvalidArgument
from .cid import b58encode

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _B36[r] + out
    return "0" * (len(data) - len(data.lstrip(b"\0"))) + out


# name -> (prefix, encoder of the bytes without the prefix)
_ENCODERS: dict[str, tuple[str, Callable[[bytes], str]]] = {
    "base16": ("f", lambda d: d.hex()),
    "base16upper": ("F", lambda d: d.hex().upper()),
    "base32": ("b", lambda d: base64.b32encode(d).decode().rstrip("=").lower()),
    "base32upper": ("B", lambda d: base64.b32encode(d).decode().rstrip("=")),
    "base32hex": ("v", lambda d: base64.b32hexencode(d).decode().rstrip("=").lower()),
    "base36": ("k", _base36),
    "base58btc": ("z", b58encode),
    "base64": ("m", lambda d: base64.b64encode(d).decode().rstrip("=")),
    "base64pad": ("M", lambda d: base64.b64encode(d).decode()),
    "base64url": ("u", lambda d: base64.urlsafe_b64encode(d).decode().rstrip("=")),
    "base64urlpad": ("U", lambda d: base64.urlsafe_b64encode(d).decode()),
}
NAMES = frozenset(_ENCODERS)


def prefix(name: str) -> str:
    if name not in _ENCODERS:
        raise InvalidArgument(f"unknown multibase {name!r}")
    return _ENCODERS[name][0]


def encode(name: str, data: bytes) -> str:
    """``data`` in multibase ``name``, with its prefix character."""
    pre, enc = _ENCODERS.get(name, (None, None))
    if pre is None or enc is None:
        raise InvalidArgument(f"unknown multibase {name!r}")
    return pre + enc(data)


def name_of(prefix_char: str) -> str | None:
    return next((n for n, (p, _) in _ENCODERS.items() if p == prefix_char), None)
