"""ICE configuration from settings: which local addresses are gathered, which STUN/TURN servers.

aioice gathers host candidates from every interface *except* 127.0.0.1, so a
test that must stay on loopback would leak onto the machine's other networks.
``webrtc.ice_hosts`` (tests: ``127.0.0.1``) chooses the addresses and
``webrtc.ice_servers`` the STUN/TURN servers (none by default: aiortc's own
default is a public STUN server).

- ``peer_connection(settings)``: a peer connection with both applied to it
  alone (the server and the Python client use this; nothing process-wide). This
  module is shared by both sides, so it sits outside ``webrtc/`` (the server).
- ``apply_settings(settings)``: the explicit, process-wide opt-in for code that
  creates a bare ``RTCPeerConnection()`` (the seed's snippets): its host
  addresses and default ICE servers become the settings'.
The aioice/aiortc internals involved live in ``ipfs_kit_py.compat``.
"""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from .compat import aioice as aioice_compat
from .compat import aiortc as aiortc_compat
from .config import WebRTCSettings, load_settings


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


class PeerConnection(RTCPeerConnection):
    """An ``RTCPeerConnection`` that gathers ICE candidates on its own host list only."""

    def __init__(self, configuration: RTCConfiguration | None = None, host_addresses: list[str] | None = None) -> None:
        # an explicit (possibly empty) server list: aiortc's default would be a public STUN server
        super().__init__(configuration or RTCConfiguration(iceServers=[]))
        self.host_addresses = list(host_addresses or [])

    async def setLocalDescription(self, sessionDescription: RTCSessionDescription | None = None) -> None:  # noqa: N802
        with aioice_compat.host_addresses(self.host_addresses):  # aiortc gathers in here
            await super().setLocalDescription(sessionDescription)


def peer_connection(settings: WebRTCSettings | None = None) -> PeerConnection:
    """A peer connection with ``webrtc.ice_hosts``/``ice_servers`` (default: from the environment)."""
    s = settings if settings is not None else load_settings().webrtc
    return PeerConnection(RTCConfiguration(iceServers=[parse_ice_server(u) for u in s.ice_servers]), s.ice_hosts)


def restrict_host_addresses(hosts: list[str]) -> None:
    """Process-wide: gather ICE host candidates only on ``hosts`` (empty: aioice's default)."""
    aioice_compat.set_process_hosts(hosts)


def apply_settings(settings: WebRTCSettings | None = None) -> list[RTCIceServer]:
    """Apply ``webrtc.ice_hosts`` and ``webrtc.ice_servers`` (default: from the environment)
    to the whole process, including bare ``RTCPeerConnection()`` objects; returns the ICE servers.
    An explicit opt-in: nothing in ipfs_kit_py calls it on its own."""
    s = settings if settings is not None else load_settings().webrtc
    servers = [parse_ice_server(u) for u in s.ice_servers]
    restrict_host_addresses(s.ice_hosts)
    aiortc_compat.set_default_ice_servers(servers)
    return servers


def rtc_configuration(settings: WebRTCSettings | None = None) -> RTCConfiguration:
    """The RTCConfiguration for a bare ``RTCPeerConnection`` (applies the settings to the
    process, see ``apply_settings``); prefer ``peer_connection``."""
    return RTCConfiguration(iceServers=apply_settings(settings))
