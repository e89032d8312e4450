"""Content and peer routing as registry operations: Kubo's ``routing/*`` verbs (find
providers, find a peer, provide, DHT values, reprovide), their legacy ``dht/*``
aliases, and ``provide/stat`` (alias ``stats/provide``). The work is done by
:class:`~ipfs_kit_py.routing.api.RoutingAPI` (shared with ``/routing/v1``).

On ``/api/v0`` the answers are Kubo's: a stream of go-libp2p ``QueryEvent``
objects (``{"Extra","ID","Responses","Type"}``, one per line, with Kubo's
``X-Chunked-Output`` header; Type 2 FinalPeer, 3 QueryError, 4 Provider, 5 Value),
and the legacy provider's stat object. Errors found before the first event get
Kubo's error shape and the error's status. Elsewhere the typed results: the
streamed ones (find_providers, provide) are gathered into one answer on the
channels that answer once (/ws, libp2p mcp, MCP tools).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ..access import Scope
from ..content.cid import CID
from ..errors import ChannelUnavailable, InvalidArgument, NotFound
from ..operation import (
    NDJSON,
    Bytes,
    Context,
    Invoke,
    ItemStream,
    Kubo,
    KuboArgs,
    Operation,
    Upload,
    param,
)
from ..routing.api import RoutingAPI, routing_api
from ..routing.delegated import parse_peer_id
from .node import NoParams

FINAL_PEER, QUERY_ERROR, PROVIDER, VALUE = 2, 3, 4, 5  # go-libp2p routing.QueryEventType
MAX_VALUE = 10 * 1024  # bytes of a DHT value: the IPNS record limit (and far above a public key)
VERBOSE_DOC = "Kubo's -v: the CLI prints every event and the addresses (the answer is the same)"


def query_event(type_: int, *, id_: str = "", responses: list[dict[str, Any]] | None = None,
                extra: str = "") -> dict[str, Any]:
    return {"Extra": extra, "ID": id_, "Responses": responses, "Type": type_}


def _api(ctx: Context) -> RoutingAPI:
    if ctx.node is None:
        raise ChannelUnavailable("routing needs the running server (its libp2p peer)")
    return routing_api(ctx.node)


# -- find_providers (routing/findprovs) -----------------------------------------------------------
@dataclass
class FindProvsParams:
    cid: str = param(kubo="arg", doc="the CID to find providers of")
    num_providers: int = param(20, flags=("n",), minimum=1, doc="the number of providers to find")
    verbose: bool = param(False, flags=("v",), doc=VERBOSE_DOC)


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    addrs: list[str]


@dataclass(frozen=True, slots=True)
class Providers:
    providers: list[Provider]


async def find_providers(ctx: Context, p: FindProvsParams) -> ItemStream[Provider]:
    """This node first (when it holds the block and serves bitswap), then the DHT's providers."""
    root = CID.decode(p.cid)  # a bad CID is refused before anything is sent
    if p.num_providers < 1:
        raise InvalidArgument("number of providers must be greater than 0")
    api = _api(ctx)

    async def items() -> AsyncIterator[Provider]:
        async for rec in api.find_providers(root, p.num_providers):
            yield Provider(rec["ID"], list(rec.get("Addrs") or []))

    return ItemStream(items())


async def providers_json(result: ItemStream[Provider]) -> Providers:
    return Providers([x async for x in result.items])


def _addr_info(peer: str, addrs: list[str]) -> dict[str, Any]:
    return {"ID": peer, "Addrs": addrs}


def _kubo_findprovs(result: ItemStream[Provider], a: KuboArgs) -> NDJSON:
    async def lines() -> AsyncIterator[dict[str, Any]]:
        async for prov in result.items:
            yield query_event(PROVIDER, responses=[_addr_info(prov.id, prov.addrs)])

    return NDJSON(lines())


def _findprovs_text(obj: dict[str, Any], verbose: bool = False) -> str:
    if obj["Type"] == PROVIDER:
        prov = obj["Responses"][0]
        if not verbose:
            return str(prov["ID"])
        return "\n".join([f"provider: {prov['ID']}", *(f"\t{x}" for x in prov.get("Addrs") or [])])
    return _other_event_text(obj, verbose)


