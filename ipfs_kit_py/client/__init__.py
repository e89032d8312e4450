"""Clients of an ipfs_kit_py node.

- ``HTTPClient``: the operation set over a server's Kubo-compatible ``/api/v0``.
- ``LocalClient``: the same operations on a repo opened in-process (no server);
  it runs the model, so it lives in ``ipfs_kit_py.local_backend`` and is imported
  only when asked for (``client.LocalClient``, or ``open_backend`` on a repo with
  no server).
- ``open_backend``: pick one as Kubo's CLI does: the server running on the
  repo when there is one, else the repo itself.

This package imports no server code (no model, importer, server or WebRTC server
modules); what both sides need lives in neutral modules: ``ipfs_kit_py.types``
(result types, ``AddOptions``), ``content.fswalk`` (the walk for uploads),
``ipfs_kit_py.ice`` and ``ipfs_kit_py.car_channel`` (WebRTC), ``errors.BY_CODE``.

Later channels (WebSocket notifications, WebRTC streaming, libp2p transfer)
add their own modules here; ``ipfs_kit_py.high_level_api.IPFSSimpleAPI``
puts them behind one object.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from ..config import default_repo_path
from ..errors import RepoLocked
from ..repo import api_url_for
from ..tokens import read_run_secret
from .base import CarSource, ContentBackend
from .types import (
    Added,
    AddOptions,
    BlockStat,
    CarImport,
    LsEntry,
    Metadata,
    NodeId,
    Pin,
    Progress,
    RepoStat,
    Stat,
    VerifyResult,
    VersionInfo,
)

if TYPE_CHECKING:
    from ..local_backend import LocalClient
    from .http import HTTPClient, normalize_url

__all__ = [
    "AddOptions", "Added", "BlockStat", "CarImport", "CarSource", "ContentBackend", "HTTPClient", "LocalClient",
    "LsEntry", "Metadata", "NodeId", "Pin", "Progress", "RepoStat", "Stat", "VerifyResult",
    "VersionInfo", "normalize_url", "open_backend",
]



def __getattr__(name: str) -> Any:
    # imported when first used: the in-process backend loads the model, the HTTP client
    # httpx; the CLI's start (``ipfs-kit version``) needs neither
    if name == "LocalClient":
        from ..local_backend import LocalClient

        return LocalClient
    if name in ("HTTPClient", "normalize_url"):
        from . import http

        return getattr(http, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SERVER_START_WAIT = 5.0  # seconds to wait for a server that holds the lock but has no api file yet


async def open_backend(repo: str | os.PathLike[str] | None = None, api: str | None = None,
                       token: str | None = None, *, offline: bool = False,
                       timeout: str | None = None) -> ContentBackend:
    """``api`` if given; else the server running on ``repo`` (it holds ``repo.lock`` and
    wrote ``<repo>/api``); else the repo opened directly (which never reaches the network).
    ``token`` goes to the server; without one, the repo's own server is reached with its
    run secret (``<repo>/api_secret``). ``offline`` and ``timeout`` are Kubo's global
    options, sent with every request."""
    if api:
        from .http import HTTPClient

        return HTTPClient(api, token=token, offline=offline, request_timeout=timeout)

    def own_server(url: str) -> HTTPClient:
        from .http import HTTPClient

        return HTTPClient(url, token=token or read_run_secret(repo or default_repo_path()),
                          offline=offline, request_timeout=timeout)

    url = api_url_for(repo)
    if url:
        return own_server(url)
    from ..local_backend import LocalClient

    try:
        return LocalClient(repo)
    except RepoLocked:
        import asyncio

        # a server is starting (it takes the lock before it writes its address)
        deadline = time.monotonic() + SERVER_START_WAIT
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            url = api_url_for(repo)
            if url:
                return own_server(url)
        raise
