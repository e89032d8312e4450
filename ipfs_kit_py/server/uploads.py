"""Bounds on every upload the server reads: size, idle time, total time.

An upload writes blocks that are not pinned until it ends, so it holds the
model's GC guard meanwhile; a client that sends slowly (or not at all) must not
hold it, or a connection, forever. Every upload channel reads its body through
:func:`bounded`: HTTP multipart (add, block/put, dag/import, metadata) and the
binary frames of ``dag_import`` on ``/ws``.

- ``server.max_request_body`` bytes in all (413 ``BodyTooLarge``);
- ``server.upload_idle_timeout`` seconds with nothing received (408);
- ``server.upload_timeout`` seconds from the first byte awaited to the last (408),
  which also stops an upload that trickles a byte now and then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..config import ServerSettings
from ..errors import BodyTooLarge, UploadTimeout

__all__ = ["BodyTooLarge", "UploadLimits", "UploadTimeout", "bounded"]


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_bytes: int = 0  # 0: no limit
    idle: float = 0.0  # seconds; 0: no limit
    total: float = 0.0  # seconds; 0: no limit

    @classmethod
    def of(cls, server: ServerSettings) -> UploadLimits:
        return cls(server.max_request_body, server.upload_idle_timeout, server.upload_timeout)

    def check_declared(self, length: str | int | None) -> None:
        """Refuse at once a body whose declared length (Content-Length) is over the limit."""
        if self.max_bytes and length is not None:
            try:
                n = int(length)
            except ValueError:
                return
            if n > self.max_bytes:
                raise BodyTooLarge(self.too_large())

    def too_large(self) -> str:
        return f"request body exceeds the server's limit of {self.max_bytes} bytes (server.max_request_body)"


async def bounded(chunks: AsyncIterator[bytes], limits: UploadLimits) -> AsyncIterator[bytes]:
    """``chunks`` as they arrive, within ``limits``. The idle limit counts only time
    spent waiting for the sender (a consumer waiting for a GC is not the sender's
    fault); the total deadline is wall time from the first chunk awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.total if limits.total > 0 else None
    received = 0
    while True:
        wait = limits.idle if limits.idle > 0 else None
        overall = False
        if deadline is not None:
            left = deadline - loop.time()
            if left <= 0:
                raise _total_exceeded(limits)
            if wait is None or left < wait:
                wait, overall = left, True
        try:
            async with asyncio.timeout(wait):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            if overall:
                raise _total_exceeded(limits) from None
            raise UploadTimeout(f"the upload sent nothing for {limits.idle:g} s: aborted "
                                "(server.upload_idle_timeout)") from None
        received += len(chunk)
        if limits.max_bytes and received > limits.max_bytes:
            raise BodyTooLarge(limits.too_large())
        yield chunk


def _total_exceeded(limits: UploadLimits) -> UploadTimeout:
    return UploadTimeout(f"the upload took longer than {limits.total:g} s: aborted (server.upload_timeout)")
