"""Durations (Go's ``time.ParseDuration`` plus ``d``, as Kubo accepts) and IPNS name paths."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import InvalidArgument
from ..keystore import parse_peer_id

if TYPE_CHECKING:
    from libp2p.peer.id import ID

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def parse_duration(text: str) -> float:
    """Seconds in ``text`` ("300s", "1.5h", "7d2h45m", "0")."""
    t = text.strip()
    if t in ("0", ""):
        if t == "":
            raise InvalidArgument("empty duration")
        return 0.0
    pos, total = 0, 0.0
    while pos < len(t):
        m = _PART.match(t, pos)
        if not m:
            raise InvalidArgument(f"invalid duration {text!r} (e.g. 300s, 1.5h, 7d2h45m)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total


def format_duration(seconds: float) -> str:
    """Go's ``Duration.String`` for whole seconds and up (48h0m0s, 5m0s, 30s)."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m}m{sec}s" if h else f"{m}m{sec}s"


def split_name_path(path: str) -> tuple[str, str]:
    """``/ipns/<name>[/rest]`` or ``<name>[/rest]`` -> (name, "/rest" or "")."""
    p = path.strip()
    if p.startswith("/ipns/"):
        p = p[6:]
    elif p.startswith("/"):
        raise InvalidArgument(f"not an IPNS path: {path!r}")
    name, _, rest = p.partition("/")
    if not name:
        raise InvalidArgument("empty IPNS name")
    return name, ("/" + rest if rest else "")


def name_id(name: str) -> ID:
    """The peer ID an IPNS name stands for (a DNSLink domain is refused: no DNS here)."""
    if "." in name:
        raise InvalidArgument(f"{name} looks like a DNSLink domain: DNSLink resolution is not supported")
    return parse_peer_id(name)
