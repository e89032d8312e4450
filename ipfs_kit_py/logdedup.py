"""Identical log records, logged once with a count.

At the open-file limit asyncio logged ``socket.accept() out of system resource``
with its traceback about 2,000 times a second (124 MB in 40 s). ``install()``
puts a :class:`RepeatFilter` on every handler of the root and uvicorn loggers:
the first of a run of identical records (same logger, level, place, message
and exception) goes out whole; repeats within ``window`` seconds are counted,
and one line reports them when the window has passed (or at ``flush()``).
Records below ``min_level`` are never held back.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

WINDOW = 60.0  # seconds a run of identical records is summed up over
SWEEP_EVERY = 1.0  # seconds between checks for runs whose window has passed
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")  # whose handlers get the filter

Key = tuple[str, int, str, int, str, str]


@dataclass
class _Run:
    first: logging.LogRecord
    started: float
    repeats: int = 0


def _key(record: logging.LogRecord) -> Key:
    exc = record.exc_info[1] if record.exc_info else None
    exc_text = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    return (record.name, record.levelno, record.pathname, record.lineno, record.getMessage(), exc_text)


class RepeatFilter(logging.Filter):
    """A handler filter that lets the first of identical records through and counts the rest."""

    def __init__(self, handler: logging.Handler, window: float = WINDOW, min_level: int = logging.WARNING,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.handler = handler
        self.window = window
        self.min_level = min_level
        self.clock = clock
        self._runs: dict[Key, _Run] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_repeat_summary", False):
            return True
        now = self.clock()
        due: list[_Run] = []
        with self._lock:
            if now >= self._next_sweep:
                due = self._expired(now)
                self._next_sweep = now + SWEEP_EVERY
            passed = True
            if record.levelno >= self.min_level:
                key = _key(record)
                run = self._runs.get(key)
                if run is not None and now - run.started < self.window:
                    run.repeats += 1
                    passed = False
                else:
                    if run is not None and run.repeats:
                        due.append(run)
                    self._runs[key] = _Run(record, now)
        self._report(due, now)
        return passed

    def flush(self) -> None:
        """Report every run that has repeats now (at shutdown)."""
        now = self.clock()
        with self._lock:
            due = [r for r in self._runs.values() if r.repeats]
            self._runs.clear()
        self._report(due, now)

    def _expired(self, now: float) -> list[_Run]:
        gone = [k for k, r in self._runs.items() if now - r.started >= self.window]
        return [r for r in (self._runs.pop(k) for k in gone) if r.repeats]

    def _report(self, runs: Iterable[_Run], now: float) -> None:
        for run in runs:
            first = run.first
            line = first.getMessage().splitlines()[0] if first.getMessage() else ""
            summary = logging.LogRecord(
                first.name, first.levelno, first.pathname, first.lineno,
                "the previous message was repeated %d more times in %.0f s: %s",
                (run.repeats, max(now - run.started, 0.0), line), None,
            )
            summary._repeat_summary = True
            self.handler.handle(summary)


_installed: list[RepeatFilter] = []


def install(window: float = WINDOW, loggers: Iterable[str] = LOGGERS) -> list[RepeatFilter]:
    """Put a RepeatFilter on every handler of ``loggers`` (once per handler); pending counts
    are reported at exit."""
    if not _installed:
        atexit.register(flush)  # runs before logging's own shutdown (registered earlier)
    seen = {id(f.handler) for f in _installed}
    added = []
    for name in loggers:
        for handler in logging.getLogger(name or None).handlers:
            if id(handler) in seen:
                continue
            seen.add(id(handler))
            f = RepeatFilter(handler, window)
            handler.addFilter(f)
            added.append(f)
    _installed.extend(added)
    return added


def flush() -> None:
    """Report pending repeat counts on every installed filter."""
    for f in _installed:
        f.flush()
