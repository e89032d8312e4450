"""Network profiles: named sets of settings, chosen with ``network.profile``
(``ipfs-kit serve --profile public``, ``--set network.profile=public``,
``IPFS_KIT_NETWORK_PROFILE=public``).

A profile replaces the defaults of the settings it names; anything set
explicitly (config file, environment, command line) still wins over it.

- ``local`` (the default): nothing changes. The peer listens on loopback,
  dials no bootstrap peer and speaks Kubo's LAN DHT (``/ipfs/lan/kad/1.0.0``);
  it meets only the peers it is told about.
- ``public``: joins the public IPFS network (the Amino DHT) as Kubo does:
  Kubo's default bootstrap peers, the public DHT protocol ``/ipfs/kad/1.0.0``,
  and listening on every interface (TCP 4001, IPv4 and IPv6). What this node
  pins is then announced to the world and anyone can fetch it. The HTTP API
  stays on loopback (``server.host``), as Kubo's does.

This module is the only place the public bootstrap addresses may appear: no
test, benchmark or example uses this profile.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("ipfs_kit_py.network")

DEFAULT_PROFILE = "local"

# Kubo's default bootstrap list (config.DefaultBootstrapAddresses, Kubo 0.36; later
# releases fetch the same list through AutoConf).
KUBO_BOOTSTRAP_PEERS = [
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/dnsaddr/va1.bootstrap.libp2p.io/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
    "/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
]

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "local": {},
    "public": {
        "libp2p": {
            "listen_addrs": ["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"],
            "bootstrap_peers": KUBO_BOOTSTRAP_PEERS,
            "dht_protocol": "/ipfs/kad/1.0.0",
        },
    },
}


def profile_settings(name: str) -> dict[str, dict[str, Any]]:
    """The settings a profile sets, ``{section: {name: value}}``; unknown names: ValueError."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown network profile {name!r} (known: {', '.join(PROFILES)})") from None


def public_warning(listen_addrs: list[str], bootstrap: list[str], dht_protocol: str) -> str:
    return (
        "network profile 'public': this node JOINS THE PUBLIC IPFS NETWORK. It listens on "
        f"{', '.join(listen_addrs)}, dials {len(bootstrap)} public bootstrap peers and speaks the "
        f"public DHT ({dht_protocol}): content it pins is announced to everyone and anyone can fetch it. "
        "Use the default profile 'local' to stay private."
    )


def warn_if_public(settings: Any) -> bool:
    """Log the loud warning when the public profile is active; True if it is."""
    if getattr(getattr(settings, "network", None), "profile", DEFAULT_PROFILE) != "public":
        return False
    s = settings.libp2p
    log.warning("!" * 20 + " %s " + "!" * 20, public_warning(s.listen_addrs, s.bootstrap_peers, s.dht_protocol))
    return True
