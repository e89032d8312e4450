"""The operations of the registry (``ipfs_kit_py.registry``), by area:
``content`` (add, cat, pins, blocks, CAR, repo) and ``node`` (identity, CID
formatting, libp2p peers, transfers, DHT)."""

from __future__ import annotations

from typing import Any

from . import content, node

OPS: list[Any] = [*content.OPS, *node.OPS]
