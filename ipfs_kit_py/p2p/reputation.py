"""Peer reputation: a ledger per peer, persisted in the repo (``peer_ledger.json``).

What each peer did for us and we for it: blocks and bytes received and sent,
duplicate blocks, want-blocks it sat on (``failures``), blocks that did not match
their CID (``bad_blocks``), and two measures taken by the bitswap sessions: the
latency from a want-block to its block and the throughput while the peer had
want-blocks in flight (both moving averages). Bans live here too (wall-clock
``banned_until``), so a peer banned before a restart is still refused after it.

The record gives a score in [0, 1] and a standing (``good``, ``neutral``,
``poor``, ``banned``). Sessions ask the best-scored peers first and give a
``poor`` peer a quarter of the window; a change of standing is published as a
``peer_reputation_changed`` event. Pure bookkeeping: no I/O but :meth:`save`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "peer_ledger.json"
MAX_PEERS = 10_000  # records kept (the least recently seen go first)
EWMA = 0.2  # weight of a new latency / throughput sample
GOOD, NEUTRAL, POOR, BANNED = "good", "neutral", "poor", "banned"


@dataclass(slots=True)
class PeerRecord:
    peer: str
    blocks_received: int = 0
    bytes_received: int = 0
    blocks_sent: int = 0
    bytes_sent: int = 0
    dup_blocks: int = 0  # blocks it sent that another peer had delivered already
    failures: int = 0  # want-blocks it sat on past retrieval.block_timeout, or sends that failed
    bad_blocks: int = 0  # blocks whose bytes matched no CID we asked for
    latency_ms: float | None = None  # want-block -> block, moving average
    throughput: float | None = None  # bytes/s while it had want-blocks in flight, moving average
    first_seen: float = 0.0
    last_seen: float = 0.0
    banned_until: float = 0.0  # wall clock (time.time()); 0: not banned
    ban_reason: str = ""
    bans: int = 0

    def banned(self, now: float | None = None) -> bool:
        return self.banned_until > (time.time() if now is None else now)

    def score(self) -> float:
        """1 for a peer that always delivered, lower with failures and bad blocks; 0.5 unknown."""
        if self.banned():
            return 0.0
        delivered, failed = self.blocks_received, self.failures
        if delivered + failed == 0:
            base = 0.5
        else:  # delivery ratio, smoothed: one failure alone is not the end of a peer
            base = (delivered + 1) / (delivered + failed + 1)
        return max(0.0, base - 0.25 * min(self.bad_blocks, 4))

    def standing(self) -> str:
        if self.banned():
            return BANNED
        s = self.score()
        if s < 0.3:
            return POOR
        if self.blocks_received >= 1 and s >= 0.7:
            return GOOD
        return NEUTRAL

    def to_view(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(self.score(), 4)
        d["standing"] = self.standing()
        d["banned_for"] = max(0.0, round(self.banned_until - time.time(), 1)) if self.banned() else 0.0
        return d


_FIELDS = {f.name for f in fields(PeerRecord)}


class PeerLedger:
    """Every peer's record; ``on_change(peer, standing, previous, record)`` when a standing changes."""

    def __init__(self, path: Path | None = None, *,
                 on_change: Callable[[str, str, str, PeerRecord], None] | None = None) -> None:
        self.path = path
        self.on_change = on_change
        self.records: dict[str, PeerRecord] = {}
        self.dirty = False
        if path is not None:
            self.load()

    # -- persistence -------------------------------------------------------------------------
    def load(self) -> None:
        assert self.path is not None
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:  # a damaged ledger is not worth refusing to start
            log.warning("peer ledger %s unreadable (%s): starting empty", self.path, e)
            return
        for d in raw.get("peers", []) if isinstance(raw, dict) else []:
            if isinstance(d, dict) and isinstance(d.get("peer"), str):
                with contextlib.suppress(TypeError, ValueError):
                    self.records[d["peer"]] = PeerRecord(**{k: v for k, v in d.items() if k in _FIELDS})

    def save(self) -> None:
        """Write the ledger (temp file + rename) if it changed."""
        if self.path is None or not self.dirty:
            return
        self.dirty = False
        data = {"version": 1, "peers": [asdict(r) for r in self.records.values()]}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, self.path)

    # -- records -------------------------------------------------------------------------------
    def get(self, peer: str) -> PeerRecord | None:
        return self.records.get(peer)

    def record(self, peer: str) -> PeerRecord:
        r = self.records.get(peer)
        now = time.time()
        if r is None:
            if len(self.records) >= MAX_PEERS:
                oldest = min(self.records.values(), key=lambda x: (x.banned(now), x.last_seen))
                del self.records[oldest.peer]
            r = self.records[peer] = PeerRecord(peer, first_seen=now)
        r.last_seen = now
        self.dirty = True
        return r

    def score(self, peer: str) -> float:
        r = self.records.get(peer)
        return 0.5 if r is None else r.score()

    def standing(self, peer: str) -> str:
        r = self.records.get(peer)
        return NEUTRAL if r is None else r.standing()

    def _changed(self, r: PeerRecord, before: str, reason: str) -> None:
        now = r.standing()
        if now != before and self.on_change is not None:
            try:
                self.on_change(r.peer, now, before, r)
            except Exception:  # noqa: BLE001 - a listener never breaks the bookkeeping
                log.exception("peer reputation listener failed (%s)", reason)

    # -- what happened ---------------------------------------------------------------------------
    def received(self, peer: str, size: int, *, duplicate: bool = False) -> None:
        r = self.record(peer)
        before = r.standing()
        if duplicate:
            r.dup_blocks += 1
        else:
            r.blocks_received += 1
        r.bytes_received += size
        self._changed(r, before, "received")

    def sent(self, peer: str, blocks: int, size: int) -> None:
        r = self.record(peer)
        r.blocks_sent += blocks
        r.bytes_sent += size

    def measured(self, peer: str, *, latency: float | None = None, throughput: float | None = None) -> None:
        r = self.record(peer)
        if latency is not None:
            ms = latency * 1000.0
            r.latency_ms = ms if r.latency_ms is None else (1 - EWMA) * r.latency_ms + EWMA * ms
        if throughput is not None:
            r.throughput = throughput if r.throughput is None else (1 - EWMA) * r.throughput + EWMA * throughput

    def failed(self, peer: str, reason: str = "") -> None:
        r = self.record(peer)
        before = r.standing()
        r.failures += 1
        self._changed(r, before, reason or "failure")

    def bad_block(self, peer: str, reason: str, ban_seconds: float) -> None:
        """A block that matched no CID we asked for: counted, and the peer banned."""
        r = self.record(peer)
        before = r.standing()
        r.bad_blocks += 1
        if ban_seconds > 0:
            r.banned_until = max(r.banned_until, time.time() + ban_seconds)
            r.ban_reason = reason
            r.bans += 1
        self._changed(r, before, reason)

    def banned(self) -> dict[str, float]:
        """Peers banned now -> seconds left."""
        now = time.time()
        return {p: r.banned_until - now for p, r in self.records.items() if r.banned(now)}

    def expire_bans(self) -> None:
        """Publish the standing of peers whose ban ran out."""
        now = time.time()
        for r in self.records.values():
            if r.banned_until and not r.banned(now):
                r.banned_until = 0.0
                self.dirty = True
                self._changed(r, BANNED, "ban expired")

    def unban(self, peer: str) -> bool:
        r = self.records.get(peer)
        if r is None or not r.banned():
            return False
        r.banned_until = 0.0
        self.dirty = True
        self._changed(r, BANNED, "unbanned")
        return True

    def view(self, peer: str | None = None) -> list[dict[str, Any]]:
        """Records (all, or one peer's), best score first."""
        recs = [self.records[peer]] if peer is not None and peer in self.records else (
            [] if peer is not None else list(self.records.values()))
        return [r.to_view() for r in sorted(recs, key=lambda r: (-r.score(), -r.bytes_received))]
