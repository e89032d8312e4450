"""Waiting for a condition, never for a guessed time: poll until ``check()`` is true
and fail (with ``what``) when ``timeout`` seconds pass first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_for(check: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not met in {timeout} s"
        time.sleep(0.02)


async def async_wait_for(check: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    """The same on an event loop: the loop keeps running between checks."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not met in {timeout} s"
        await asyncio.sleep(0.01)
