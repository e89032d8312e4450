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

CONFIG_FILE = "config.json"


def default_repo_path() -> Path:
    return Path(os.environ.get("IPFS_KIT_PATH") or Path.home() / ".ipfs_kit").expanduser()


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    debug: bool = False
    max_request_body: int = 0  # 0: no limit on uploads (they are streamed)


@dataclass
class RepoSettings:
    sync: bool = False  # fsync every block write (Kubo's flatfs default); slower, survives power loss


@dataclass
class AddSettings:
    profile: str = "v0"  # v0 (Kubo's `ipfs add`), v1raw (--cid-version=1), v1-2025 (IPIP-499)


@dataclass
class EventsSettings:
    replay_size: int = 10_000  # events kept for clients resuming with `since`
    replay_age: float = 3600.0  # seconds an event stays replayable


@dataclass
class WebSocketSettings:
    max_message: int = 1 << 20  # bytes; larger client messages close the connection with 1009
    queue_size: int = 1024  # events queued per subscriber before it is told it lagged
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    compression: bool = True  # permessage-deflate when the client offers it
    max_cat_size: int = 16 << 20  # largest content `cat` sends over the general channel
    status_interval: float = 60.0  # seconds between system_status events (0: only at start and stop)


@dataclass
class WebRTCSettings:
    enabled: bool = True
    ice_hosts: list[str] = field(default_factory=list)  # addresses ICE gathers; empty: all interfaces
    ice_servers: list[str] = field(default_factory=list)  # stun:/turn: URLs
    max_sessions: int = 16
    offer_timeout: float = 30.0  # seconds an unanswered offer lives


@dataclass
class Libp2pSettings:
    enabled: bool = True
    role: str = "master"  # master | worker | leecher
    listen_addrs: list[str] = field(default_factory=lambda: ["/ip4/127.0.0.1/tcp/4001"])
    bootstrap_peers: list[str] = field(default_factory=list)
    mdns: bool = False
    mcp_allowlist: list[str] = field(default_factory=list)  # peer IDs allowed to change this node


@dataclass
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    repo: RepoSettings = field(default_factory=RepoSettings)
    add: AddSettings = field(default_factory=AddSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    websocket: WebSocketSettings = field(default_factory=WebSocketSettings)
    webrtc: WebRTCSettings = field(default_factory=WebRTCSettings)
    libp2p: Libp2pSettings = field(default_factory=Libp2pSettings)

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
    """Build the settings for a repo: its config file, then environment, then overrides."""
    settings = Settings()
    env = os.environ if environ is None else environ
    if repo is not None:
        cfg = Path(repo) / CONFIG_FILE
        if cfg.exists():
            try:
                data = json.loads(cfg.read_text())
            except json.JSONDecodeError as e:
                raise InvalidArgument(f"{cfg} is not valid JSON: {e}") from None
            for section, values in data.items():
                for name, value in (values or {}).items():
                    settings.set(section, name, value)
    for f in dataclasses.fields(settings):
        sec = getattr(settings, f.name)
        for g in dataclasses.fields(sec):
            key = f"IPFS_KIT_{f.name.upper()}_{g.name.upper()}"
            if key in env:
                settings.set(f.name, g.name, env[key])
    for section, values in (overrides or {}).items():
        for name, value in values.items():
            if value is not None:
                settings.set(section, name, value)
    return settings


def describe_settings() -> list[tuple[str, str, Any]]:
    """(environment variable, type, default) of every setting, for docs and ``--help``."""
    out = []
    s = Settings()
    for f in dataclasses.fields(s):
        sec = getattr(s, f.name)
        hints = typing.get_type_hints(type(sec))
        for g in dataclasses.fields(sec):
            out.append((f"IPFS_KIT_{f.name.upper()}_{g.name.upper()}", str(hints[g.name]), getattr(sec, g.name)))
    return out
