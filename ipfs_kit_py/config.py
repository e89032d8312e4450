"""Settings: defaults < repo config file < environment < command line.

Every setting lives in a section dataclass below and can be set as
``IPFS_KIT_<SECTION>_<NAME>`` (for example ``IPFS_KIT_LIBP2P_ENABLED=false``,
``IPFS_KIT_WEBRTC_ICE_HOSTS=127.0.0.1``), in ``<repo>/config.json`` as
``{"section": {"name": value}}``, or on the command line. Lists in the
environment are comma-separated. ``docs/configuration.md`` lists them all.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidArgument

# here for the importers of config; they live where the CLI's fast path reads them
from .repo_paths import CONFIG_FILE as CONFIG_FILE
from .repo_paths import default_repo_path as default_repo_path


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"  # address the HTTP/WebSocket server binds; beyond loopback the server needs API tokens (or server.insecure) to start
    port: int = 8000  # TCP port of the server (0 picks a free one; the repo's `api` file tells which)
    debug: bool = False  # verbose logging
    max_connections: int = 0  # HTTP and WebSocket connections served at once; one more is answered 503 and closed at once (0: the soft open-file limit, raised towards 8192 at start, less a quarter of it, at least 32, kept for blocks, the index and libp2p)
    first_request_timeout: float = 30.0  # seconds a new connection may take to send its first request head before it is closed, so idle or trickling clients cannot hold every slot (0: never)
    max_request_body: int = 64 << 30  # bytes one upload may carry, 64 GiB; more gets 413 (0: no limit; uploads are streamed, never buffered)
    upload_idle_timeout: float = 60.0  # seconds an upload may send nothing before it is aborted with 408 (0: never)
    upload_timeout: float = 3600.0  # seconds one upload may take in all before it is aborted with 408, so a slow sender cannot hold GC back for ever (0: never)
    allowed_hosts: list[str] = field(default_factory=list)  # Host names (NAME or NAME:PORT; "*": any) the API answers besides the loopback names and the bound address; others get 403 (DNS rebinding)
    allowed_origins: list[str] = field(default_factory=list)  # browser origins (scheme://host:port) allowed to call the API and WebSockets besides the API's own; others get 403
    insecure: bool = False  # allow binding beyond loopback with no API token (anyone who reaches the port controls the node)


@dataclass
class GatewaySettings:
    listen: str = ""  # HOST:PORT of a separate listener serving only the gateway (/ipfs/, /ipns/), an origin apart from the API ("": none; the API's port serves the gateway too, sandboxed)


@dataclass
class RepoSettings:
    sync: bool = False  # fsync every block write (Kubo's flatfs default); slower, survives power loss
    max_car_roots: int = 1024  # distinct roots one CAR import may name (all parts of one dag/import together); more are refused with 400 before any is decoded (0: no limit)
    storage_max: str = "10GB"  # Kubo's Datastore.StorageMax: the repo size reported to tools (repo/stat, config); not enforced


@dataclass
class AddSettings:
    profile: str = "v0"  # v0 (Kubo's `ipfs add`), v1raw (--cid-version=1), v1-2025 (IPIP-499)


@dataclass
class EventsSettings:
    replay_size: int = 10_000  # events kept for clients resuming with `since`
    replay_age: float = 3600.0  # seconds an event stays replayable


@dataclass
class WebSocketSettings:
    enabled: bool = True  # serve /ws and /ws/notifications
    max_message: int = 1 << 20  # bytes; larger client messages close the connection with 1009
    queue_size: int = 1024  # events queued per subscriber before it is told it lagged
    ping_interval: float = 20.0  # seconds between protocol-level pings to each client
    ping_timeout: float = 20.0  # seconds without a pong before a client is dropped
    compression: bool = True  # permessage-deflate when the client offers it
    max_cat_size: int = 16 << 20  # largest content `cat` sends over the general channel
    status_interval: float = 60.0  # seconds between system_status events (0: only at start and stop)
    send_timeout: float = 60.0  # seconds one send may wait on a client that stopped reading before it is dropped (0: never)
    max_pubsub_topics: int = 32  # pubsub topics one /ws connection may subscribe to (pubsub_message events with a topic filter)


@dataclass
class WebRTCSettings:
    enabled: bool = True  # serve WebRTC signaling and streams
    ice_hosts: list[str] = field(default_factory=list)  # addresses ICE gathers; empty: all interfaces
    ice_servers: list[str] = field(default_factory=list)  # stun:/turn: URLs
    max_sessions: int = 16  # concurrent WebRTC sessions; more are refused with an error
    max_sessions_per_client: int = 4  # concurrent sessions one signaling WebSocket may open (0: no limit)
    max_sessions_per_address: int = 8  # concurrent sessions of all signaling WebSockets from one IP address (0: no limit; behind a reverse proxy every client has the proxy's address)
    offer_timeout: float = 30.0  # seconds an unanswered offer lives
    connect_timeout: float = 30.0  # seconds a negotiated session may take to connect (ICE + DTLS) before it is closed (0: never)


@dataclass
class Libp2pSettings:
    enabled: bool = True  # start the libp2p peer with the server
    role: str = "master"  # master | worker | leecher
    listen_addrs: list[str] = field(default_factory=lambda: ["/ip4/127.0.0.1/tcp/4001"])  # multiaddrs the peer listens on
    listen_ws: str = ""  # multiaddr for libp2p over WebSockets, the transport browsers can dial, e.g. /ip4/127.0.0.1/tcp/4002/ws ("": none; a /ws address in listen_addrs works too)
    bootstrap_peers: list[str] = field(default_factory=list)  # multiaddrs (with /p2p/ID) dialled at start
    mdns: bool = False  # find peers on the local network with mDNS
    mcp_allowlist: list[str] = field(default_factory=list)  # peer IDs allowed to change this node (they may also push content)
    max_streams_per_peer: int = 64  # concurrent inbound streams one peer may hold open; more are reset
    max_message: int = 4 << 20  # bytes of one framed message on the ipfs-kit protocols; larger resets the stream
    accept_push: bool = True  # accept /ipfs-kit/content/1.0.0 pushes (verified, then pinned) from the peers below
    accept_push_from: list[str] = field(default_factory=list)  # peer IDs that may push content, besides those on mcp_allowlist; "*": any peer that can reach the listener
    max_pushes: int = 8  # concurrent incoming content pushes; more are refused with limit_exceeded (0: no limit)
    max_pushes_per_peer: int = 2  # concurrent incoming content pushes of one peer; more are refused with limit_exceeded (0: no limit)
    stream_idle_timeout: float = 30.0  # seconds a content stream may send nothing and an mcp request may take to arrive, before the stream gets a timeout error and is reset (0: never)
    transfer_timeout: float = 600.0  # seconds a libp2p transfer (outgoing, or an incoming push) may take before it fails
    relay_hop: bool = True  # a master node serves Circuit Relay v2 (hop) to peers behind NATs, within the limits below
    relay_max_reservations: int = 32  # relay reservations held at once
    relay_max_duration: int = 120  # seconds one relayed circuit may last
    relay_max_bytes: int = 128 << 20  # bytes one relayed circuit may carry
    hole_punching: str = "auto"  # DCUtR: upgrade relayed connections to direct ones by hole punching. auto: this node starts it for relayed connections it receives once AutoNAT says it is behind a NAT; always: for every relayed connection it receives; off: neither starts nor answers one
    hole_punch_relay_grace: float = 10.0  # seconds a relayed connection stays open after hole punching made a direct one (streams still on it finish; new ones go direct)
    dht_protocol: str = "/ipfs/lan/kad/1.0.0"  # Kubo's LAN DHT; "/ipfs/kad/1.0.0" for the public one
    provide_pins: bool = True  # announce pinned content on the DHT (roles master/worker); false: same as provide.enabled=false


@dataclass
class RoutingSettings:
    timeout: float = 30.0  # seconds one routing lookup (find providers, find peer, DHT value, one provide) may take


@dataclass
class ProvideSettings:
    enabled: bool = True  # announce content on the DHT (Kubo's Provide.Enabled); roles master/worker only
    strategy: str = "roots"  # what is announced: roots (pinned roots), pinned (every block of pinned DAGs), all (every block); Kubo's names
    interval: float = 79200.0  # seconds between reprovide runs (Kubo's 22h; provider records expire after 48h); 0: only at start and on new pins
    max_workers: int = 16  # provider records announced at once during a run


@dataclass
class PubsubSettings:
    max_message: int = 1 << 20  # bytes of one pubsub message (published or received; larger inbound frames are dropped)
    max_rate: float = 10.0  # messages per second one peer may send on one topic; more are dropped (gossipsub spam protection)
    max_bridged_topics: int = 256  # topics bridged to the live channels at once (/ws pubsub_message subscriptions)


@dataclass
class IpnsSettings:
    lifetime: float = 172800.0  # seconds a published record stays valid when name/publish gives no lifetime (Kubo's 48h)
    ttl: float = 300.0  # seconds resolvers may cache a record when name/publish gives no ttl (Kubo's 5m; capped to the lifetime)
    resolve_timeout: float = 60.0  # seconds name/resolve and /routing/v1/ipns may spend collecting DHT records
    use_pubsub: bool = False  # IPNS over pubsub too (Kubo's Ipns.UsePubsub): publishing puts the record on the name's /record/ topic, resolving joins that topic and takes the records arriving there, next to the DHT's
    pubsub_rebroadcast: float = 60.0  # seconds between re-publications of the records of the names whose /record/ topics we are in (Kubo's minute; 0: never)
    pubsub_max_names: int = 1024  # /record/ topics held at once; joining one more (a publish or resolve of another name) leaves the least recently used


@dataclass
class NetworkSettings:
    profile: str = "local"  # local: loopback, no bootstrap, LAN DHT; public: joins the public IPFS network (Kubo's bootstrap peers, /ipfs/kad/1.0.0, all interfaces); see docs/protocols.md


@dataclass
class McpSettings:
    enabled: bool = True  # serve the Model Context Protocol (tools for AI agents) at /mcp
    max_resource: int = 4 << 20  # bytes a resource read (ipfs://CID) may return; larger files are refused with an error naming the cat tool and the gateway
    max_request_body: int = 64 << 20  # bytes of one /mcp request (an add's base64 content is a third larger than the file)


@dataclass
class RetrievalSettings:
    offline: bool = False  # answer every read from the local store only (Kubo's `--offline`); per request: offline=true
    find_timeout: float = 30.0  # seconds a missing block may go without any peer having it before the read fails
    block_timeout: float = 10.0  # seconds a peer may sit on a want-block before the block is asked of another peer
    pin_wait: float = 0.0  # seconds pin add keeps asking again for content no connected peer or provider has, until a block arrives (Kubo's pin add waits until cancelled; set about 120 on nodes IPFS Cluster drives, see docs/scaling.md); 0: fail at once
    rebroadcast_interval: float = 1.0  # seconds between want-have rebroadcasts of blocks no peer has yet
    provider_search_delay: float = 0.5  # seconds a block may be missing from connected peers before the DHT is asked
    max_providers: int = 10  # providers dialled from one DHT lookup
    peer_window: int = 32  # want-blocks in flight per peer in one session
    read_ahead: int = 16  # blocks fetched ahead of a streaming reader (bounded to the requested range)
    read_threads: int = 64  # worker threads for reads that may wait on the network (kept apart from other work)
    ban_time: float = 300.0  # seconds a peer that sent a block not matching its CID is refused (0: never banned)
    gateways: list[str] = field(default_factory=list)  # trustless HTTP gateways (base URLs) asked for blocks (?format=raw, verified) when peers do not deliver; the only source of a node without libp2p
    gateway_delay: float = 1.0  # seconds connected peers get to deliver a block before the gateways are asked too (0 when no peer is connected)
    routers: list[str] = field(default_factory=list)  # delegated routing base URLs (GET <url>/routing/v1/providers/<cid>) asked for providers alongside the DHT


@dataclass
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    repo: RepoSettings = field(default_factory=RepoSettings)
    add: AddSettings = field(default_factory=AddSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    websocket: WebSocketSettings = field(default_factory=WebSocketSettings)
    webrtc: WebRTCSettings = field(default_factory=WebRTCSettings)
    libp2p: Libp2pSettings = field(default_factory=Libp2pSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    provide: ProvideSettings = field(default_factory=ProvideSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    pubsub: PubsubSettings = field(default_factory=PubsubSettings)
    ipns: IpnsSettings = field(default_factory=IpnsSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def set(self, section: str, name: str, value: Any) -> None:
        """Set one value, converting strings to the field's type; unknown names are errors."""
        sec = getattr(self, section, None)
        if sec is None or not dataclasses.is_dataclass(sec):
            raise InvalidArgument(f"unknown settings section {section!r}")
        hints = typing.get_type_hints(type(sec))
        if name not in hints:
            raise InvalidArgument(f"unknown setting {section}.{name}")
        setattr(sec, name, _convert(value, hints[name], f"{section}.{name}"))


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (list, typing.List):  # noqa: UP006
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
    elif isinstance(hint, types.UnionType) or origin is typing.Union:
        return value
    elif hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
    elif hint in (int, float):
        try:
            return hint(value)
        except (TypeError, ValueError):
            pass
    elif hint is str:
        return str(value)
    raise InvalidArgument(f"invalid value {value!r} for setting {where}")


