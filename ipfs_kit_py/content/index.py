"""Pins and metadata in SQLite (WAL mode) inside the repo directory."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument
from .metadata import Metadata as Metadata  # its own module: clients use it without SQLite

RECURSIVE = "recursive"
DIRECT = "direct"
PIN_TYPES = (RECURSIVE, DIRECT)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pins (
    cid TEXT PRIMARY KEY,
    type TEXT NOT NULL CHECK (type IN ('recursive', 'direct')),
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS metadata (
    cid TEXT PRIMARY KEY,
    name TEXT,
    size INTEGER,
    content_type TEXT,
    added REAL,
    user TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS pin_names (cid TEXT PRIMARY KEY, name TEXT NOT NULL);
"""


class Index:
    """One SQLite connection shared under a lock: writes are tiny and rare next to block I/O."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _q(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # -- pins ----------------------------------------------------------------
    def pin(self, cid: str, type_: str = RECURSIVE) -> str | None:
        """Pin; return the previous pin type (None if it was not pinned).
        A recursive pin is never downgraded to direct."""
        if type_ not in PIN_TYPES:
            raise InvalidArgument(f"invalid pin type {type_!r}: choose recursive or direct")
        with self._lock:
            row = self._db.execute("SELECT type FROM pins WHERE cid=?", (cid,)).fetchone()
            old: str | None = row[0] if row else None
            if old == RECURSIVE and type_ == DIRECT:
                return old
            self._db.execute(
                "INSERT INTO pins(cid, type, created) VALUES(?,?,?) "
                "ON CONFLICT(cid) DO UPDATE SET type=excluded.type",
                (cid, type_, time.time()),
            )
            return old

    def unpin(self, cid: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT type FROM pins WHERE cid=?", (cid,)).fetchone()
            if row:
                self._db.execute("DELETE FROM pins WHERE cid=?", (cid,))
                self._db.execute("DELETE FROM pin_names WHERE cid=?", (cid,))
            return row[0] if row else None

    def set_pin_name(self, cid: str, name: str) -> None:
        """Name a pin (Kubo's ``pin add --name``); "" removes the name."""
        if name:
            self._q("INSERT INTO pin_names(cid, name) VALUES(?,?) ON CONFLICT(cid) DO UPDATE SET name=excluded.name",
                    (cid, name))
        else:
            self._q("DELETE FROM pin_names WHERE cid=?", (cid,))

    def pin_names(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._q("SELECT cid, name FROM pin_names")}

    def pin_type(self, cid: str) -> str | None:
        rows = self._q("SELECT type FROM pins WHERE cid=?", (cid,))
        return rows[0][0] if rows else None

    def pins(self, type_: str | None = None) -> list[tuple[str, str]]:
        if type_ in (None, "all"):
            return [(r[0], r[1]) for r in self._q("SELECT cid, type FROM pins ORDER BY created")]
        return [(r[0], r[1]) for r in self._q("SELECT cid, type FROM pins WHERE type=? ORDER BY created", (type_,))]

    # -- metadata ------------------------------------------------------------
    def get_metadata(self, cid: str) -> Metadata | None:
        rows = self._q("SELECT cid, name, size, content_type, added, user FROM metadata WHERE cid=?", (cid,))
        if not rows:
            return None
        c, name, size, ctype, added, user = rows[0]
        return Metadata(c, name, size, ctype, added, json.loads(user or "{}"))

    def record(self, cid: str, *, name: str | None, size: int | None, content_type: str | None) -> None:
        """Record system metadata for content just added (keeps user keys and first add time)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO metadata(cid, name, size, content_type, added) VALUES(?,?,?,?,?) "
                "ON CONFLICT(cid) DO UPDATE SET name=COALESCE(excluded.name, name), "
                "size=excluded.size, content_type=COALESCE(excluded.content_type, content_type)",
                (cid, name, size, content_type, time.time()),
            )

    def update_user(self, cid: str, values: dict[str, Any], *, replace: bool = False) -> Metadata:
        """Merge (or replace) user key/values; a value of None deletes its key."""
        with self._lock:
            row = self._db.execute("SELECT user FROM metadata WHERE cid=?", (cid,)).fetchone()
            user = {} if replace or not row else json.loads(row[0] or "{}")
            for k, v in values.items():
                if v is None:
                    user.pop(k, None)
                else:
                    user[k] = v
            self._db.execute(
                "INSERT INTO metadata(cid, user) VALUES(?,?) ON CONFLICT(cid) DO UPDATE SET user=excluded.user",
                (cid, json.dumps(user)),
            )
        md = self.get_metadata(cid)
        assert md is not None
        return md

    def delete_metadata(self, cid: str) -> None:
        self._q("DELETE FROM metadata WHERE cid=?", (cid,))

    def metadata_cids(self) -> list[str]:
        """Every CID with a metadata record (GC forgets those whose blocks it removed)."""
        return [r[0] for r in self._q("SELECT cid FROM metadata")]

    def list_metadata(self, limit: int = 1000) -> list[Metadata]:
        rows = self._q("SELECT cid, name, size, content_type, added, user FROM metadata ORDER BY added LIMIT ?", (limit,))
        return [Metadata(c, n, s, t, a, json.loads(u or "{}")) for c, n, s, t, a, u in rows]

    # -- small persistent state (e.g. the event sequence across restarts) ----
    def get_state(self, key: str) -> str | None:
        rows = self._q("SELECT value FROM state WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def set_state(self, key: str, value: str) -> None:
        self._q("INSERT INTO state(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))
