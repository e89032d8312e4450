"""ICE configuration from settings: which local addresses are gathered, which STUN/TURN servers.

aioice gathers host candidates from every interface *except* 127.0.0.1, so a
test that must stay on loopback would leak onto the machine's other networks.
``restrict_host_addresses`` makes the gathered addresses a setting
(``webrtc.ice_hosts``; tests use ``127.0.0.1``). aioice offers no per-connection
hook, so the restriction applies to the whole process: server and client
processes each apply their own setting. For the same reason aiortc's default
ICE server (a public STUN server, used by a bare ``RTCPeerConnection()``) is
replaced by the configured ``webrtc.ice_servers`` (none by default).
"""

from __future__ import annotations

from collections.abc import Sequence

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcicetransport import RTCIceGatherer

from ..config import WebRTCSettings, load_settings

_original_get_host_addresses = aioice.ice.get_host_addresses
_hosts: list[str] = []


def _restricted_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if not _hosts:
        return _original_get_host_addresses(use_ipv4, use_ipv6)
    return [h for h in _hosts if (":" in h and use_ipv6) or (":" not in h and use_ipv4)]


def restrict_host_addresses(hosts: Sequence[str]) -> None:
    """Gather ICE host candidates only on ``hosts`` (empty: aioice's default, all interfaces)."""
    _hosts[:] = [h.strip() for h in hosts if h.strip()]
    aioice.ice.get_host_addresses = _restricted_host_addresses


def parse_ice_server(url: str) -> RTCIceServer:
    """``stun:host:port`` or ``turn:user:password@host:port`` (credentials optional)."""
    scheme, sep, rest = url.partition(":")
    if not sep or scheme not in ("stun", "stuns", "turn", "turns"):
        raise ValueError(f"ICE server URL must start with stun:, stuns:, turn: or turns:, got {url!r}")
    username = password = None
    if "@" in rest:
        cred, rest = rest.rsplit("@", 1)
        username, _, password = cred.partition(":")
    return RTCIceServer(urls=f"{scheme}:{rest}", username=username, credential=password)


_default_servers: list[RTCIceServer] = []


def apply_settings(settings: WebRTCSettings | None = None) -> list[RTCIceServer]:
    """Apply ``webrtc.ice_hosts`` and ``webrtc.ice_servers`` (default: from the environment)
    to this process, including bare ``RTCPeerConnection()`` objects; returns the ICE servers."""
    s = settings if settings is not None else load_settings().webrtc
    servers = [parse_ice_server(u) for u in s.ice_servers]
    restrict_host_addresses(s.ice_hosts)
    _default_servers[:] = servers
    RTCIceGatherer.getDefaultIceServers = classmethod(lambda cls: list(_default_servers))  # type: ignore[method-assign]
    return servers


def rtc_configuration(settings: WebRTCSettings | None = None) -> RTCConfiguration:
    """The RTCConfiguration for a peer connection (applies the settings to the process)."""
    return RTCConfiguration(iceServers=apply_settings(settings))
