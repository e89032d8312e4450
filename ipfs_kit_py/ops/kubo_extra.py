"""Kubo RPC commands people's tools call (issue 14), on the registry: ``config``
(a Kubo-shaped view of this node's settings), ``pin/update``, ``pin/verify``,
``resolve``, ``bootstrap``, ``refs``, ``cid/base32``,
``cid/codecs``, ``multibase``, ``stats/repo``,
``log/level`` and ``shutdown``.

``config``: Kubo's keys map onto the settings of ``config.py`` (one setting,
one home): ``KUBO_KEYS`` says which; ``config`` set writes the repo's
``config.json`` (read at the next start) and the running settings.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..access import Scope
from ..config import CONFIG_FILE, Settings
from ..content import multibase
from ..content.cid import CID, CODEC_NAMES, RAW
from ..content.walk import walk_blocks
from ..errors import (
    ChannelUnavailable,
    CorruptBlock,
    InvalidArgument,
    InvalidCID,
    IPFSKitError,
    NotFound,
)
from ..operation import NDJSON, Bytes, Context, Invoke, Kubo, KuboArgs, Operation, Upload, param
from ..types import RepoStat
from .node import NoParams

# Kubo's config key -> (section, name) of our settings
KUBO_KEYS: dict[str, tuple[str, str]] = {
    "Addresses.Swarm": ("libp2p", "listen_addrs"),
    "Bootstrap": ("libp2p", "bootstrap_peers"),
    "Datastore.StorageMax": ("repo", "storage_max"),
    "Discovery.MDNS.Enabled": ("libp2p", "mdns"),
    "API.HTTPHeaders.Access-Control-Allow-Origin": ("server", "allowed_origins"),
    "Gateway.Listen": ("gateway", "listen"),
}
DEFAULT_STORAGE_MAX = "10GB"


def storage_max_bytes(ctx: Context) -> int:
    """``repo.storage_max`` ("10GB", "500MB", "1TiB", bytes) in bytes, as Kubo's humanize parses it."""
    text = str(getattr(_settings(ctx).repo, "storage_max", DEFAULT_STORAGE_MAX)).strip()
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
             "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
    num = text.rstrip("bBkKmMgGtTiI ")
    unit = text[len(num):].strip().lower()
    try:
        return int(float(num) * units[unit])
    except (ValueError, KeyError):
        raise InvalidArgument(f"repo.storage_max {text!r} is not a size like 10GB") from None


def _settings(ctx: Context) -> Settings:
    return ctx.node.settings if ctx.node is not None else ctx.model.repo.settings


def _get(s: Settings, section: str, name: str) -> Any:
    return getattr(getattr(s, section), name, None)


def kubo_config(ctx: Context) -> dict[str, Any]:
    """This node's settings in Kubo's config shape (the keys Kubo's tools read)."""
    s = _settings(ctx)
    api = f"/ip4/{s.server.host}/tcp/{s.server.port}"
    gw = s.gateway.listen
    gateway = api
    if gw:
        host, _, port = gw.rpartition(":")
        gateway = f"/ip4/{host or '127.0.0.1'}/tcp/{port}"
    peer_id = ""
    libp2p = ctx.node.services.get("libp2p") if ctx.node is not None else None
    if libp2p is not None:
        peer_id = str(libp2p.get_id())
    return {
        "Identity": {"PeerID": peer_id},
        "Addresses": {"API": api, "Gateway": gateway, "Swarm": list(s.libp2p.listen_addrs),
                      "Announce": [], "NoAnnounce": []},
        "Bootstrap": list(s.libp2p.bootstrap_peers),
        "Datastore": {"StorageMax": _get(s, "repo", "storage_max") or DEFAULT_STORAGE_MAX, "GCPeriod": "1h"},
        "Discovery": {"MDNS": {"Enabled": s.libp2p.mdns}},
        "Gateway": {"Listen": gw, "HTTPHeaders": {}},
        "API": {"HTTPHeaders": {"Access-Control-Allow-Origin": list(s.server.allowed_origins)}},
    }


