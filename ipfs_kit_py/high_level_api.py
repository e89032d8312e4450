"""``IPFSSimpleAPI``: the client a user touches first.

    from ipfs_kit_py.high_level_api import IPFSSimpleAPI

    async with IPFSSimpleAPI(mcp_url="http://localhost:8000") as api:
        added = await api.add(b"hello")
        assert await api.cat(added.cid) == b"hello"

    with IPFSSimpleAPI.sync("localhost:8000") as api:   # scripts and notebooks
        print(api.add("photo.jpg").cid)

Content operations go over the server's Kubo-compatible HTTP API
(``ipfs_kit_py.client.http``) and return typed results; failures raise the
typed exceptions of ``ipfs_kit_py.errors``. The other channels (WebSocket
notifications, WebRTC streaming, libp2p transfer) are thin methods delegating
to their own client modules, in the marked section below.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from .client import ContentBackend, HTTPClient, normalize_url
from .client.auth import token_from_env
from .client.base import CarSource
from .client.http import DEFAULT_TIMEOUT
from .client.types import (
    Added,
    AddOptions,
    CarImport,
    Libp2pTransfer,
    LsEntry,
    Metadata,
    NodeId,
    Pin,
    Progress,
    Stat,
    TransferReport,
    VersionInfo,
)
from .errors import InvalidArgument

if TYPE_CHECKING:  # these modules load aiortc and websockets: imported when first used
    from .client.hybrid import StreamWithMetadata
    from .client.notifications import NotificationSubscription
    from .client.retrieve import Retrieved
    from .client.streaming import MediaStream

T = TypeVar("T")
READ_SIZE = 1 << 20

Content = bytes | bytearray | memoryview | str | os.PathLike[str] | AsyncIterable[bytes] | BinaryIO
"""What ``add`` takes: bytes, a path (file or directory), an async byte stream or an open binary file."""


async def _read_file_object(f: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(f.read, READ_SIZE):
        yield chunk


class IPFSSimpleAPI:
    """The whole operation set of an ipfs_kit_py server behind one object."""

    def __init__(self, mcp_url: str = "http://localhost:8000", *, timeout: float | None = DEFAULT_TIMEOUT,
                 backend: ContentBackend | None = None, token: str | None = None) -> None:
        """``mcp_url``: ``http://host:port`` or ``host:port``. ``backend`` replaces the HTTP client
        (e.g. ``LocalClient(repo)`` to work on a repo in-process). ``token``: an API token
        (``ipfs-kit token create``; default ``$IPFS_KIT_TOKEN``), sent on every channel."""
        self.base_url = normalize_url(mcp_url)
        self.token = token_from_env(token)
        self.client: ContentBackend = backend or HTTPClient(self.base_url, timeout=timeout, token=self.token)
        self._closers: list[Callable[[], Awaitable[None]]] = []  # channel resources to close with us

    @property
    def host_port(self) -> str:
        """``host:port`` of the server (the seed's ``ws://{mcp_url}/...`` form)."""
        return self.base_url.split("://", 1)[1]

    @property
    def ws_url(self) -> str:
        """Base URL for the WebSocket routes (``/ws``, ``/ws/notifications``, ``/ws/webrtc``)."""
        from .client.notifications import ws_url

        return ws_url(self.base_url, "")

    @classmethod
    def sync(cls, mcp_url: str = "http://localhost:8000", **kwargs: Any) -> SyncIPFSSimpleAPI:
        """A blocking facade over a new API object (for scripts and notebooks)."""
        return SyncIPFSSimpleAPI(mcp_url, **kwargs)

    # -- lifecycle ----------------------------------------------------------------------
    def _on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Channel methods register what must be closed with the API (subscriptions, sessions)."""
        self._closers.append(closer)

    async def close(self) -> None:
        closers, self._closers = self._closers, []
        try:
            for closer in reversed(closers):
                await closer()
        finally:
            await self.client.close()

    async def __aenter__(self) -> IPFSSimpleAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- content ------------------------------------------------------------------------
    async def add(self, content: Content, *, name: str = "", progress: Progress | None = None,
                  **options: Any) -> Added:
        """Add bytes, a file or directory path (recursively), an async byte stream or an open
        binary file; return the root. ``options`` are ``AddOptions`` fields: ``pin``,
        ``only_hash``, ``cid_version``, ``raw_leaves``, ``chunker``, ``profile``,
        ``wrap_with_directory``, ``hidden``. ``progress(n)`` gets the bytes sent so far."""
        if isinstance(content, (str, os.PathLike)):
            return (await self.add_path(content, progress=progress, **options))[-1]
        opts = AddOptions(**options)
        if isinstance(content, (bytes, bytearray, memoryview)):
            data = bytes(content)
            result = await self.client.add_bytes(data, name, opts)
            if progress:
                progress(len(data))
            return result
        if hasattr(content, "__aiter__"):
            return await self.client.add_stream(content, name, opts, progress)
        if hasattr(content, "read"):
            return await self.client.add_stream(_read_file_object(content), name, opts, progress)
        raise InvalidArgument(f"cannot add a {type(content).__name__}: give bytes, a path or a byte stream")

    async def add_path(self, path: str | os.PathLike[str], *, progress: Progress | None = None,
                       **options: Any) -> list[Added]:
        """Add a file or directory (recursively); every entry, the root last."""
        options.setdefault("recursive", True)
        return await self.client.add_path(Path(path), AddOptions(**options), progress)

    async def cat(self, cid: str, offset: int = 0, length: int | None = None) -> bytes:
        """The bytes of a file (or a range of it). Use ``cat_stream`` for large content."""
        return b"".join([chunk async for chunk in self.client.cat(cid, offset, length)])

    async def cat_stream(self, cid: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of a file as they arrive."""
        async for chunk in self.client.cat(cid, offset, length):
            yield chunk

    async def get(self, cid: str, dest: str | os.PathLike[str], progress: Progress | None = None) -> int:
        """Write a file or directory tree to ``dest``; return the file bytes written."""
        return await self.client.get(cid, Path(dest), progress)

    async def ls(self, cid: str) -> list[LsEntry]:
        return await self.client.ls(cid)

    async def stat(self, cid: str) -> Stat:
        return await self.client.stat(cid)

    async def pin(self, cid: str, recursive: bool = True) -> list[str]:
        return await self.client.pin_add(cid, recursive)

    async def unpin(self, cid: str) -> list[str]:
        return await self.client.pin_rm(cid)

    async def list_pins(self, type: str = "all") -> list[Pin]:
        return await self.client.pin_ls(type)

    async def get_metadata(self, cid: str) -> Metadata:
        return await self.client.metadata_get(cid)

    async def set_metadata(self, cid: str, values: dict[str, Any], replace: bool = False) -> Metadata:
        return await self.client.metadata_set(cid, values, replace)

    async def export_car(self, cid: str, dest: str | os.PathLike[str]) -> int:
        """Write the DAG under ``cid`` to the file ``dest`` as CAR v1; return its size."""
        size = 0
        with open(dest, "wb") as f:
            async for chunk in self.client.dag_export(cid):
                await asyncio.to_thread(f.write, chunk)
                size += len(chunk)
        return size

    async def import_car(self, source: CarSource, pin_roots: bool = True) -> CarImport:
        """Import a CAR (path, bytes or async stream), verifying every block; pin its roots."""
        return await self.client.dag_import(source, pin_roots)

    async def id(self) -> NodeId:
        return await self.client.id()

    async def version(self) -> VersionInfo:
        return await self.client.version()

    # -- other channels -------------------------------------------------------------------
    # Thin methods delegating to each channel's own client module under
    # ipfs_kit_py/client/, registering long-lived resources with self._on_close:
    #   subscribe_to_notifications(callback, ...)  -> client/notifications.py (WebSocket)
    #   stream_content(cid, ...)                   -> client/streaming.py (WebRTC)
    #   transfer_via_libp2p(cid, target_peer)      -> client/transfer.py (libp2p)
    #   transfer_content(cid, target_peer)         -> client/transfer.py (fallback chain)

    async def subscribe_to_notifications(self, callback: Callable[[dict[str, Any]], Any],
                                         notification_types: list[str] | str | None = None,
                                         filters: dict[str, Any] | None = None,
                                         **options: Any) -> NotificationSubscription:
        """Call ``callback(event)`` (sync or async) for every matching event, exactly once and in
        order, reconnecting and resuming by sequence number by itself. Returns the subscription:
        ``await sub.stop()`` (or ``close()``) ends it; closing the API ends it too. ``options``:
        since, on_gap, min_backoff, max_backoff, open_timeout (client/notifications.py)."""
        from .client.notifications import subscribe

        options.setdefault("token", self.token)
        sub = await subscribe(self.base_url, callback, notification_types, filters, **options)
        self._on_close(sub.stop)
        return sub

    async def stream_content(self, cid: str, **options: Any) -> MediaStream:
        """Play ``cid`` over WebRTC: a ``MediaStream`` (``async for frame in stream``, ``stats()``,
        ``fetch(cid)`` over its data channel, ``close()``); options: tracks, codec, quality, start, loop."""
        from .client.streaming import stream_content

        options.setdefault("token", self.token)
        stream = await stream_content(self.base_url, cid, **options)
        self._on_close(stream.close)
        return stream

    async def fetch_via_datachannel(self, cid: str, timeout: float = 60) -> bytes:
        """The content of ``cid`` over a WebRTC data channel, verified block by block against the CID."""
        from .client.streaming import fetch_content

        return await fetch_content(self.base_url, cid, timeout=timeout, token=self.token)

    async def get_content(self, cid: str, *, channel: str | None = None, priority: str = "normal",
                          **stream_options: Any) -> Retrieved:
        """Retrieve ``cid`` over ``channel`` ("webrtc", "websocket" or "libp2p"), or over the
        one ``select_protocol(content_type, size, priority)`` picks: a ``Retrieved`` with
        ``.data`` (bytes) or ``.stream`` (a WebRTC MediaStream for audio and video)."""
        from .client.retrieve import get_content

        got = await get_content(self.base_url, cid, channel=channel, priority=priority,  # type: ignore[arg-type]
                                token=self.token, **stream_options)
        if got.stream is not None:
            self._on_close(got.stream.close)
        return got

    async def stream_with_metadata(self, cid: str, **options: Any) -> StreamWithMetadata:
        """A WebRTC stream of ``cid`` and its metadata over the WebSocket, started together:
        a ``StreamWithMetadata`` (``.stream``, ``.metadata``, ``close()``)."""
        from .client.hybrid import stream_with_metadata

        options.setdefault("token", self.token)
        both = await stream_with_metadata(cid, self.base_url, **options)
        self._on_close(both.close)
        return both

    async def transfer_via_libp2p(self, cid: str, target_peer: str, **options: Any) -> Libp2pTransfer:
        """Have the server push ``cid`` to ``target_peer`` (a ``/p2p/`` multiaddr or a connected peer ID)
        over /ipfs-kit/content/1.0.0; the target verifies and pins it. Options: pin, transfer_id, timeout."""
        from .client.transfer import transfer_via_libp2p

        options.setdefault("token", self.token)
        return await transfer_via_libp2p(self.base_url, cid, target_peer, **options)

    async def transfer_content(self, cid: str, target_peer: str, **options: Any) -> TransferReport:
        """Have the server push ``cid`` to another node, libp2p first, then WebSocket, then HTTP;
        ``target_peer`` is its URL, peer ID or multiaddr. Raises TransferError (``.attempts``)
        if every channel fails. Options: channels, timeout."""
        from .client.transfer import transfer_content

        options.setdefault("token", self.token)
        return await transfer_content(self.base_url, cid, target_peer, **options)


class SyncIPFSSimpleAPI:
    """``IPFSSimpleAPI`` with blocking methods, for scripts and notebooks.

    Every call runs on a private event loop in a background thread, so it works
    inside an already running loop (Jupyter) too. Coroutine methods return their
    result; async iterators become ordinary iterators. Callbacks (progress,
    notifications) run on that background thread.
    """

    def __init__(self, mcp_url: str = "http://localhost:8000", **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ipfs-kit-sync", daemon=True)
        self._thread.start()
        self._api = IPFSSimpleAPI(mcp_url, **kwargs)

    @property
    def api(self) -> IPFSSimpleAPI:
        """The wrapped async API."""
        return self._api

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coro.close()
            raise RuntimeError("this SyncIPFSSimpleAPI is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self._run(agen.__anext__())  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and not self._loop.is_closed():
                self._run(aclose())

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._api, name)
        if inspect.isasyncgenfunction(attr):
            @functools.wraps(attr)
            def iterate(*args: Any, **kwargs: Any) -> Iterator[Any]:
                return self._iterate(attr(*args, **kwargs))
            return iterate
        if inspect.iscoroutinefunction(attr):
            @functools.wraps(attr)
            def call(*args: Any, **kwargs: Any) -> Any:
                return self._run(attr(*args, **kwargs))
            return call
        return attr

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {n for n in dir(self._api) if not n.startswith("_")})

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self._api.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    def __enter__(self) -> SyncIPFSSimpleAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