def _other_event_text(obj: dict[str, Any], verbose: bool) -> str:
    """Kubo's printEvent for the events a command does not print itself (only with -v)."""
    if not verbose:
        return ""
    if obj["Type"] == FINAL_PEER:
        return f"* closest peer {obj['ID']}"
    if obj["Type"] == QUERY_ERROR:
        return f"error: {obj['Extra']}"
    return f"unrecognized event type: {obj['Type']}"


# -- find_peer (routing/findpeer) -----------------------------------------------------------------
@dataclass
class FindPeerParams:
    peer: str = param(kubo="arg", doc="the peer ID to find (base58 or CIDv1)")
    verbose: bool = param(False, flags=("v",), doc=VERBOSE_DOC)


@dataclass(frozen=True, slots=True)
class PeerFound:
    id: str
    addrs: list[str]


async def find_peer(ctx: Context, p: FindPeerParams) -> PeerFound:
    pid = parse_peer_id(p.peer)
    api = _api(ctx)
    svc = api.service
    if svc is not None and pid == svc.get_id():  # Kubo's refusal, word for word
        raise InvalidArgument("finding your own node in the DHT is currently not supported")
    rec = await api.find_peer(pid)
    if rec is None:
        raise NotFound(f"routing: not found: {pid}")
    return PeerFound(rec["ID"], list(rec.get("Addrs") or []))


def _kubo_findpeer(r: PeerFound, a: KuboArgs) -> NDJSON:
    return NDJSON(_one(query_event(FINAL_PEER, responses=[_addr_info(r.id, r.addrs)])))


def _findpeer_text(obj: dict[str, Any], verbose: bool = False) -> str:
    if obj["Type"] == FINAL_PEER and obj.get("Responses"):
        return "\n".join(str(x) for x in obj["Responses"][0].get("Addrs") or [])
    return _other_event_text(obj, verbose)


# -- provide (routing/provide) ---------------------------------------------------------------------
@dataclass
class ProvideParams:
    cid: str = param(kubo="arg", doc="a CID held here (Kubo's RPC: one or more)")
    recursive: bool = param(False, flags=("r",), doc="announce every block of the DAG, not only its root")
    verbose: bool = param(False, flags=("v",), doc=VERBOSE_DOC)


@dataclass(frozen=True, slots=True)
class Announced:
    cid: str
    peers: list[str]  # the peers that accepted the provider record
    error: str | None  # why nobody took it


@dataclass(frozen=True, slots=True)
class Provided:
    provided: bool  # at least one peer accepted a record
    keys: list[Announced] = field(default_factory=list)


async def provide(ctx: Context, p: ProvideParams) -> ItemStream[Announced]:
    """Announce the CID (``recursive``: each block of its DAG); one item per CID announced.
    Kubo's preconditions (held here, peers connected) are checked before anything is sent."""
    api = _api(ctx)
    await api.check_provide([p.cid])

    async def items() -> AsyncIterator[Announced]:
        async for r in api.provide([p.cid], recursive=p.recursive):
            yield Announced(r.cid, list(r.peers), r.error)

    return ItemStream(items())


async def provided_json(result: ItemStream[Announced]) -> Provided:
    keys = [x async for x in result.items]
    return Provided(any(k.peers for k in keys), keys)


def _kubo_provide(results: list[ItemStream[Announced]], a: KuboArgs) -> NDJSON:
    """Every argument was checked (each ``invoke``) before this first line."""

    async def lines() -> AsyncIterator[dict[str, Any]]:
        for result in results:
            async for r in result.items:
                for peer in r.peers:  # Kubo's -v: "sending provider record to peer X"
                    yield query_event(FINAL_PEER, id_=peer)
                if r.error:
                    yield query_event(QUERY_ERROR, extra=f"{r.cid}: {r.error}")

    return NDJSON(lines())


def _provide_text(obj: dict[str, Any], verbose: bool = False) -> str:
    if obj["Type"] == FINAL_PEER:
        return f"sending provider record to peer {obj['ID']}" if verbose else ""
    return _other_event_text(obj, verbose)


# -- routing_get / routing_put (routing/get, routing/put) -----------------------------------------------
@dataclass
class GetValueParams:
    key: str = param(kubo="arg", doc="/pk/<peer ID> or /ipns/<peer ID>")


@dataclass(frozen=True, slots=True)
class DhtValue:
    key: str
    value: bytes