def _lookup(cfg: dict[str, Any], key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise NotFound(f"config key {key!r} has no value here (known: {', '.join(sorted(KUBO_KEYS))})")
        node = node[part]
    return node


def _store(ctx: Context, key: str, value: Any) -> None:
    """Set the setting behind Kubo's ``key``: in the running settings and the repo's config.json."""
    if key not in KUBO_KEYS:
        raise InvalidArgument(f"config key {key!r} cannot be set here: settable keys are {', '.join(sorted(KUBO_KEYS))}")
    section, name = KUBO_KEYS[key]
    s = _settings(ctx)
    if not hasattr(getattr(s, section), name):
        raise InvalidArgument(f"config key {key!r} has no setting on this node")
    if name in ("allowed_origins", "listen_addrs", "bootstrap_peers") and not isinstance(value, list):
        raise InvalidArgument(f"config key {key!r} takes a JSON list")
    s.set(section, name, value)
    path = Path(ctx.model.repo.path) / CONFIG_FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault(section, {})[name] = getattr(getattr(s, section), name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class ConfigValue:
    key: str
    value: Any


@dataclass(frozen=True, slots=True)
class ConfigDoc:
    config: dict[str, Any]


async def config_show(ctx: Context, p: NoParams) -> ConfigDoc:
    return ConfigDoc(kubo_config(ctx))


@dataclass
class ConfigParams:
    key: str = param(kubo="arg", doc="a Kubo config key (Addresses.Swarm, Bootstrap, Datastore.StorageMax, ...)")
    value: str | None = param(None, doc="the new value (second argument); JSON with json=true")
    as_json: bool = param(False, kubo="json", doc="the value is JSON")
    as_bool: bool = param(False, kubo="bool", doc="the value is a boolean")


async def config(ctx: Context, p: ConfigParams) -> ConfigValue:
    if p.value is not None:
        value: Any = p.value
        if p.as_json:
            try:
                value = json.loads(p.value)
            except ValueError as e:
                raise InvalidArgument(f"value is not JSON: {e}") from None
        elif p.as_bool:
            if p.value not in ("true", "false"):
                raise InvalidArgument("a boolean value is true or false")
            value = p.value == "true"
        _store(ctx, p.key, value)
    return ConfigValue(p.key, _lookup(kubo_config(ctx), p.key))


@dataclass
class ConfigReplaceParams:
    file: bytes = param(kubo="file", doc="a Kubo config JSON document")


async def config_replace(ctx: Context, p: ConfigReplaceParams) -> ConfigDoc:
    try:
        doc = json.loads(p.file)
    except ValueError as e:
        raise InvalidArgument(f"config is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("config must be a JSON object")
    for key in KUBO_KEYS:
        try:
            value = _lookup(doc, key)
        except NotFound:
            continue
        _store(ctx, key, value)
    return ConfigDoc(kubo_config(ctx))


async def _kubo_config(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> dict[str, Any]:
    args = a.args()
    if not args or not args[0].strip():
        raise InvalidArgument('argument "key" is required')
    params: dict[str, Any] = {"key": args[0].strip(), "as_json": bool(a.bool("json")), "as_bool": bool(a.bool("bool"))}
    if len(args) > 1 or a.str("value") is not None:
        params["value"] = args[1] if len(args) > 1 else a.str("value")
    r = await invoke(params)
    return {"Key": r.key, "Value": r.value}


async def _kubo_config_replace(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> dict[str, Any]:
    if upload is None:
        raise InvalidArgument("no config file in the body")
    data = bytearray()
    async for entry in upload.entries:
        async for chunk in entry.data:
            data += chunk
            if len(data) > 1 << 20:
                raise InvalidArgument("config larger than 1 MiB")
        break
    await invoke({"file": bytes(data)})
    return {}


# -- pins -------------------------------------------------------------------------------------------
@dataclass
class PinUpdateParams:
    from_: str = param(kubo="arg", doc="the pinned path")
    to: str = param(doc="the path to pin instead (second argument)")
    unpin: bool = param(True, doc="remove the old pin")


@dataclass(frozen=True, slots=True)
class PinsUpdated:
    pins: list[str]


async def pin_update(ctx: Context, p: PinUpdateParams) -> PinsUpdated:
    old = await asyncio.to_thread(ctx.model.resolve, p.from_)
    if ctx.model.index.pin_type(str(old)) != "recursive":
        raise InvalidArgument(f"'from' cid was not recursively pinned already: {old}")
    new = await ctx.model.pin_add(p.to, recursive=True)
    if p.unpin and new != old:
        await ctx.model.pin_rm(old)
    return PinsUpdated([str(old), str(new)])


async def _kubo_pin_update(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> dict[str, Any]:
    args = [x.strip() for x in a.args() if x.strip()]
    if len(args) == 1 and a.str("to"):
        args.append(str(a.str("to")))
    if len(args) != 2:
        raise InvalidArgument('arguments "from-path" and "to-path" are required')
    r = await invoke({"from_": args[0], "to": args[1], "unpin": bool(a.bool("unpin", default=True))})
    return {"Pins": r.pins}


@dataclass
class PinVerifyParams:
    verbose: bool = param(False, doc="report pins that are fine too")


@dataclass(frozen=True, slots=True)
class PinCheck:
    cid: str
    ok: bool
    bad_nodes: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class PinChecks:
    pins: list[PinCheck]


async def pin_verify(ctx: Context, p: PinVerifyParams) -> PinChecks:
    store, model = ctx.model.store, ctx.model

    def check(root: CID, recursive: bool) -> PinCheck:
        bad: list[dict[str, str]] = []
        if not recursive:
            try:
                store.get(root, verify=True)
            except (NotFound, CorruptBlock) as e:
                bad.append({"Cid": str(root), "Err": str(e)})
            return PinCheck(str(root), not bad, bad)
        # every block once, each read (and hashed) once; a missing, corrupt or undecodable
        # block is a bad node and the walk goes on with the rest; bad nodes in link order
        for v in walk_blocks(lambda c: store.get(c, verify=True), root, errors="yield"):
            if v.error is not None:
                bad.append({"Cid": str(v.cid), "Err": str(v.error)})
        return PinCheck(str(root), not bad, bad)

    out = []
    for c, type_ in model.index.pins():
        r = await asyncio.to_thread(check, CID.decode(c), type_ == "recursive")
        if p.verbose or not r.ok:
            out.append(r)
    return PinChecks(out)


def _kubo_pin_verify(r: PinChecks, a: KuboArgs) -> NDJSON:
    a.bool("quiet", "q")

    async def lines() -> AsyncIterator[dict[str, Any]]:
        for c in r.pins:
            line: dict[str, Any] = {"Cid": c.cid, "Ok": c.ok}
            if c.bad_nodes:
                line["BadNodes"] = c.bad_nodes
            yield line

    return NDJSON(lines())


# -- resolve, refs ----------------------------------------------------------------------------------
@dataclass
class PathParams:
    path: str = param(kubo="arg", doc="an /ipfs/ path or a CID")


@dataclass(frozen=True, slots=True)
class Resolved:
    path: str


async def resolve(ctx: Context, p: PathParams) -> Resolved:
    if p.path.startswith("/ipns/"):
        raise InvalidArgument("IPNS names are not supported yet")
    cid = await asyncio.to_thread(ctx.model.resolve, p.path)
    return Resolved(f"/ipfs/{cid}")


@dataclass
class RefsParams:
    path: str = param(kubo="arg", doc="an /ipfs/ path or a CID")
    recursive: bool = param(False, flags=("r",), doc="all refs below, not only the direct links")
    unique: bool = param(False, flags=("u",), doc="each ref once")
    edges: bool = param(False, flags=("e",), doc='"<src> -> <dst>" lines')
    format: str = param("<dst>", doc="<src> <dst> <linkname>")
    max_depth: int = param(-1, minimum=-1, doc="-1: no limit")


@dataclass(frozen=True, slots=True)
class Refs:
    refs: list[str]


async def refs(ctx: Context, p: RefsParams) -> Refs:
    if p.edges and p.format != "<dst>":
        raise InvalidArgument("using format argument with edges is not allowed")
    root = await asyncio.to_thread(ctx.model.resolve, p.path)
    store = ctx.model.store
    depth_limit = p.max_depth if p.recursive else 1  # as Kubo: without -r, the direct links only

    def run() -> list[str]:
        # Kubo's refs: depth first, a parent's links in order; -u: each block listed once
        # (by multihash), the first time it is reached, but walked again when reached closer
        # to the root within a depth limit; blocks at the depth limit are listed but not read.
        # Each line is the edge from a visited block's parent.
        out: list[str] = []
        for v in walk_blocks(store.get, root, unique=p.unique, read_leaves=False,
                             max_depth=None if depth_limit == -1 else depth_limit):
            if v.parent is None or v.again:
                continue
            if p.edges:
                out.append(f"{v.parent} -> {v.cid}")
            else:
                out.append(p.format.replace("<src>", str(v.parent)).replace("<dst>", str(v.cid))
                           .replace("<linkname>", v.name))
        return out

    return Refs(await asyncio.to_thread(run))


def _kubo_refs(r: Refs, a: KuboArgs) -> NDJSON:
    async def lines() -> AsyncIterator[dict[str, Any]]:
        for ref in r.refs:
            yield {"Ref": ref, "Err": ""}

    return NDJSON(lines())


async def refs_local(ctx: Context, p: NoParams) -> Refs:
    def run() -> list[str]:
        return [str(CID(1, RAW, mh)) for mh in ctx.model.store.multihashes()]

    return Refs(await asyncio.to_thread(run))


# -- cid / multibase ------------------------------------------------------------------------------
@dataclass
class CidParams:
    cid: str = param(kubo="arg", doc="the CID")


@dataclass(frozen=True, slots=True)
class CidText:
    cid: str
    formatted: str


async def cid_base32(ctx: Context, p: CidParams) -> CidText:
    c = CID.decode(p.cid)
    return CidText(p.cid, str(c.to_v1()))


async def _kubo_cid_base32(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> NDJSON:
    out = []
    for c in a.args():
        try:
            r = await invoke({"cid": c})
            out.append({"CidStr": c, "Formatted": r.formatted, "ErrorMsg": ""})
        except InvalidCID as e:
            out.append({"CidStr": c, "Formatted": "", "ErrorMsg": str(e)})
    if not out:
        raise InvalidArgument('argument "cid" is required')

    async def lines() -> AsyncIterator[dict[str, Any]]:
        for line in out:
            yield line

    return NDJSON(lines())


@dataclass(frozen=True, slots=True)
class Codecs:
    codecs: dict[str, int]


async def cid_codecs(ctx: Context, p: NoParams) -> Codecs:
    return Codecs({name: code for code, name in CODEC_NAMES.items()})


def _kubo_codecs(r: Codecs, a: KuboArgs) -> list[dict[str, Any]]:
    a.bool("numeric")
    a.bool("supported")
    return [{"Name": n, "Code": c} for n, c in sorted(r.codecs.items(), key=lambda x: x[1])]


@dataclass
class MultibaseEncodeParams:
    data: bytes = param(kubo="file", doc="the bytes")
    base: str = param("base64url", flags=("b",), doc="multibase name")


@dataclass(frozen=True, slots=True)
class Text:
    text: str


async def multibase_encode(ctx: Context, p: MultibaseEncodeParams) -> Text:
    if p.base not in multibase.NAMES:
        raise InvalidArgument(f"unknown multibase {p.base!r}: {', '.join(sorted(multibase.NAMES))}")
    return Text(multibase.encode(p.base, p.data))


@dataclass
class MultibaseDecodeParams:
    data: bytes = param(kubo="file", doc="multibase text")


@dataclass(frozen=True, slots=True)
class Decoded:
    data: bytes


def multibase_decode_text(text: str) -> bytes:
    text = text.strip()
    name = multibase.name_of(text[:1]) if text else None
    if name is None:
        raise InvalidArgument("not multibase text: unknown prefix")
    body = text[1:]
    try:
        if name.startswith("base16"):
            return bytes.fromhex(body)
        if name in ("base32", "base32upper"):
            return base64.b32decode(body.upper() + "=" * (-len(body) % 8))
        if name == "base32hex":
            return base64.b32hexdecode(body.upper() + "=" * (-len(body) % 8))
        if name == "base58btc":
            from ..content.cid import b58decode

            return b58decode(body)
        if name == "base36":
            n = int(body, 36) if body.strip("0") else 0
            zeros = len(body) - len(body.lstrip("0"))
            return b"\0" * zeros + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")
        if name.startswith("base64url"):
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return base64.b64decode(body + "=" * (-len(body) % 4))
    except ValueError as e:
        raise InvalidArgument(f"invalid {name} text: {e}") from None


async def multibase_decode(ctx: Context, p: MultibaseDecodeParams) -> Decoded:
    return Decoded(multibase_decode_text(p.data.decode("utf-8", "replace")))


async def _read_one(upload: Upload | None) -> bytes:
    if upload is None:
        raise InvalidArgument("no data in the body")
    data = bytearray()
    async for entry in upload.entries:
        async for chunk in entry.data:
            data += chunk
            if len(data) > 4 << 20:
                raise InvalidArgument("more than 4 MiB")
        return bytes(data)
    raise InvalidArgument("no data in the body (expected a multipart part)")


async def _kubo_multibase_encode(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> Bytes:
    r = await invoke({"data": await _read_one(upload), "base": a.str("b", "base", default="base64url") or "base64url"})

    async def one() -> AsyncIterator[bytes]:
        yield r.text.encode()

    return Bytes(one(), "text/plain", streamed=False)


async def _kubo_multibase_decode(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> Bytes:
    r = await invoke({"data": await _read_one(upload)})

    async def one() -> AsyncIterator[bytes]:
        yield r.data

    return Bytes(one(), "text/plain", streamed=False)


# -- bootstrap ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PeerList:
    peers: list[str]


async def bootstrap_list(ctx: Context, p: NoParams) -> PeerList:
    return PeerList(list(_settings(ctx).libp2p.bootstrap_peers))


@dataclass
class BootstrapParams:
    address: str | None = param(None, kubo="arg", doc="<multiaddr>/p2p/<peer-id>")
    all: bool = param(False, doc="rm: every bootstrap peer")
    default: bool = param(False, doc="add: the default peers (none: this node bootstraps from nothing by default)")


def _check_peer_addr(addr: str) -> None:
    if not addr.startswith("/") or "/p2p/" not in addr:
        raise InvalidArgument(f"{addr!r} is not a multiaddr ending in /p2p/<peer-id>")


async def bootstrap_add(ctx: Context, p: BootstrapParams) -> PeerList:
    current = list(_settings(ctx).libp2p.bootstrap_peers)
    if p.address is None:
        if p.default:
            return PeerList([])
        raise InvalidArgument('argument "peer" is required')
    _check_peer_addr(p.address)
    if p.address not in current:
        _store(ctx, "Bootstrap", current + [p.address])
        return PeerList([p.address])
    return PeerList([])


async def bootstrap_rm(ctx: Context, p: BootstrapParams) -> PeerList:
    current = list(_settings(ctx).libp2p.bootstrap_peers)
    if p.all:
        _store(ctx, "Bootstrap", [])
        return PeerList(current)
    if p.address is None:
        raise InvalidArgument('argument "peer" is required')
    if p.address not in current:
        return PeerList([])
    _store(ctx, "Bootstrap", [a for a in current if a != p.address])
    return PeerList([p.address])


def _kubo_peers(r: PeerList, a: KuboArgs) -> dict[str, Any]:
    return {"Peers": r.peers}


# -- node: log level, shutdown, stats -------------------------------------------------------------------
@dataclass
class LogLevelParams:
    subsystem: str = param(kubo="arg", doc='a logger name below ipfs_kit_py, or "all"')
    level: str = param(doc="debug, info, warn, error (second argument)")


@dataclass(frozen=True, slots=True)
class Message:
    message: str


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING,
           "error": logging.ERROR, "dpanic": logging.CRITICAL, "panic": logging.CRITICAL, "fatal": logging.CRITICAL}


async def log_level(ctx: Context, p: LogLevelParams) -> Message:
    level = _LEVELS.get(p.level.lower())
    if level is None:
        raise InvalidArgument(f"unknown log level {p.level!r}: {', '.join(_LEVELS)}")
    name = "ipfs_kit_py" if p.subsystem in ("all", "*") else f"ipfs_kit_py.{p.subsystem.removeprefix('ipfs_kit_py.')}"
    logging.getLogger(name).setLevel(level)
    return Message(f"Changed log level of '{p.subsystem}' to '{p.level}'\n")


async def _kubo_log_level(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> dict[str, Any]:
    args = [x.strip() for x in a.args() if x.strip()]
    if len(args) == 1 and a.str("level"):
        args.append(str(a.str("level")))
    if len(args) != 2:
        raise InvalidArgument('arguments "subsystem" and "level" are required')
    r = await invoke({"subsystem": args[0], "level": args[1]})
    return {"Message": r.message}


@dataclass(frozen=True, slots=True)
class Done:
    done: bool


async def shutdown(ctx: Context, p: NoParams) -> Done:
    if ctx.node is None or ctx.node.api_url is None:
        raise ChannelUnavailable("no running server to shut down")
    # after this answer is sent: the server's SIGTERM handler stops it cleanly
    asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
    return Done(True)


def _kubo_empty(r: Any, a: KuboArgs) -> dict[str, Any]:
    return {}


def _kubo_repo_stat(s: Any, a: KuboArgs) -> dict[str, Any]:
    from .content import _kubo_repo_stat as shape

    return shape(s, a)


async def stats_repo(ctx: Context, p: NoParams) -> RepoStat:
    from . import content

    return await content.repo_stat(ctx, content.NoParams())  # repo/stat's own (empty) parameters


def _typed_json(r: Any, a: KuboArgs) -> Any:
    return r.config if isinstance(r, ConfigDoc) else r


_ = IPFSKitError  # re-exported for adapters that report per-line errors

R, W, A = Scope.READ, Scope.WRITE, Scope.ADMIN
OPS: list[Operation[Any, Any]] = [
    Operation("config_show", NoParams, ConfigDoc, R, "This node's settings in Kubo's config shape", config_show,
              Kubo("config/show", _typed_json), cli="config show"),
    Operation("config", ConfigParams, ConfigValue, A, "Get (or with a value, set) one Kubo config key", config,
              Kubo("config", run=_kubo_config, arg_doc="KEY [VALUE]"), cli="config get"),
    Operation("config_replace", ConfigReplaceParams, ConfigDoc, A, "Set the mapped keys from a Kubo config document",
              config_replace, Kubo("config/replace", run=_kubo_config_replace, body="files"), cli="config replace"),
    Operation("pin_update", PinUpdateParams, PinsUpdated, W, "Replace a recursive pin with another", pin_update,
              Kubo("pin/update", run=_kubo_pin_update, arg_doc="FROM then TO",
                   options=(("unpin", "boolean", "remove the old pin (default true)"),)), cli="pin update"),
    Operation("pin_verify", PinVerifyParams, PinChecks, R, "Check every pinned block is present and intact",
              pin_verify, Kubo("pin/verify", _kubo_pin_verify, options=(("quiet", "boolean", "accepted"),)),
              cli="pin verify"),
    Operation("resolve", PathParams, Resolved, R, "Resolve an /ipfs/ path to its CID", resolve,
              Kubo("resolve", lambda r, a: {"Path": r.path}, arg_doc="an /ipfs/ path"), cli="resolve"),
    Operation("refs", RefsParams, Refs, R, "Links of a DAG (refs)", refs,
              Kubo("refs", _kubo_refs), cli="refs links"),
    Operation("refs_local", NoParams, Refs, R, "Every block in the repo", refs_local,
              Kubo("refs/local", _kubo_refs), cli="refs local"),
    Operation("cid_base32", CidParams, CidText, R, "A CID as CIDv1 base32", cid_base32,
              Kubo("cid/base32", run=_kubo_cid_base32, arg_doc="CIDs"), cli="cid base32",
              cli_text=lambda line: str(line["Formatted"])),
    Operation("cid_codecs", NoParams, Codecs, R, "The IPLD codecs this node knows", cid_codecs,
              Kubo("cid/codecs", _kubo_codecs), cli="cid codecs",
              cli_text=lambda line: f"{line['Code']:>5}  {line['Name']}" if "Code" in line else json.dumps(line)),
    Operation("multibase_encode", MultibaseEncodeParams, Text, R, "Encode bytes as multibase text",
              multibase_encode, Kubo("multibase/encode", run=_kubo_multibase_encode, body="files"),
              cli="multibase encode"),
    Operation("multibase_decode", MultibaseDecodeParams, Decoded, R, "Decode multibase text", multibase_decode,
              Kubo("multibase/decode", run=_kubo_multibase_decode, body="files"), cli="multibase decode"),
    Operation("bootstrap_list", NoParams, PeerList, R, "The bootstrap peers (libp2p.bootstrap_peers)",
              bootstrap_list, Kubo("bootstrap/list", _kubo_peers), cli="bootstrap list"),
    Operation("bootstrap_add", BootstrapParams, PeerList, A, "Add a bootstrap peer (next start)", bootstrap_add,
              Kubo("bootstrap/add", _kubo_peers), cli="bootstrap add"),
    Operation("bootstrap_rm", BootstrapParams, PeerList, A, "Remove bootstrap peers (next start)", bootstrap_rm,
              Kubo("bootstrap/rm", _kubo_peers), cli="bootstrap rm"),
    Operation("log_level", LogLevelParams, Message, A, "Change a logger's level", log_level,
              Kubo("log/level", run=_kubo_log_level, arg_doc="SUBSYSTEM then LEVEL"), cli="log level"),
    Operation("shutdown", NoParams, Done, A, "Stop the server", shutdown, Kubo("shutdown", _kubo_empty),
              cli="shutdown", ws=False),
    Operation("stats_repo", NoParams, RepoStat, R, "Size of the repo (Kubo's stats/repo)", stats_repo,
              Kubo("stats/repo", _kubo_repo_stat, options=(("size-only", "boolean", ""), ("human", "boolean", ""))),
              cli="stats repo"),
]
