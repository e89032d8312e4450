"""Operations of the node: identity, version, CID formatting, and the libp2p
service's transfers and bitswap, and ``transfer_content`` (the swarm's
operations are in ``ops/swarm.py``, routing and providing in ``ops/routing.py``).

The services (``p2p/service.py``, ``transfer.py``) are Python APIs; these
operations are their only wire form.
"""

from __future__ import annotations

import base64
import platform
import weakref
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from .. import __version__
from ..access import Scope
from ..content import multibase
from ..content.cid import CID, HASH_NAMES, b58encode
from ..errors import InvalidArgument, InvalidCID, NotFound
from ..operation import NDJSON, Context, Invoke, Kubo, KuboArgs, Operation, Upload, param
from ..types import Libp2pTransfer, TransferReport, VersionInfo

AGENT_VERSION = f"ipfs-kit-py/{__version__}"
PROTOCOL_VERSION = "ipfs/0.1.0"


@dataclass
class NoParams:
    pass


# -- id / version -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    public_key: str
    addresses: list[str]
    agent_version: str
    protocol_version: str
    protocols: list[str]
    operations: list[str]


@dataclass
class IdParams:
    peer: str | None = param(None, kubo="arg", doc="only this node's own ID")


_fallback_ids: weakref.WeakKeyDictionary[Any, tuple[str, str]] = weakref.WeakKeyDictionary()


def _server_identity(key: Any) -> tuple[str, str]:
    """Without a libp2p service: a per-process Ed25519 key, so ``ID`` is a valid
    peer ID for clients that parse it. Replaced by the peer's real identity once
    the libp2p service runs."""
    if key not in _fallback_ids:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        proto = b"\x08\x01\x12\x20" + raw  # libp2p PublicKey{Type: Ed25519, Data}
        _fallback_ids[key] = (b58encode(b"\x00" + bytes([len(proto)]) + proto), base64.b64encode(proto).decode())
    return _fallback_ids[key]


async def id_(ctx: Context, p: IdParams) -> Identity:
    from ..registry import names

    libp2p = ctx.node.services.get("libp2p") if ctx.node is not None else None
    if libp2p is not None:
        my_id = str(libp2p.get_id())
        addrs = [str(a) for a in libp2p.get_addrs()]
        pub = base64.b64encode(bytes(libp2p.get_public_key())).decode()
    else:
        my_id, pub = _server_identity(ctx.node if ctx.node is not None else ctx.model)
        addrs = []
    if p.peer is not None and p.peer != my_id:
        raise InvalidArgument("only the local node's identity is available here")
    return Identity(my_id, pub, addrs, AGENT_VERSION, PROTOCOL_VERSION, [], names(ctx.caller.channel))


def _kubo_id(i: Identity, a: KuboArgs) -> dict[str, Any]:
    a.str("format", "f")
    return {"ID": i.id, "PublicKey": i.public_key, "Addresses": i.addresses, "AgentVersion": i.agent_version,
            "ProtocolVersion": i.protocol_version, "Protocols": i.protocols}


async def version(ctx: Context, p: NoParams) -> VersionInfo:
    return VersionInfo(__version__, "", "1", f"{platform.machine()}/{platform.system().lower()}")


def _kubo_version(v: VersionInfo, a: KuboArgs) -> dict[str, Any]:
    return {"Version": v.version, "Commit": v.commit, "Repo": v.repo, "System": v.system,
            "Golang": f"python{platform.python_version()}"}


# -- cid format (Kubo's `ipfs cid format`) ------------------------------------------------------------
@dataclass
class CidFormatParams:
    cid: str = param(kubo="arg", doc="the CID to format")
    format: str = param("%s", kubo="f", doc="format string: %s %S %b %B %v %V %c %C %h %H %L %m %M %d %D %P %%")
    version: int | None = param(None, kubo="v", doc="CID version to convert to (0 or 1)")
    base: str | None = param(None, kubo="b", doc="multibase name (base32, base58btc, base36, base16, base64, ...)")


@dataclass(frozen=True, slots=True)
class CidFormatted:
    cid: str  # the CID as given
    formatted: str


