"""Pubsub (Kubo's ``pubsub/*``) as registry operations; topics and data are
multibase-encoded on Kubo's RPC (``u`` + base64url), plain in the typed form."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..access import Scope
from ..errors import InvalidArgument
from ..operation import (
    NDJSON,
    Context,
    Invoke,
    ItemStream,
    Kubo,
    KuboArgs,
    Operation,
    Upload,
    param,
)
from .names import _decode_multibase, _read

MAX_DATA = 1 << 20


def mb(data: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(data).decode().rstrip("=")


def _text(multibased: str) -> str:
    """A multibase field of Kubo's RPC as the CLI prints it (text; undecodable bytes replaced)."""
    return _decode_multibase(multibased).decode("utf-8", "replace")


def _topic_arg(text: str) -> str:
    try:
        return _decode_multibase(text).decode("utf-8")
    except (InvalidArgument, UnicodeDecodeError):
        raise InvalidArgument(f"topic {text!r} must be multibase-encoded (u + base64url of the topic)") from None


@dataclass
class PubParams:
    topic: str = param(kubo="arg", doc="the topic (Kubo's RPC: multibase)")
    data: bytes = param(kubo="data", doc="the message (HTTP: a multipart part)")


@dataclass(frozen=True, slots=True)
class PubDone:
    topic: str
    size: int


async def pubsub_pub(ctx: Context, p: PubParams) -> PubDone:
    if not p.topic:
        raise InvalidArgument("empty topic")
    await ctx.service("pubsub").publish(p.topic, p.data)
    return PubDone(p.topic, len(p.data))


async def _kubo_pub(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> dict[str, Any]:
    args = a.args()
    if not args or not args[0].strip():
        raise InvalidArgument('argument "topic" is required')
    # the service refuses more than pubsub.max_message; reading stops a byte past the largest it could take
    await invoke({"topic": _topic_arg(args[0].strip()), "data": await _read(upload, MAX_DATA, "data")})
    return {}


@dataclass
class SubParams:
    topic: str = param(kubo="arg", doc="the topic (Kubo's RPC: multibase)")


@dataclass(frozen=True, slots=True)
class PubsubMessage:
    from_peer: str
    data: bytes
    seqno: bytes
    topics: list[str]


async def pubsub_sub(ctx: Context, p: SubParams) -> ItemStream[PubsubMessage]:
    svc = ctx.service("pubsub")

    async def items() -> AsyncIterator[PubsubMessage]:
        async for m in svc.subscribe(p.topic):
            yield PubsubMessage(m.from_peer, m.data, m.seqno, m.topics)

    return ItemStream(items())


async def _kubo_sub(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> NDJSON:
    args = a.args()
    if not args or not args[0].strip():
        raise InvalidArgument('argument "topic" is required')
    stream = await invoke({"topic": _topic_arg(args[0].strip())})

    async def lines() -> AsyncIterator[dict[str, Any]]:
        async for m in stream.items:
            yield {"from": m.from_peer, "data": mb(m.data), "seqno": mb(m.seqno),
                   "topicIDs": [mb(t.encode()) for t in m.topics]}

    return NDJSON(lines())


@dataclass
class NoParams:
    pass


@dataclass(frozen=True, slots=True)
class Topics:
    topics: list[str]


async def pubsub_ls(ctx: Context, p: NoParams) -> Topics:
    return Topics(await ctx.service("pubsub").topics())


def _kubo_ls(r: Topics, a: KuboArgs) -> dict[str, Any]:
    return {"Strings": [mb(t.encode()) for t in r.topics]}


@dataclass
class PeersParams:
    topic: str | None = param(None, kubo="arg", doc="only peers of this topic (Kubo's RPC: multibase)")


@dataclass(frozen=True, slots=True)
class TopicPeers:
    peers: list[str]


async def pubsub_peers(ctx: Context, p: PeersParams) -> TopicPeers:
    return TopicPeers(await ctx.service("pubsub").peers(p.topic))


async def _kubo_peers(invoke: Invoke, a: KuboArgs, upload: Upload | None) -> dict[str, Any]:
    args = [x.strip() for x in a.args() if x.strip()]
    r = await invoke({"topic": _topic_arg(args[0]) if args else None})
    return {"Strings": r.peers}


R, W = Scope.READ, Scope.WRITE
OPS: list[Operation[Any, Any]] = [
    Operation("pubsub_pub", PubParams, PubDone, W, "Publish a message to a pubsub topic (gossipsub)", pubsub_pub,
              Kubo("pubsub/pub", run=_kubo_pub, body="files", arg_doc="topic, multibase"), cli="pubsub pub",
              cli_text=lambda o: ""),
    Operation("pubsub_sub", SubParams, ItemStream, R, "Messages of a pubsub topic, streamed", pubsub_sub,
              Kubo("pubsub/sub", run=_kubo_sub, arg_doc="topic, multibase"), ws=False, libp2p=False,
              cli="pubsub sub", cli_text=lambda o: _text(o["data"])),
    Operation("pubsub_ls", NoParams, Topics, R, "Topics this node subscribes to", pubsub_ls,
              Kubo("pubsub/ls", _kubo_ls), cli="pubsub ls", cli_text=lambda o: "\n".join(_text(t) for t in o["Strings"])),
    Operation("pubsub_peers", PeersParams, TopicPeers, R, "Peers we exchange pubsub messages with", pubsub_peers,
              Kubo("pubsub/peers", run=_kubo_peers, arg_doc="topic, multibase (optional)"), cli="pubsub peers",
              cli_text=lambda o: "\n".join(o["Strings"])),
]
