"""Keys (Kubo's ``key/*``) and IPNS names (``name/*``) as registry operations.

Keys live in the repo's keystore (:mod:`ipfs_kit_py.keystore`); names are
published and resolved by :mod:`ipfs_kit_py.ipns.service`. Kubo's shapes on
``/api/v0``; IDs are printed as Kubo prints them (``--ipns-base``, default
base36 CIDs ``k51...``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..access import Scope
from ..content import multibase
from ..errors import InvalidArgument
from ..ipns import record as ipns_record
from ..ipns.names import format_duration, name_id, parse_duration, split_name_path
from ..keystore import (
    FORMAT_PROTOBUF,
    Key,
    export_key,
    format_id,
    import_key,
    parse_peer_id,
    public_key_of,
)
from ..keystore import sign as key_sign_bytes
from ..keystore import verify as key_verify_bytes
from ..operation import NDJSON, Bytes, Context, Invoke, Kubo, KuboArgs, Operation, Upload, param

MAX_SIGN_DATA = 1 << 20  # bytes key/sign and key/verify read
MAX_KEY_FILE = 64 << 10


def _base(p: Any) -> str:
    form = {"k": "b36cid", "base36": "b36cid", "b": "b32cid", "base32": "b32cid", "b58mh": "b58mh",
            "b36cid": "b36cid", "b32cid": "b32cid"}.get(p.ipns_base)
    if form is None:
        raise InvalidArgument(f"unknown --ipns-base {p.ipns_base!r}: b58mh, base36 (k) or base32 (b)")
    return form


def names_of(node: Any) -> Any:
    """The node's IPNS service (imported here: it brings in libp2p, which costs seconds to
    import, and every CLI command imports this module through the registry)."""
    from ..ipns.service import names_of as of

    return of(node)


def _keys(ctx: Context) -> Any:
    if ctx.node is None:  # the repo opened in-process (the CLI with no server): its keystore, as Kubo offline
        from ..keystore import Keystore

        return Keystore(ctx.model.repo.path)
    return names_of(ctx.node).keystore


async def _read(upload: Upload | None, limit: int, what: str) -> bytes:
    if upload is None:
        raise InvalidArgument(f"argument {what!r} is required (a multipart part)")
    async for entry in upload.entries:
        buf = bytearray()
        async for chunk in entry.data:
            buf += chunk
            if len(buf) > limit:
                raise InvalidArgument(f"{what} too large: the limit is {limit} bytes")
        return bytes(buf)
    raise InvalidArgument(f"argument {what!r} is required (a multipart part)")


# -- keys ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeyInfo:
    name: str
    id: str


@dataclass(frozen=True, slots=True)
class KeyList:
    keys: list[KeyInfo]


def _info(k: Key, form: str = "b36cid") -> KeyInfo:
    return KeyInfo(k.name, format_id(k.peer_id, form))


def _kubo_key(k: KeyInfo) -> dict[str, str]:
    return {"Name": k.name, "Id": k.id}


@dataclass
class KeyGenParams:
    name: str = param(kubo="arg", doc="name of the new key")
    type: str = param("ed25519", flags=("t",), doc="ed25519 or rsa")
    size: int = param(-1, flags=("s",), minimum=-1, doc="rsa key size in bits (2048..4096)")
    ipns_base: str = param("base36", doc="b58mh, base36 or base32")


async def key_gen(ctx: Context, p: KeyGenParams) -> KeyInfo:
    form = _base(p)
    k = await asyncio.to_thread(_keys(ctx).generate, p.name, p.type, None if p.size < 0 else p.size)
    return _info(k, form)


@dataclass
class KeyListParams:
    ipns_base: str = param("base36", doc="b58mh, base36 or base32")


async def key_list(ctx: Context, p: KeyListParams) -> KeyList:
    form = _base(p)
    return KeyList([_info(k, form) for k in await asyncio.to_thread(_keys(ctx).list)])


def _kubo_key_list(r: KeyList, a: KuboArgs) -> dict[str, Any]:
    a.bool("l")
    return {"Keys": [_kubo_key(k) for k in r.keys]}


@dataclass
class KeyRenameParams:
    old: str = param(kubo="arg", doc="the key's name")
    new: str = param("", doc="its new name (Kubo: the second arg)")
    force: bool = param(False, flags=("f",), doc="overwrite a key of that name")
    ipns_base: str = param("base36")


@dataclass(frozen=True, slots=True)
class KeyRenamed:
    was: str
    now: str
    id: str
    overwrite: bool


async def key_rename(ctx: Context, p: KeyRenameParams) -> KeyRenamed:
    form = _base(p)
    if not p.new:
        raise InvalidArgument('argument "new" is required')
    k, overwrote = await asyncio.to_thread(_keys(ctx).rename, p.old, p.new, force=p.force)
    return KeyRenamed(p.old, p.new, format_id(k.peer_id, form), overwrote)


async def _kubo_key_rename(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> dict[str, Any]:
    force, base = bool(a.bool("force", "f")), a.str("ipns-base", default="base36")  # bad flags first
    args = [x.strip() for x in a.args()]
    if len(args) != 2 or not all(args):
        raise InvalidArgument('arguments "name" and "newName" are required')
    r = await invoke({"old": args[0], "new": args[1], "force": force, "ipns_base": base})
    return {"Was": r.was, "Now": r.now, "Id": r.id, "Overwrite": r.overwrite}


@dataclass
class KeyRmParams:
    name: str = param(kubo="arg", doc="the key to remove")
    ipns_base: str = param("base36")


async def key_rm(ctx: Context, p: KeyRmParams) -> KeyInfo:
    form = _base(p)
    return _info(await asyncio.to_thread(_keys(ctx).remove, p.name), form)


def _kubo_key_rm(r: list[KeyInfo], a: KuboArgs) -> dict[str, Any]:
    a.bool("l")
    return {"Keys": [_kubo_key(k) for k in r]}


@dataclass
class KeyExportParams:
    name: str = param(kubo="arg", doc="the key to export")
    format: str = param(FORMAT_PROTOBUF, flags=("f",), doc="libp2p-protobuf-cleartext or pem-pkcs8-cleartext")


@dataclass(frozen=True, slots=True)
class KeyExported:
    name: str
    format: str
    key: bytes


async def key_export(ctx: Context, p: KeyExportParams) -> KeyExported:
    k = await asyncio.to_thread(_keys(ctx).get, p.name)
    return KeyExported(p.name, p.format, export_key(k.private, p.format))


def _kubo_key_export(r: KeyExported, a: KuboArgs) -> Bytes:
    a.str("output", "o")

    async def one() -> AsyncIterator[bytes]:
        yield r.key

    return Bytes(one(), streamed=False)


@dataclass
class KeyImportParams:
    name: str = param(kubo="arg", doc="name of the imported key")
    key: bytes = param(kubo="key", doc="the key file (HTTP: a multipart part)")
    format: str = param(FORMAT_PROTOBUF, flags=("f",), doc="libp2p-protobuf-cleartext or pem-pkcs8-cleartext")
    allow_any_key_type: bool = param(False)
    ipns_base: str = param("base36")


async def key_import(ctx: Context, p: KeyImportParams) -> KeyInfo:
    form = _base(p)
    private = import_key(p.key, p.format, p.allow_any_key_type)
    return _info(await asyncio.to_thread(_keys(ctx).put, p.name, private), form)


async def _kubo_key_import(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> dict[str, Any]:
    options = {"format": a.str("format", "f", default=FORMAT_PROTOBUF),
               "allow_any_key_type": bool(a.bool("allow-any-key-type")),
               "ipns_base": a.str("ipns-base", default="base36")}
    args = a.args()
    if not args or not args[0].strip():
        raise InvalidArgument('argument "name" is required')
    r = await invoke({"name": args[0].strip(), "key": await _read(upload, MAX_KEY_FILE, "key"), **options})
    return _kubo_key(r)


@dataclass
class KeySignParams:
    data: bytes = param(kubo="data", doc="the bytes to sign (HTTP: a multipart part)")
    key: str = param("self", flags=("k",), doc="name of the key to sign with")
    ipns_base: str = param("base36")


@dataclass(frozen=True, slots=True)
class Signed:
    key: KeyInfo
    signature: str  # multibase base64url, as Kubo prints it


async def key_sign(ctx: Context, p: KeySignParams) -> Signed:
    form = _base(p)
    if len(p.data) > MAX_SIGN_DATA:
        raise InvalidArgument(f"data too large: the limit is {MAX_SIGN_DATA} bytes")
    k = await asyncio.to_thread(_keys(ctx).find, p.key)
    return Signed(_info(k, form), multibase.encode("base64url", key_sign_bytes(k.private, p.data)))


async def _kubo_key_sign(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> dict[str, Any]:
    r = await invoke({"data": await _read(upload, MAX_SIGN_DATA, "data"), "key": a.str("key", "k", default="self"),
                      "ipns_base": a.str("ipns-base", default="base36")})
    return {"Key": _kubo_key(r.key), "Signature": r.signature}


@dataclass
class KeyVerifyParams:
    data: bytes = param(kubo="data", doc="the signed bytes (HTTP: a multipart part)")
    signature: str = param(doc="multibase-encoded signature")
    key: str = param("self", flags=("k",), doc="key name or ID (any peer ID or k51... name)")
    ipns_base: str = param("base36")


@dataclass(frozen=True, slots=True)
class Verified:
    key: KeyInfo
    signature_valid: bool


def _decode_multibase(text: str) -> bytes:
    text = text.strip()
    if not text:
        raise InvalidArgument("empty signature")
    pre, body = text[0], text[1:]
    try:
        if pre in "uU":
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if pre in "mM":
            return base64.b64decode(body + "=" * (-len(body) % 4))
        if pre == "f":
            return bytes.fromhex(body)
        if pre in "bB":
            return base64.b32decode(body.upper() + "=" * (-len(body) % 8))
        if pre == "z":
            from ..content.cid import b58decode

            return b58decode(body)
    except ValueError:
        raise InvalidArgument("signature is not valid multibase") from None
    raise InvalidArgument(f"unsupported multibase prefix {pre!r} in signature")


async def key_verify(ctx: Context, p: KeyVerifyParams) -> Verified:
    form = _base(p)
    sig = _decode_multibase(p.signature)
    ks = _keys(ctx)
    try:
        k = await asyncio.to_thread(ks.find, p.key)
        name, pid, pub = k.name, k.peer_id, k.public
    except Exception:  # noqa: BLE001 - not ours: a peer ID whose key is inlined
        pid = parse_peer_id(p.key)
        pub = public_key_of(pid)
        if pub is None:
            raise InvalidArgument(f"{p.key}: no such key here, and its ID does not inline a public key") from None
        name = ""
    return Verified(KeyInfo(name, format_id(pid, form)), key_verify_bytes(pub, p.data, sig))


async def _kubo_key_verify(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> dict[str, Any]:
    sig = a.str("signature")
    if not sig:
        raise InvalidArgument('option "signature" is required')
    r = await invoke({"data": await _read(upload, MAX_SIGN_DATA, "data"), "signature": sig,
                      "key": a.str("key", "k", default="self"), "ipns_base": a.str("ipns-base", default="base36")})
    return {"Key": _kubo_key(r.key), "SignatureValid": r.signature_valid}


# -- names -------------------------------------------------------------------------------------------
@dataclass
class NamePublishParams:
    path: str = param(kubo="arg", doc="/ipfs/<cid>[/path], /ipns/<name> or a CID")
    key: str = param("self", flags=("k",), doc="key name or ID")
    resolve: bool = param(True, doc="check the path resolves before publishing")
    lifetime: str = param("", flags=("t",), doc="how long the record is valid (300s, 1.5h, 7d2h45m; default "
                                                  "ipns.lifetime, 48h)")
    ttl: str = param("", doc="how long resolvers may cache it (default ipns.ttl, 5m; capped to lifetime)")
    allow_offline: bool = param(False, doc="publish even when no DHT peer takes the record")
    sequence: int | None = param(None, minimum=0, doc="a sequence number higher than the current")
    v1compat: bool = param(True, doc="include the V1 fields and signature")
    ipns_base: str = param("base36")


@dataclass(frozen=True, slots=True)
class NamePublished:
    name: str
    value: str
    sequence: int
    peers: int  # DHT peers that took the record


def _content_path(path: str) -> str:
    p = path.strip()
    if not p:
        raise InvalidArgument('argument "ipfs-path" is required')
    if not p.startswith("/"):
        p = "/ipfs/" + p
    if not p.startswith(("/ipfs/", "/ipns/")):
        raise InvalidArgument(f"invalid path {path!r}: /ipfs/ or /ipns/ path expected")
    return p


async def name_publish(ctx: Context, p: NamePublishParams) -> NamePublished:
    form = _base(p)
    value = _content_path(p.path)
    lifetime = parse_duration(p.lifetime) if p.lifetime else None
    ttl = parse_duration(p.ttl) if p.ttl else None
    if ctx.node is None:
        from ..errors import ChannelUnavailable

        raise ChannelUnavailable("publishing needs a node")
    names = names_of(ctx.node)
    if p.resolve:
        if value.startswith("/ipfs/"):
            await asyncio.to_thread(ctx.model.resolve, value)
        else:
            await names.resolve(value)
    r = await names.publish(p.key, value, lifetime=lifetime or None, ttl=ttl,
                            allow_offline=p.allow_offline, sequence=p.sequence, v1_compat=p.v1compat)
    return NamePublished(format_id(r.name, form), r.value, r.sequence, len(r.peers))


def _kubo_name_publish(r: NamePublished, a: KuboArgs) -> Any:
    if a.bool("quieter", "Q"):
        return {"Name": r.name}
    return {"Name": r.name, "Value": r.value}


@dataclass
class NameResolveParams:
    name: str = param("", kubo="arg", doc="the IPNS name or /ipns/ path (default: this node's)")
    recursive: bool = param(True, flags=("r",), doc="resolve until the result is not an IPNS name")
    nocache: bool = param(False, flags=("n",), doc="do not use cached entries")
    dht_record_count: int = param(16, flags=("dhtrc",), minimum=1)
    dht_timeout: str = param("", flags=("dhtt",), doc="max time to collect DHT records (default ipns.resolve_timeout"
                                                        ", 1m; 0: no limit)")


@dataclass(frozen=True, slots=True)
class NameResolved:
    path: str
    steps: list[str]


async def name_resolve(ctx: Context, p: NameResolveParams) -> NameResolved:
    if ctx.node is None:
        from ..errors import ChannelUnavailable

        raise ChannelUnavailable("resolving needs a node")
    names = names_of(ctx.node)
    target = p.name.strip() or "/ipns/" + (await asyncio.to_thread(names.keystore.get, "self")).peer_id.to_base58()
    timeout = (parse_duration(p.dht_timeout) or 3600.0) if p.dht_timeout else None
    steps = [s async for s in names.resolve_steps(target, recursive=p.recursive, nocache=p.nocache,
                                                   count=p.dht_record_count, timeout=timeout)]
    return NameResolved(steps[-1], steps)


def _kubo_name_resolve(r: NameResolved, a: KuboArgs) -> Any:
    if a.bool("stream", "s"):
        async def lines() -> AsyncIterator[dict[str, Any]]:
            for s in r.steps:
                yield {"Path": s}

        return NDJSON(lines())
    return {"Path": r.path}


@dataclass
class NameGetParams:
    name: str = param(kubo="arg", doc="the IPNS name")


@dataclass(frozen=True, slots=True)
class IpnsRecordData:
    name: str
    record: bytes


async def name_get(ctx: Context, p: NameGetParams) -> IpnsRecordData:
    if ctx.node is None:
        from ..errors import ChannelUnavailable

        raise ChannelUnavailable("needs a node")
    return IpnsRecordData(p.name, await names_of(ctx.node).get_record(p.name))


def _kubo_name_get(r: IpnsRecordData, a: KuboArgs) -> Bytes:
    async def one() -> AsyncIterator[bytes]:
        yield r.record

    return Bytes(one(), media_type="application/vnd.ipfs.ipns-record", streamed=False)


@dataclass
class NamePutParams:
    name: str = param(kubo="arg", doc="the IPNS name the record is for")
    record: bytes = param(kubo="record", doc="the signed record (HTTP: a multipart part)")
    force: bool = param(False, flags=("f",), doc="skip validation (signature, sequence)")
    allow_offline: bool = param(False)


async def name_put(ctx: Context, p: NamePutParams) -> NamePublished:
    if ctx.node is None:
        from ..errors import ChannelUnavailable

        raise ChannelUnavailable("needs a node")
    r = await names_of(ctx.node).put_record(p.name, p.record, force=p.force, allow_offline=p.allow_offline)
    return NamePublished(format_id(r.name), r.value, r.sequence, len(r.peers))


async def _kubo_name_put(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> Any:
    force, offline, quiet = bool(a.bool("force", "f")), bool(a.bool("allow-offline")), a.bool("quiet", "q")
    args = a.args()
    if not args or not args[0].strip():
        raise InvalidArgument('argument "name" is required')
    r = await invoke({"name": args[0].strip(), "record": await _read(upload, ipns_record.MAX_RECORD_SIZE + 1, "record"),
                      "force": force, "allow_offline": offline})
    if quiet:
        return {}
    return {"Name": r.name, "Value": r.value}


@dataclass
class NameInspectParams:
    record: bytes = param(kubo="record", doc="the record (HTTP: a multipart part)")
    verify: str | None = param(None, doc="the IPNS name to verify the record against")


@dataclass(frozen=True, slots=True)
class Inspected:
    value: str
    validity_type: int
    validity: str
    sequence: int
    ttl_ns: int
    signature_type: str  # V1+V2 or V2
    size: int
    valid: bool | None  # None: not verified (no name given)
    reason: str
    name: str


async def name_inspect(ctx: Context, p: NameInspectParams) -> Inspected:
    r = ipns_record.parse(p.record)
    sig = "V1+V2" if r.entry.signature_v1 else "V2"
    valid: bool | None = None
    reason, name = "", ""
    if p.verify:
        pid = name_id(split_name_path(p.verify)[0])
        name = format_id(pid)
        try:
            ipns_record.verify(p.record, pid)
            valid = True
        except ipns_record.InvalidRecord as e:
            valid, reason = False, str(e)
    return Inspected(r.value, 0, r.validity_text, r.sequence, r.ttl_ns, sig, len(p.record), valid, reason, name)


async def _kubo_name_inspect(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> Any:
    r = await invoke({"record": await _read(upload, ipns_record.MAX_RECORD_SIZE + 1, "record"),
                      "verify": a.str("verify")})
    out: dict[str, Any] = {"Entry": {"Value": r.value, "ValidityType": r.validity_type, "Validity": r.validity,
                                     "Sequence": r.sequence, "TTL": r.ttl_ns},
                           "PbSize": r.size, "SignatureType": r.signature_type}
    if r.valid is not None:
        out["Validation"] = {"Valid": r.valid, "Reason": r.reason, "Name": r.name}
    return out


# -- IPNS over pubsub (Kubo's name/pubsub/*) ---------------------------------------------------------
def _ipns_pubsub(ctx: Context) -> Any:
    """The node's IPNS-over-pubsub store; a client error when it is off (Kubo's words)."""
    ps = names_of(ctx.node).pubsub if ctx.node is not None else None
    if ps is None:
        raise InvalidArgument("IPNS pubsub subsystem is not enabled")
    return ps


@dataclass
class NamePubsubStateParams:
    pass


@dataclass(frozen=True, slots=True)
class NamePubsubState:
    enabled: bool


async def name_pubsub_state(ctx: Context, p: NamePubsubStateParams) -> NamePubsubState:
    return NamePubsubState(ctx.node is not None and names_of(ctx.node).pubsub is not None)


@dataclass
class NamePubsubSubsParams:
    ipns_base: str = param("base36", doc="b58mh, base36 or base32")


@dataclass(frozen=True, slots=True)
class NamePubsubSubs:
    names: list[str]  # /ipns/<name> of each name whose /record/ topic we are in


async def name_pubsub_subs(ctx: Context, p: NamePubsubSubsParams) -> NamePubsubSubs:
    form = _base(p)
    return NamePubsubSubs(["/ipns/" + format_id(n, form) for n in _ipns_pubsub(ctx).subscriptions()])


@dataclass
class NamePubsubCancelParams:
    name: str = param(kubo="arg", doc="the IPNS name (or /ipns/ path) to stop following")


@dataclass(frozen=True, slots=True)
class NamePubsubCanceled:
    canceled: bool  # false: there was no subscription


async def name_pubsub_cancel(ctx: Context, p: NamePubsubCancelParams) -> NamePubsubCanceled:
    ps = _ipns_pubsub(ctx)
    try:
        pid = parse_peer_id(p.name.strip().removeprefix("/ipns/"))
    except InvalidArgument as e:
        raise InvalidArgument(f"not a valid IPNS name: {e}") from None
    return NamePubsubCanceled(await ps.cancel(pid))


def _kubo_key_info(r: KeyInfo, a: KuboArgs) -> dict[str, str]:
    return _kubo_key(r)


R, W, A = Scope.READ, Scope.WRITE, Scope.ADMIN
_B = ("ipns-base", "string", "b58mh, base36 (default) or base32")
OPS: list[Operation[Any, Any]] = [
    Operation("key_gen", KeyGenParams, KeyInfo, A, "Create a key (ed25519, or rsa) in the keystore", key_gen,
              Kubo("key/gen", _kubo_key_info, arg_doc="name of the key"), cli="key gen", cli_text=lambda o: o["Id"]),
    Operation("key_list", KeyListParams, KeyList, R, "The keys of the keystore (self first)", key_list,
              Kubo("key/list", _kubo_key_list, options=(("l", "boolean", "accepted"),)), cli="key list",
              cli_text=lambda o: "\n".join(f"{k['Id']} {k['Name']}" for k in o["Keys"])),
    Operation("key_rename", KeyRenameParams, KeyRenamed, A, "Rename a key", key_rename,
              Kubo("key/rename", run=_kubo_key_rename, options=(_B, ("force", "boolean", "overwrite")),
                   arg_doc="old name, then new name"), cli="key rename",
              cli_text=lambda o: f"Key {o['Id']} renamed to {o['Now']}"),
    Operation("key_rm", KeyRmParams, KeyInfo, A, "Remove keys", key_rm,
              Kubo("key/rm", _kubo_key_rm, each_arg=True, arg_doc="names of the keys"), cli="key rm",
              cli_text=lambda o: "\n".join(k["Name"] for k in o["Keys"])),
    Operation("key_import", KeyImportParams, KeyInfo, A, "Import a key (libp2p protobuf or PEM PKCS#8)", key_import,
              Kubo("key/import", run=_kubo_key_import, body="files", arg_doc="name of the key",
                   options=(_B, ("format", "string", "libp2p-protobuf-cleartext or pem-pkcs8-cleartext"),
                            ("allow-any-key-type", "boolean", "accept other key types"))),
              cli="key import", cli_text=lambda o: o["Id"]),
    Operation("key_export", KeyExportParams, KeyExported, A, "Export a private key", key_export,
              Kubo("key/export", _kubo_key_export, arg_doc="name of the key",
                   options=(("output", "string", "ignored over RPC"),)), cli="key export"),
    Operation("key_sign", KeySignParams, Signed, A, "Sign bytes with a key (libp2p-key signed message)", key_sign,
              Kubo("key/sign", run=_kubo_key_sign, body="files",
                   options=(_B, ("key", "string", "key name (default self)"))), cli="key sign"),
    Operation("key_verify", KeyVerifyParams, Verified, R, "Verify a key/sign signature", key_verify,
              Kubo("key/verify", run=_kubo_key_verify, body="files",
                   options=(_B, ("key", "string", "key name or ID"), ("signature", "string", "multibase"))),
              cli="key verify"),
    Operation("name_publish", NamePublishParams, NamePublished, W, "Publish an IPNS name (to the DHT)", name_publish,
              Kubo("name/publish", _kubo_name_publish, arg_doc="/ipfs/ path",
                   options=(("quieter", "boolean", "only the name"),)), cli="name publish",
              cli_text=lambda o: f"Published to {o['Name']}: {o['Value']}"),
    Operation("name_resolve", NameResolveParams, NameResolved, R, "Resolve an IPNS name", name_resolve,
              Kubo("name/resolve", _kubo_name_resolve, arg_doc="IPNS name",
                   options=(("stream", "boolean", "one line per step"),)), cli="name resolve",
              cli_text=lambda o: o["Path"]),
    Operation("name_get", NameGetParams, IpnsRecordData, R, "The signed IPNS record of a name", name_get,
              Kubo("name/get", _kubo_name_get, arg_doc="IPNS name"), cli="name get"),
    Operation("name_put", NamePutParams, NamePublished, W, "Store a signed IPNS record (locally and on the DHT)",
              name_put, Kubo("name/put", run=_kubo_name_put, body="files", arg_doc="IPNS name",
                             options=(("force", "boolean", "skip validation"), ("allow-offline", "boolean", ""),
                                      ("quiet", "boolean", "no output"))), cli="name put",
              cli_text=lambda o: f"Published to {o['Name']}: {o['Value']}" if o else ""),
    Operation("name_inspect", NameInspectParams, Inspected, R, "Decode (and verify) an IPNS record", name_inspect,
              Kubo("name/inspect", run=_kubo_name_inspect, body="files",
                   options=(("verify", "string", "IPNS name to verify against"),)), cli="name inspect"),
    Operation("name_pubsub_state", NamePubsubStateParams, NamePubsubState, R,
              "Is IPNS over pubsub on (ipns.use_pubsub)?", name_pubsub_state,
              Kubo("name/pubsub/state", lambda r, a: {"Enabled": r.enabled}), cli="name pubsub state",
              cli_text=lambda o: "enabled" if o["Enabled"] else "disabled"),
    Operation("name_pubsub_subs", NamePubsubSubsParams, NamePubsubSubs, R,
              "Names whose IPNS pubsub topics this node is in", name_pubsub_subs,
              Kubo("name/pubsub/subs", lambda r, a: {"Strings": r.names or None}),
              cli="name pubsub subs", cli_text=lambda o: "\n".join(o["Strings"] or [])),
    Operation("name_pubsub_cancel", NamePubsubCancelParams, NamePubsubCanceled, W,
              "Leave a name's IPNS pubsub topic", name_pubsub_cancel,
              Kubo("name/pubsub/cancel", lambda r, a: {"Canceled": r.canceled}, arg_doc="IPNS name"),
              cli="name pubsub cancel", cli_text=lambda o: "canceled" if o["Canceled"] else "no subscription"),
]

__all__ = ["OPS", "format_duration"]