def format_cid(cid: CID, fmt: str, base: str) -> str:
    """Kubo's ``cid format`` verbs over ``cid`` in multibase ``base``."""
    code, length = cid.hash_code, len(cid.digest)
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%" or i + 1 == len(fmt):
            out.append(ch)
            i += 1
            continue
        verb = fmt[i + 1]
        i += 2
        if verb == "%":
            out.append("%")
        elif verb == "b":
            out.append(base)
        elif verb == "B":
            out.append(multibase.prefix(base))
        elif verb == "v":
            out.append(f"cidv{cid.version}")
        elif verb == "V":
            out.append(str(cid.version))
        elif verb == "c":
            out.append(cid.codec_name)
        elif verb == "C":
            out.append(str(cid.codec))
        elif verb == "h":
            out.append(HASH_NAMES.get(code, hex(code)))
        elif verb == "H":
            out.append(str(code))
        elif verb == "L":
            out.append(str(length))
        elif verb in "mM":
            text = multibase.encode(base, cid.multihash)
            out.append(text if verb == "m" else text[1:])
        elif verb in "dD":
            text = multibase.encode(base, cid.digest)
            out.append(text if verb == "d" else text[1:])
        elif verb in "sS":
            text = b58encode(bytes(cid)) if cid.version == 0 else multibase.encode(base, bytes(cid))
            out.append(text if verb == "s" or cid.version == 0 else text[1:])
        elif verb == "P":
            out.append(f"cidv{cid.version}-{cid.codec_name}-{HASH_NAMES.get(code, hex(code))}-{length}")
        else:
            raise InvalidArgument(f"unrecognized format verb %{verb}")
    return "".join(out)


async def cid_format(ctx: Context, p: CidFormatParams) -> CidFormatted:
    if p.version not in (None, 0, 1):
        raise InvalidArgument("cid version must be 0 or 1")
    if p.base is not None and p.base not in multibase.NAMES:
        raise InvalidArgument(f"unknown multibase {p.base!r}: {', '.join(sorted(multibase.NAMES))}")
    cid = CID.decode(p.cid)
    if p.version == 1 or (p.version is None and p.base not in (None, "base58btc") and cid.version == 0):
        cid = cid.to_v1()  # as Kubo: another base than base58btc needs CIDv1
    elif p.version == 0:
        if cid.codec_name != "dag-pb" or cid.hash_code != 0x12 or len(cid.digest) != 32:
            raise InvalidArgument(f"{p.cid} cannot be a CIDv0 (only sha2-256 dag-pb CIDs can)")
        if p.base not in (None, "base58btc"):
            raise InvalidArgument("CIDv0 is always base58btc")
        cid = CID(0, cid.codec, cid.multihash)
    base = p.base or ("base58btc" if cid.version == 0 else multibase.name_of(p.cid.strip()[:1]) or "base32")
    return CidFormatted(p.cid, format_cid(cid, p.format, base))