def load_settings(
    repo: Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    environ: typing.Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings for a repo: its config file, then environment, then overrides.

    ``network.profile`` (from any of them) first replaces the defaults of the
    settings its profile names (ipfs_kit_py.network_profiles); explicit values win."""
    settings = Settings()
    env = os.environ if environ is None else environ
    given: list[tuple[str, str, Any]] = []  # (section, name, value), later wins
    if repo is not None:
        cfg = Path(repo) / CONFIG_FILE
        if cfg.exists():
            try:
                data = json.loads(cfg.read_text())
            except json.JSONDecodeError as e:
                raise InvalidArgument(f"{cfg} is not valid JSON: {e}") from None
            for section, values in data.items():
                for name, value in (values or {}).items():
                    given.append((section, name, value))
    for f in dataclasses.fields(settings):
        sec = getattr(settings, f.name)
        for g in dataclasses.fields(sec):
            key = f"IPFS_KIT_{f.name.upper()}_{g.name.upper()}"
            if key in env:
                given.append((f.name, g.name, env[key]))
    for section, values in (overrides or {}).items():
        for name, value in values.items():
            if value is not None:
                given.append((section, name, value))
    for section, name, value in given:
        if (section, name) == ("network", "profile"):
            settings.set(section, name, value)
    from .network_profiles import profile_settings

    try:
        profile = profile_settings(settings.network.profile)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None
    for section, values in profile.items():
        for name, value in values.items():
            settings.set(section, name, value)
    for section, name, value in given:
        settings.set(section, name, value)
    return settings


def _field_comments(cls: type) -> dict[str, str]:
    """The trailing ``# comment`` of each field in a settings class: the one place each
    setting is explained, rendered into docs/configuration.md."""
    import inspect

    out = {}
    for line in inspect.getsource(cls).splitlines():
        name, colon, rest = line.strip().partition(":")
        if colon and name.isidentifier() and "#" in rest:
            out[name] = rest.split("#", 1)[1].strip()
    return out


def describe_settings() -> list[tuple[str, str, Any, str]]:
    """(environment variable, type, default, help) of every setting."""
    out = []
    s = Settings()
    for f in dataclasses.fields(s):
        sec = getattr(s, f.name)
        hints = typing.get_type_hints(type(sec))
        comments = _field_comments(type(sec))
        for g in dataclasses.fields(sec):
            t = hints[g.name]
            tname = "list" if typing.get_origin(t) is list else getattr(t, "__name__", str(t))
            out.append((f"IPFS_KIT_{f.name.upper()}_{g.name.upper()}", tname, getattr(sec, g.name), comments.get(g.name, "")))
    return out


def render_settings_doc() -> str:
    """docs/configuration.md, generated from the settings classes (``python -m ipfs_kit_py.config``)."""
    lines = [
        "# Configuration",
        "",
        "Generated by `python -m ipfs_kit_py.config > docs/configuration.md`; a test keeps it in step with the code.",
        "",
        "Every setting can be given, later sources winning:",
        "",
        "1. in `<repo>/config.json` as `{\"section\": {\"name\": value}}`;",
        "2. as an environment variable `IPFS_KIT_<SECTION>_<NAME>` (lists comma-separated, booleans `true`/`false`);",
        "3. on the server's command line as `--set section.name=value` (and `--host`, `--port`, `--debug`).",
        "",
        "The repo itself is `--repo`, else `$IPFS_KIT_PATH`, else `~/.ipfs_kit`.",
        "",
        "| setting | environment variable | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for env, tname, default, help_ in describe_settings():
        section, name = env[len("IPFS_KIT_"):].lower().split("_", 1)
        shown = json.dumps(",".join(default) if isinstance(default, list) else default)
        lines.append(f"| `{section}.{name}` | `{env}` | {tname} | `{shown}` | {help_} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_settings_doc(), end="")