async def routing_get(ctx: Context, p: GetValueParams) -> DhtValue:
    return DhtValue(p.key, await _api(ctx).get_value(p.key))


def _kubo_get(r: DhtValue, a: KuboArgs) -> NDJSON:
    return NDJSON(_one(query_event(VALUE, extra=base64.b64encode(r.value).decode())))


def _get_bytes(obj: dict[str, Any]) -> bytes | str:
    """Kubo's ``routing get`` writes the value itself (bytes, no newline)."""
    return base64.b64decode(obj["Extra"]) if obj["Type"] == VALUE else ""


@dataclass
class PutValueParams:
    key: str = param(kubo="arg", doc="/pk/<peer ID> or /ipns/<peer ID>")
    value: bytes = param(kubo="value-file", doc="the record (HTTP: a multipart part)")


@dataclass(frozen=True, slots=True)
class DhtPut:
    key: str
    peer: str  # the peer ID the key names


async def routing_put(ctx: Context, p: PutValueParams) -> DhtPut:
    if len(p.value) > MAX_VALUE:
        raise InvalidArgument(f"value too large: the limit is {MAX_VALUE} bytes")
    api = _api(ctx)
    api.dht_key(p.key)  # a bad key is refused before the record is looked at
    await api.put_value(p.key, p.value)
    return DhtPut(p.key, parse_peer_id(p.key.rsplit("/", 1)[-1]))


