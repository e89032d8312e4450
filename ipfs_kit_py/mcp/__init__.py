"""Alias package: ``ipfs_kit_py.mcp`` is the seed's name of the server package,
which now lives in :mod:`ipfs_kit_py.server` (the Model-Controller-Persistence
server: HTTP API, gateway, WebSocket hub).

"mcp" means three different things in this project:

- this package, the seed's name of the server (kept: ``python -m ipfs_kit_py.mcp.server``
  and ``from ipfs_kit_py.mcp.<module> import ...`` still work, and give the very
  same module objects as ``ipfs_kit_py.server.<module>``);
- the seed's libp2p protocol ``/ipfs-kit/mcp/1.0.0``: :mod:`ipfs_kit_py.p2p.mcp_protocol`;
- the Model Context Protocol (tools for AI agents), served at ``/mcp``: a channel
  of its own, generated from the operation registry like the others.
"""

from __future__ import annotations

import importlib
import sys

_MODULES = ("connlimit", "gateway", "guard", "http_api", "multipart", "rpc_wire", "uploads", "ws_hub", "ws_protocol")


def _alias(name: str) -> None:
    sys.modules[f"{__name__}.{name}"] = importlib.import_module(f"ipfs_kit_py.server.{name}")


def __getattr__(name: str) -> object:
    if name in _MODULES:
        _alias(name)
        return sys.modules[f"{__name__}.{name}"]
    raise AttributeError(name)