async def _kubo_cid_format(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> NDJSON:
    """One ``{"Formatted","CidStr","ErrorMsg"}`` line per argument; a bad CID is
    reported in its line (as Kubo does), bad options are a 400."""
    cids = a.args()
    if not cids or not cids[0].strip():
        raise InvalidArgument('argument "cid" is required')
    options = {"format": a.str("f", default="%s"), "version": a.int("v"), "base": a.str("b")}
    first: list[dict[str, Any]] = []
    for c in cids:
        try:
            r = await invoke({"cid": c, **options})
            first.append({"Formatted": r.formatted, "CidStr": c, "ErrorMsg": ""})
        except InvalidCID as e:
            first.append({"Formatted": "", "CidStr": c, "ErrorMsg": str(e)})

    async def lines() -> AsyncIterator[dict[str, Any]]:
        for line in first:
            yield line

    return NDJSON(lines())


# -- libp2p: transfers, DHT (the swarm's operations are in ops/swarm.py) ----------------------------
@dataclass
class TransferParams:
    cid: str = param(kubo="arg")
    target_peer: str = param(kubo="peer", doc="multiaddr or peer ID")
    pin: bool = param(True)
    transfer_id: str | None = param(None, kubo="id")


async def transfer_via_libp2p(ctx: Context, p: TransferParams) -> Libp2pTransfer:
    r = await ctx.service("libp2p").transfer_via_libp2p(p.cid, p.target_peer, pin=p.pin, transfer_id=p.transfer_id)
    return Libp2pTransfer.from_dict(r)


@dataclass
class FetchParams:
    cid: str = param(kubo="arg")
    source_peer: str = param(kubo="peer", doc="multiaddr or peer ID")
    offset: int | None = param(None, minimum=0)
    length: int | None = param(None, minimum=0)
    pin: bool = param(False)
    transfer_id: str | None = param(None, kubo="id")


@dataclass(frozen=True, slots=True)
class Fetched:
    cid: str
    peer: str
    blocks: int
    bytes: int
    transfer_id: str
    pinned: bool


async def fetch_via_libp2p(ctx: Context, p: FetchParams) -> Fetched:
    r = await ctx.service("libp2p").fetch_via_libp2p(p.cid, p.source_peer, offset=p.offset, length=p.length,
                                                     pin=p.pin, transfer_id=p.transfer_id)
    return Fetched(r["cid"], r.get("peer", p.source_peer), int(r.get("blocks", 0)), int(r.get("bytes", 0)),
                   r.get("transfer_id", ""), bool(r.get("pinned", p.pin)))


@dataclass
class BitswapParams:
    cid: str = param(kubo="arg")
    peer: str | None = param(None, doc="multiaddr or peer ID (default: every connected peer)")
    pin: bool = param(False)


@dataclass(frozen=True, slots=True)
class BitswapFetched:
    cid: str
    blocks: int
    bytes: int
    transfer_id: str
    pinned: bool


async def bitswap_fetch(ctx: Context, p: BitswapParams) -> BitswapFetched:
    r = await ctx.service("libp2p").bitswap_fetch(p.cid, p.peer, pin=p.pin)
    return BitswapFetched(r["cid"], r["blocks"], r["bytes"], r["transfer_id"], r["pinned"])


@dataclass
class TransferIdParams:
    transfer_id: str = param(kubo="arg")


@dataclass(frozen=True, slots=True)
class Cancelled:
    cancelled: str


async def transfer_cancel(ctx: Context, p: TransferIdParams) -> Cancelled:
    if not ctx.service("libp2p").cancel_transfer(p.transfer_id):
        raise NotFound(f"no running transfer {p.transfer_id}")
    return Cancelled(p.transfer_id)


@dataclass(frozen=True, slots=True)
class Transfers:
    transfers: list[str]


async def transfers(ctx: Context, p: NoParams) -> Transfers:
    return Transfers(sorted(ctx.service("libp2p").transfers))


# -- bitswap and peer reputation (p2p/reputation.py) -------------------------------------------------
@dataclass(frozen=True, slots=True)
class BitswapStat:
    blocks_received: int
    blocks_sent: int
    data_received: int
    data_sent: int
    dup_blocks_received: int
    dup_data_received: int
    messages_received: int
    peers: list[str]
    wantlist: list[str]


async def bitswap_stat(ctx: Context, p: NoParams) -> BitswapStat:
    st = ctx.service("libp2p").bitswap.stat()
    return BitswapStat(st["BlocksReceived"], st["BlocksSent"], st["DataReceived"], st["DataSent"],
                       st["DupBlksReceived"], st["DupDataReceived"], st["MessagesReceived"], st["Peers"],
                       [w["/"] for w in st["Wantlist"]])


def _kubo_bitswap_stat(r: BitswapStat, a: KuboArgs) -> dict[str, Any]:
    return {"BlocksReceived": r.blocks_received, "BlocksSent": r.blocks_sent, "DataReceived": r.data_received,
            "DataSent": r.data_sent, "DupBlksReceived": r.dup_blocks_received,
            "DupDataReceived": r.dup_data_received, "MessagesReceived": r.messages_received, "Peers": r.peers,
            "Wantlist": [{"/": c} for c in r.wantlist]}


@dataclass(frozen=True, slots=True)
class Wantlist:
    keys: list[str]


async def bitswap_wantlist(ctx: Context, p: NoParams) -> Wantlist:
    return Wantlist([str(c) for c in ctx.service("libp2p").bitswap.wantlist()])


def _kubo_wantlist(r: Wantlist, a: KuboArgs) -> dict[str, Any]:
    return {"Keys": [{"/": c} for c in r.keys]}


@dataclass
class PeerIdParams:
    peer: str = param(kubo="arg", doc="peer ID")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    peer: str
    exchanged: int
    recv: int
    sent: int
    value: float


async def bitswap_ledger(ctx: Context, p: PeerIdParams) -> LedgerEntry:
    led = ctx.service("libp2p").bitswap.ledger_view(p.peer)
    return LedgerEntry(led["Peer"], led["Exchanged"], led["Recv"], led["Sent"], led["Value"])


def _kubo_ledger(r: LedgerEntry, a: KuboArgs) -> dict[str, Any]:
    return {"Exchanged": r.exchanged, "Peer": r.peer, "Recv": r.recv, "Sent": r.sent, "Value": r.value}


@dataclass
class OptPeerIdParams:
    peer: str | None = param(None, kubo="arg", doc="peer ID (default: every peer in the ledger)")


@dataclass(frozen=True, slots=True)
class PeerReputation:
    peers: list[dict[str, Any]]


async def peer_reputation(ctx: Context, p: OptPeerIdParams) -> PeerReputation:
    peers = ctx.service("libp2p").ledger.view(p.peer)
    if p.peer is not None and not peers:
        raise NotFound(f"no record of peer {p.peer}")
    return PeerReputation(peers)


def _kubo_reputation(r: PeerReputation, a: KuboArgs) -> dict[str, Any]:
    return {"Peers": r.peers}


# -- transfer_content (libp2p, else WebSocket, else HTTP) --------------------------------------------
@dataclass
class TransferContentParams:
    cid: str = param(kubo="arg")
    target: str = param(doc="peer ID, multiaddr or http(s) URL")
    channels: str = param("libp2p,websocket,http", doc="comma-separated, in order")


async def transfer_content(ctx: Context, p: TransferContentParams) -> TransferReport:
    from ..transfer import transfer_content as run

    if ctx.node is None:
        from ..errors import ChannelUnavailable

        raise ChannelUnavailable("transfer_content needs a running node")
    return await run(ctx.node, p.cid, p.target, tuple(c for c in p.channels.split(",") if c))


def _kubo_asdict(r: Any, a: KuboArgs) -> dict[str, Any]:
    return asdict(r)


R, W, A = Scope.READ, Scope.WRITE, Scope.ADMIN
OPS: list[Operation[Any, Any]] = [
    Operation("id", IdParams, Identity, R, "Identity of this node (and the operations it offers)", id_,
              Kubo("id", _kubo_id, options=(("format", "string", "accepted"),)), cli="id"),
    Operation("version", NoParams, VersionInfo, R, "Version of this server", version,
              Kubo("version", _kubo_version), cli="version"),
    Operation("cid_format", CidFormatParams, CidFormatted, R, "Format a CID (Kubo's `cid format`)", cid_format,
              Kubo("cid/format", run=_kubo_cid_format, arg_doc="CIDs to format"), cli="cid format",
              cli_text=lambda line: str(line["Formatted"])),
    Operation("transfer_via_libp2p", TransferParams, Libp2pTransfer, W,
              "Push a CID's DAG to a peer over /ipfs-kit/content/1.0.0 (it verifies and pins it)",
              transfer_via_libp2p, Kubo("libp2p/transfer", _kubo_asdict, arg_doc="CID")),
    Operation("fetch_via_libp2p", FetchParams, Fetched, W,
              "Fetch a CID (or the blocks of a byte range) from a peer over /ipfs-kit/content/1.0.0",
              fetch_via_libp2p, Kubo("libp2p/fetch", _kubo_asdict, arg_doc="CID")),
    Operation("bitswap_fetch", BitswapParams, BitswapFetched, W, "Fetch a CID over bitswap (from Kubo or any peer)",
              bitswap_fetch, Kubo("libp2p/bitswap/fetch", _kubo_asdict, arg_doc="CID")),
    Operation("transfer_cancel", TransferIdParams, Cancelled, W, "Cancel a running libp2p transfer",
              transfer_cancel, Kubo("libp2p/transfer/cancel", _kubo_asdict, arg_doc="transfer id")),
    Operation("transfers", NoParams, Transfers, R, "Running libp2p transfers", transfers,
              Kubo("libp2p/transfers", _kubo_asdict)),
    Operation("bitswap_stat", NoParams, BitswapStat, R, "Bitswap totals since start, peers and wantlist",
              bitswap_stat, Kubo("bitswap/stat", _kubo_bitswap_stat), cli="bitswap stat"),
    Operation("bitswap_wantlist", NoParams, Wantlist, R, "Blocks the node's reads want now", bitswap_wantlist,
              Kubo("bitswap/wantlist", _kubo_wantlist), cli="bitswap wantlist",
              cli_text=lambda obj: "\n".join(k["/"] for k in obj["Keys"])),
    Operation("bitswap_ledger", PeerIdParams, LedgerEntry, R, "What we exchanged with a peer", bitswap_ledger,
              Kubo("bitswap/ledger", _kubo_ledger, arg_doc="peer ID"), cli="bitswap ledger"),
    Operation("peer_reputation", OptPeerIdParams, PeerReputation, R,
              "Every peer's record (or one's): blocks and bytes each way, latency, throughput, failures, "
              "bad blocks, score, standing, ban", peer_reputation,
              Kubo("ipfs-kit/peer_reputation", _kubo_reputation, arg_doc="peer ID")),
    Operation("transfer_content", TransferContentParams, TransferReport, W,
              "Push a CID to another node: libp2p, else WebSocket, else HTTP", transfer_content,
              Kubo("ipfs-kit/transfer", _kubo_asdict, arg_doc="CID")),
]