async def _kubo_put(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> NDJSON:
    args = [x.strip() for x in a.args() if x.strip()]
    if not args:
        raise InvalidArgument('argument "key" is required')
    r = await invoke({"key": args[0], "value": await _read_value(upload)})
    return NDJSON(_one(query_event(VALUE, id_=r.peer)))


async def _read_value(upload: Upload | None) -> bytes:
    """The first multipart part (Kubo's ``value-file``), read no further than the limit."""
    if upload is not None:
        async for entry in upload.entries:
            buf = bytearray()
            async for chunk in entry.data:
                buf += chunk
                if len(buf) > MAX_VALUE:
                    raise InvalidArgument(f"value too large: the limit is {MAX_VALUE} bytes")
            return bytes(buf)
    raise InvalidArgument('argument "value-file" is required (a multipart part)')


def _put_text(obj: dict[str, Any], verbose: bool = False) -> str:
    return str(obj["ID"]) if obj["Type"] == VALUE else _other_event_text(obj, verbose)


# -- reprovide, provide_stat ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProvideStat:
    """The reprovider's state (durations in nanoseconds, times RFC 3339)."""

    strategy: str
    running: bool
    running_since: str | None
    running_provided: int
    next_run: str | None
    total_reprovides: int  # runs completed
    last_batch_size: int  # CIDs announced in the last run
    last_reprovide_failed: int  # CIDs no peer accepted in the last run
    total_provides: int  # records accepted by a peer, all runs
    interval_ns: int
    avg_duration_ns: int
    last_duration_ns: int
    last_run: str | None
    errors: list[dict[str, Any]]


def _reprovider(ctx: Context) -> Any:
    api = _api(ctx)
    reprovider = getattr(api.service, "reprovider", None)
    if reprovider is None:
        api.provide_stat()  # raises the reason
    return reprovider


async def provide_stat(ctx: Context, p: NoParams) -> ProvideStat:
    s = _api(ctx).provide_stat()
    legacy = s["Legacy"]
    return ProvideStat(s["Strategy"], s["Running"], s["RunningSince"], s["RunningProvided"], s["NextRun"],
                       legacy["TotalReprovides"], legacy["LastReprovideBatchSize"], s["LastReprovideFailed"],
                       s["TotalProvides"], legacy["ReprovideInterval"], legacy["AvgReprovideDuration"],
                       legacy["LastReprovideDuration"], legacy["LastRun"], list(s["Errors"]))


def _kubo_provide_stat(r: ProvideStat, a: KuboArgs) -> dict[str, Any]:
    """Kubo's legacy provider stat (``Sweep`` null, ``FullRT`` false) and the reprovider's own fields."""
    return {
        "Sweep": None,
        "Legacy": {"TotalReprovides": r.total_reprovides, "LastReprovideBatchSize": r.last_batch_size,
                   "ReprovideInterval": r.interval_ns, "AvgReprovideDuration": r.avg_duration_ns,
                   "LastReprovideDuration": r.last_duration_ns, "LastRun": r.last_run},
        "FullRT": False,
        "Strategy": r.strategy, "Running": r.running, "RunningSince": r.running_since,
        "RunningProvided": r.running_provided, "NextRun": r.next_run, "TotalProvides": r.total_provides,
        "LastReprovideFailed": r.last_reprovide_failed, "Errors": r.errors,
    }


def _provide_stat_text(o: dict[str, Any]) -> str:
    legacy = o["Legacy"]
    return (f"TotalReprovides:      {legacy['TotalReprovides']}\n"
            f"AvgReprovideDuration: {legacy['AvgReprovideDuration'] / 1e9:.3f}s\n"
            f"LastReprovideDuration: {legacy['LastReprovideDuration'] / 1e9:.3f}s\n"
            f"LastReprovide:        {legacy['LastRun'] or 'never'}\n"
            f"NextReprovide:        {o['NextRun'] or ('running' if o['Running'] else 'not scheduled')}\n"
            f"LastBatchSize:        {legacy['LastReprovideBatchSize']} ({o['LastReprovideFailed']} failed)\n"
            f"Strategy:             {o['Strategy']}")


@dataclass(frozen=True, slots=True)
class Reprovided:
    total_reprovides: int
    last_batch_size: int
    last_reprovide_failed: int


async def reprovide(ctx: Context, p: NoParams) -> Reprovided:
    """Run the reprovider now; answers when the run is over."""
    state = await _reprovider(ctx).run_once()
    return Reprovided(state.total_reprovides, state.last_batch_size, state.last_batch_failed)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


def _kubo_empty(r: Any, a: KuboArgs) -> Bytes:
    return Bytes(_nothing(), "text/plain", streamed=False)  # Kubo's routing/reprovide: an empty body


async def _one(obj: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    yield obj


R, W = Scope.READ, Scope.WRITE
OPS: list[Operation[Any, Any]] = [
    Operation("find_providers", FindProvsParams, ItemStream, R,
              "Find providers of a CID (this node, then the DHT); streamed", find_providers,
              Kubo("routing/findprovs", _kubo_findprovs, aliases=("dht/findprovs",), arg_doc="CID"),
              cli="routing findprovs", json_result=providers_json, cli_text=_findprovs_text),
    Operation("find_peer", FindPeerParams, PeerFound, R, "Find the addresses of a peer (peerstore, then the DHT)",
              find_peer, Kubo("routing/findpeer", _kubo_findpeer, aliases=("dht/findpeer",), arg_doc="peer ID"),
              cli="routing findpeer", cli_text=_findpeer_text),
    Operation("provide", ProvideParams, ItemStream, W, "Announce CIDs held here on the DHT (-r: whole DAGs); streamed",
              provide, Kubo("routing/provide", _kubo_provide, each_arg=True, aliases=("dht/provide",), arg_doc="CID"),
              cli="routing provide", json_result=provided_json, cli_text=_provide_text),
    Operation("routing_get", GetValueParams, DhtValue, R, "Read a DHT value (/pk/<peer>, /ipns/<peer>)", routing_get,
              Kubo("routing/get", _kubo_get, aliases=("dht/get",), arg_doc="/pk/<peer ID> or /ipns/<peer ID>"),
              cli="routing get", cli_text=_get_bytes),
    Operation("routing_put", PutValueParams, DhtPut, W, "Store a DHT value (/pk/<peer>, /ipns/<peer>), checked",
              routing_put, Kubo("routing/put", run=_kubo_put, body="files", aliases=("dht/put",),
                                arg_doc="/pk/<peer ID> or /ipns/<peer ID>"),
              cli="routing put", cli_text=_put_text),
    Operation("reprovide", NoParams, Reprovided, W, "Run the reprovider now and wait for the run to finish",
              reprovide, Kubo("routing/reprovide", _kubo_empty), cli="routing reprovide"),
    Operation("provide_stat", NoParams, ProvideStat, R, "The reprovider's state (Kubo's legacy provide stat)",
              provide_stat, Kubo("provide/stat", _kubo_provide_stat, aliases=("stats/provide",)),
              cli="provide stat", cli_text=_provide_stat_text),
]
