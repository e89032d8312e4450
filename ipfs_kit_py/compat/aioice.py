"""aioice internals: the local addresses ICE gathers host candidates on.

aioice gathers on every interface *except* 127.0.0.1 (``aioice.ice.get_host_addresses``,
called by ``Connection.gather_candidates``), and offers no per-connection
option. ``install()`` replaces that module function once with one that asks a
context variable first: ``host_addresses(hosts)`` sets it around a gathering
(aiortc gathers inside ``setLocalDescription``; the tasks it spawns inherit the
context), so one peer connection can be restricted to loopback without touching
any other. Unset, the process default applies (``set_process_hosts``, the
explicit opt-in behind ``ice.apply_settings()`` for bare
``RTCPeerConnection()`` objects), and without one aioice's own behaviour.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.metadata
from collections.abc import Iterator, Sequence

import aioice.ice

from . import IncompatibleDependency

TESTED = ("0.10", "0.11", "0.12", "0.13")  # minor versions whose internals this module was checked against

_hosts: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar("ipfs_kit_ice_hosts", default=None)
_process_hosts: list[str] = []
_original = aioice.ice.get_host_addresses


def version() -> str:
    return importlib.metadata.version("aioice")


def check() -> None:
    """Raise IncompatibleDependency when aioice lacks what ``install`` relies on."""
    v = version()
    if not v.startswith(TESTED):
        raise IncompatibleDependency(f"aioice {v} is untested (compat/aioice.py was checked against {TESTED})")
    fn = getattr(aioice.ice, "get_host_addresses", None)
    if fn is None or "get_host_addresses" not in (aioice.ice.Connection.gather_candidates.__code__.co_names):
        raise IncompatibleDependency("aioice.ice.Connection.gather_candidates no longer calls get_host_addresses")


def _select(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    hosts = _hosts.get()
    if hosts is None:
        hosts = tuple(_process_hosts)
    if not hosts:
        return _original(use_ipv4, use_ipv6)
    return [h for h in hosts if (":" in h and use_ipv6) or (":" not in h and use_ipv4)]


def install() -> None:
    """Route aioice's address lookup through ``_select`` (idempotent; neutral until asked)."""
    if aioice.ice.get_host_addresses is not _select:
        check()
        aioice.ice.get_host_addresses = _select


@contextlib.contextmanager
def host_addresses(hosts: Sequence[str]) -> Iterator[None]:
    """Gather on ``hosts`` only, for what runs inside (empty: the process default)."""
    install()
    clean = tuple(h.strip() for h in hosts if h.strip())
    token = _hosts.set(clean or None)
    try:
        yield
    finally:
        _hosts.reset(token)


def set_process_hosts(hosts: Sequence[str]) -> None:
    """The process-wide default (empty: every interface but loopback, as aioice does)."""
    install()
    _process_hosts[:] = [h.strip() for h in hosts if h.strip()]
