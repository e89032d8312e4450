"""The operations of the registry (``ipfs_kit_py.registry``), by area:
``content`` (add, cat, pins, blocks, CAR, repo), ``node`` (identity, CID
formatting, libp2p peers, transfers), ``routing`` (providers, peers, providing,
DHT values) and ``media`` (encrypted ingest)."""

from __future__ import annotations

from typing import Any

from . import content, dag, kubo_extra, media, mfs, names, node, pubsub, routing, swarm

OPS: list[Any] = [*content.OPS, *node.OPS, *swarm.OPS, *media.OPS, *mfs.OPS, *dag.OPS, *kubo_extra.OPS, *names.OPS,
                  *pubsub.OPS, *routing.OPS]
