"""Bitswap 1.2.0 (also 1.1.0 / 1.0.0), served from and stored into our blockstore.

Wire format (https://specs.ipfs.tech/bitswap-protocol/): each message is
``uvarint(len) || protobuf Message``; the protobuf is encoded by hand here.
Like go-libp2p (Kubo), every peer SENDS on a stream it opened itself and only
READS streams the other side opened. py-libp2p's bundled bitswap answers on
the stream Kubo opened, which Kubo never reads, so Kubo cannot fetch from it;
this implementation replies on its own outbound stream.

Serving (roles master/worker, ``serving.py``): want-block -> the block (or
DONT_HAVE when asked), want-have -> HAVE / DONT_HAVE, from a queue per peer that
cancels shrink. Fetching runs in sessions
(``session.py``): the engine hands every HAVE, DONT_HAVE and block to the
sessions that want it. A block's CID is computed from its bytes, so a block
reaches a session only if it hashes to what was wanted; bytes that match
nothing we ever wanted get their sender banned for ``ban_time`` seconds.
What every peer sent and received, and its bans, go to its record in the
:class:`~ipfs_kit_py.p2p.reputation.PeerLedger` (``bitswap/stat``,
``bitswap/ledger``, ``peer_reputation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..content.blockstore import Blockstore
from ..content.cid import CID, DAG_PB, decode_varint, encode_varint
from ..content.dagpb import _fields
from ..content.walk import awalk_blocks
from ..errors import BlockNotFound, CorruptBlock
from .framing import FrameDecoder, FramingError
from .reputation import PeerLedger
from .serving import DONT_HAVE, HAVE, WANT_BLOCK, ServingQueues
from .session import BitswapSession, FindProviders, SessionSettings
from .stream import P2PStream

log = logging.getLogger(__name__)

PROTOCOLS = ["/ipfs/bitswap/1.2.0", "/ipfs/bitswap/1.1.0", "/ipfs/bitswap/1.0.0"]
MAX_MESSAGE = (4 << 20) + 1024  # the spec's 4 MiB message, plus slack
MAX_BLOCKS_PER_MESSAGE = 2 << 20  # bytes of blocks batched into one reply
SHA2_256 = 0x12
RECENT_WANTS = 1 << 16  # multihashes remembered as wanted (a block for one of them is late, not bad)


# -- messages (pure) ----------------------------------------------------------------------------
@dataclass(slots=True)
class WantEntry:
    cid: CID
    priority: int = 1
    cancel: bool = False
    want_type: int = WANT_BLOCK
    send_dont_have: bool = False


@dataclass(slots=True)
class Message:
    wants: list[WantEntry] = field(default_factory=list)
    full: bool = False
    blocks: list[tuple[CID, bytes]] = field(default_factory=list)
    presences: list[tuple[CID, int]] = field(default_factory=list)


def _pb_bytes(fno: int, data: bytes) -> bytes:
    return encode_varint(fno << 3 | 2) + encode_varint(len(data)) + data


def _pb_int(fno: int, n: int) -> bytes:
    return encode_varint(fno << 3) + encode_varint(n)


def cid_prefix(cid: CID) -> bytes:
    code, p = decode_varint(cid.multihash, 0)
    length, _ = decode_varint(cid.multihash, p)
    return encode_varint(cid.version) + encode_varint(cid.codec) + encode_varint(code) + encode_varint(length)


def cid_from_prefix(prefix: bytes, data: bytes) -> CID:
    version, p = decode_varint(prefix, 0)
    codec, p = decode_varint(prefix, p)
    code, p = decode_varint(prefix, p)
    length, p = decode_varint(prefix, p)
    if code != SHA2_256 or length != 32:
        raise CorruptBlock(f"unsupported multihash 0x{code:x}/{length} in a bitswap block")
    mh = b"\x12\x20" + hashlib.sha256(data).digest()
    if version == 0:
        return CID(0, DAG_PB, mh)
    return CID(1, codec, mh)


def _message_parts(msg: Message) -> list[bytes]:
    """The protobuf Message in pieces: each block's bytes is a piece of its own, so that
    the one join of a framed message is the only copy of it."""
    head = bytearray()
    if msg.wants or msg.full:
        wl = bytearray()
        for w in msg.wants:
            e = _pb_bytes(1, bytes(w.cid)) + _pb_int(2, w.priority)
            if w.cancel:
                e += _pb_int(3, 1)
            if w.want_type:
                e += _pb_int(4, w.want_type)
            if w.send_dont_have:
                e += _pb_int(5, 1)
            wl += _pb_bytes(1, e)
        if msg.full:
            wl += _pb_int(2, 1)
        head += _pb_bytes(1, bytes(wl))
    parts = [bytes(head)] if head else []
    for cid, data in msg.blocks:
        prefix = _pb_bytes(1, cid_prefix(cid)) + b"\x12" + encode_varint(len(data))  # field 2: the data
        parts += [b"\x1a" + encode_varint(len(prefix) + len(data)) + prefix, data]  # field 3: one block
    tail = bytearray()
    for cid, kind in msg.presences:
        tail += _pb_bytes(4, _pb_bytes(1, bytes(cid)) + _pb_int(2, kind))
    if tail:
        parts.append(bytes(tail))
    return parts


def encode_message(msg: Message) -> bytes:
    """The protobuf body (without the length prefix)."""
    return b"".join(_message_parts(msg))


def decode_message(body: bytes) -> Message:
    """Parse a Message; blocks get the CID of their bytes (1.0.0 blocks count as CIDv0)."""
    msg = Message()
    try:
        for fno, wt, val in _fields(memoryview(body)):  # views: each block's bytes copied once
            if fno == 1 and wt == 2:
                for f2, w2, v2 in _fields(val):
                    if f2 == 1 and w2 == 2:
                        entry = WantEntry(CID(0, DAG_PB, b""))
                        for f3, _w3, v3 in _fields(v2):
                            if f3 == 1:
                                entry.cid = CID.from_bytes(bytes(v3))
                            elif f3 == 2:
                                entry.priority = v3
                            elif f3 == 3:
                                entry.cancel = bool(v3)
                            elif f3 == 4:
                                entry.want_type = v3
                            elif f3 == 5:
                                entry.send_dont_have = bool(v3)
                        if entry.cid.multihash:
                            msg.wants.append(entry)
                    elif f2 == 2:
                        msg.full = bool(v2)
            elif fno == 2 and wt == 2:  # bitswap 1.0.0: bare dag-pb block bytes
                data = bytes(val)
                msg.blocks.append((CID(0, DAG_PB, b"\x12\x20" + hashlib.sha256(data).digest()), data))
            elif fno == 3 and wt == 2:
                prefix, data = b"", b""
                for f2, _w2, v2 in _fields(val):
                    if f2 == 1:
                        prefix = bytes(v2)
                    elif f2 == 2:
                        data = bytes(v2)
                msg.blocks.append((cid_from_prefix(prefix, data), data))
            elif fno == 4 and wt == 2:
                cid, kind = None, HAVE
                for f2, _w2, v2 in _fields(val):
                    if f2 == 1:
                        cid = CID.from_bytes(bytes(v2))
                    elif f2 == 2:
                        kind = v2
                if cid is not None:
                    msg.presences.append((cid, kind))
    except (ValueError, IndexError) as e:
        raise FramingError(f"malformed bitswap message: {e}") from None
    return msg


def frame(msg: Message) -> bytes:
    """``uvarint(len) || Message``, the blocks' bytes copied once."""
    parts = _message_parts(msg)
    return b"".join([encode_varint(sum(map(len, parts))), *parts])


# -- the engine -------------------------------------------------------------------------------
class Bitswap:
    """Bitswap on an :class:`~ipfs_kit_py.p2p.peer.IPFSLibp2pPeer` over a :class:`Blockstore`."""

    def __init__(self, peer: Any, store: Blockstore, *, serve: bool = True, ban_time: float = 300.0,
                 session_settings: SessionSettings | None = None, ledger: PeerLedger | None = None) -> None:
        self.peer = peer
        self.ledger = ledger or PeerLedger()  # per-peer records and bans (persisted by the service)
        self.store = store
        self.serve = serve
        self.ban_time = ban_time
        self.session_settings = session_settings or SessionSettings()
        self._sessions: dict[bytes, set[BitswapSession]] = {}  # multihash -> sessions wanting it
        self._recent: OrderedDict[bytes, None] = OrderedDict()  # multihashes wanted lately (any session)
        self._senders: dict[str, P2PStream] = {}
        self._send_locks: dict[str, asyncio.Lock] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self.serving = ServingQueues(store, self._send_answer, max_batch_bytes=MAX_BLOCKS_PER_MESSAGE)
        # totals since start (Kubo's bitswap/stat)
        self.blocks_received = 0
        self.data_received = 0
        self.dup_blocks = 0  # blocks that arrived after another peer had delivered them
        self.dup_data = 0
        self.messages_received = 0
        self.blocks_sent = 0
        self.data_sent = 0
        self.rejected = 0  # blocks that matched no want (and were never wanted): bad bytes
        self.on_ban: Callable[[str, str], None] | None = None
        for pid in PROTOCOLS:
            peer.register_protocol_handler(pid, self._handle)

    # -- sessions ----------------------------------------------------------------------------
    def session(self, find_providers: FindProviders | None = None, peers: list[str] | None = None) -> BitswapSession:
        return BitswapSession(self, settings=self.session_settings, find_providers=find_providers, peers=peers)

    def _register(self, session: BitswapSession, mh: bytes) -> None:
        self._sessions.setdefault(mh, set()).add(session)
        self._recent[mh] = None
        self._recent.move_to_end(mh)
        while len(self._recent) > RECENT_WANTS:
            self._recent.popitem(last=False)

    def _unregister(self, session: BitswapSession, mh: bytes) -> None:
        ss = self._sessions.get(mh)
        if ss is not None:
            ss.discard(session)
            if not ss:
                del self._sessions[mh]

    def is_banned(self, peer_id: str) -> bool:
        r = self.ledger.get(peer_id)
        return r is not None and r.banned_until > 0 and r.banned()

    def ban_left(self, peer_id: str) -> float:
        """Seconds the peer stays banned (0: not banned)."""
        r = self.ledger.get(peer_id)
        return max(0.0, r.banned_until - time.time()) if r is not None else 0.0

    def wantlist(self) -> list[CID]:
        """What the sessions want now (Kubo's ``bitswap/wantlist``)."""
        seen: dict[bytes, CID] = {}
        for sessions in self._sessions.values():
            for s in sessions:
                for mh, w in s.wants.items():
                    seen.setdefault(mh, w.cid)
        return list(seen.values())

    def ban(self, peer_id: str, reason: str) -> None:
        """Refuse a peer for ``ban_time`` seconds: its wants go elsewhere, it is disconnected."""
        if self.is_banned(peer_id):
            return
        self.ledger.bad_block(peer_id, reason, self.ban_time)
        if self.ban_time <= 0:
            return
        log.warning("bitswap: banning %s for %g s: %s", peer_id, self.ban_time, reason)
        for sessions in list(self._sessions.values()):
            for s in list(sessions):
                s.on_peer_gone(peer_id)
        self._senders.pop(peer_id, None)
        self.serving.drop(peer_id)
        if self.on_ban is not None:
            self.on_ban(peer_id, reason)
        task = asyncio.ensure_future(self._disconnect(peer_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _disconnect(self, peer_id: str) -> None:
        try:
            await self.peer.disconnect(peer_id)
        except Exception:  # noqa: BLE001 - already gone
            log.debug("disconnecting %s failed", peer_id, exc_info=True)

    # -- sending (always on our own outbound stream) --
    async def send(self, peer_id: str, msg: Message, *, dial: bool = True) -> None:
        """Send on our stream to the peer (opened when needed; ``dial=False``: only over
        a connection open now, for answers)."""
        lock = self._send_locks.setdefault(peer_id, asyncio.Lock())
        data = frame(msg)
        async with lock:
            for attempt in (1, 2):
                stream = self._senders.get(peer_id)
                try:
                    if stream is None:
                        stream = await self.peer.new_stream(peer_id, PROTOCOLS, dial=dial)
                        self._senders[peer_id] = stream
                    await stream.write(data)
                    return
                except ConnectionError:
                    self._senders.pop(peer_id, None)
                    if attempt == 2:
                        raise

    # -- receiving --
    async def _handle(self, stream: P2PStream) -> None:
        # whole messages are assembled in the libp2p thread and read ahead there;
        # FramingError: the peer wrapper resets this stream only
        async with contextlib.aclosing(stream.frames(FrameDecoder(MAX_MESSAGE))) as messages:
            async for bodies in messages:
                if self.is_banned(stream.peer_id):
                    await stream.reset()
                    return
                self.messages_received += len(bodies)
                for body in bodies:
                    await self._on_message(stream.peer_id, decode_message(body))

    async def _on_message(self, peer_id: str, msg: Message) -> None:
        if msg.blocks:
            self._on_blocks(peer_id, msg.blocks)
            if self.is_banned(peer_id):
                return
        for cid, kind in msg.presences:
            for s in list(self._sessions.get(cid.multihash, ())):
                s.on_presence(peer_id, cid, kind == HAVE)
        if self.serve:
            if msg.wants or msg.full:  # queued per peer; cancels remove what is still queued
                self.serving.on_wants(peer_id, msg.wants, msg.full)
        elif wants := [w for w in msg.wants if not w.cancel]:
            # a leecher serves nothing, but says so when asked (no one waits for a timeout)
            nope = [(w.cid, DONT_HAVE) for w in wants if w.send_dont_have]
            if nope:
                await self.send(peer_id, Message(presences=nope), dial=False)

    def _on_blocks(self, peer_id: str, blocks: list[tuple[CID, bytes]]) -> None:
        """Each block's CID was computed from its bytes: a block reaches the sessions that
        want that hash, or is dropped. Bytes that match nothing we ever wanted are a peer
        sending what we did not ask for (or corrupt blocks): the peer is banned."""
        for cid, data in blocks:
            sessions = self._sessions.get(cid.multihash)
            if sessions:
                self.blocks_received += 1
                self.data_received += len(data)
                self.ledger.received(peer_id, len(data))
                for s in list(sessions):
                    s.on_block(peer_id, cid, data)
            elif cid.multihash in self._recent:  # wanted lately, delivered by another peer first
                self.dup_blocks += 1
                self.dup_data += len(data)
                self.ledger.received(peer_id, len(data), duplicate=True)
            else:
                self.rejected += 1
                self.ban(peer_id, f"sent a block matching no CID we asked for ({cid})")
                return

    async def peer_gone(self, peer_id: str) -> None:
        self._senders.pop(peer_id, None)
        self.serving.drop(peer_id)
        for sessions in list(self._sessions.values()):
            for s in list(sessions):
                s.on_peer_gone(peer_id)

    async def _send_answer(self, peer_id: str, blocks: list[tuple[CID, bytes]],
                           presences: list[tuple[CID, int]]) -> None:
        # never dial to answer: a peer that left (or banned us) does not want these
        await self.send(peer_id, Message(blocks=blocks, presences=presences), dial=False)
        if blocks:
            n = sum(len(d) for _c, d in blocks)
            self.blocks_sent += len(blocks)
            self.data_sent += n
            self.ledger.sent(peer_id, len(blocks), n)

    # -- Kubo's views --
    def stat(self) -> dict[str, Any]:
        """``bitswap/stat`` in Kubo's shape."""
        return {"BlocksReceived": self.blocks_received, "BlocksSent": self.blocks_sent,
                "DataReceived": self.data_received, "DataSent": self.data_sent,
                "DupBlksReceived": self.dup_blocks, "DupDataReceived": self.dup_data,
                "MessagesReceived": self.messages_received,
                "Peers": sorted(p for p in self.peer.get_connected_peers() if not self.is_banned(p)),
                "Wantlist": [{"/": str(c)} for c in self.wantlist()]}

    def ledger_view(self, peer_id: str) -> dict[str, Any]:
        """``bitswap/ledger?arg=<peer>`` in Kubo's shape (Value: the debt ratio sent/(recv+1))."""
        r = self.ledger.get(peer_id)
        sent = r.bytes_sent if r else 0
        recv = r.bytes_received if r else 0
        exchanged = (r.blocks_sent + r.blocks_received) if r else 0
        return {"Exchanged": exchanged, "Peer": peer_id, "Recv": recv, "Sent": sent, "Value": sent / (recv + 1)}

    # -- fetching --
    async def get_blocks(self, cids: Iterable[CID], peers: list[str] | None = None,
                         timeout: float = 60.0) -> list[bytes]:
        """Fetch blocks from ``peers`` (default: every connected peer) into the store."""
        cids = list(cids)
        if not (peers or self.peer.get_connected_peers()):
            raise BlockNotFound("no connected peer to ask")
        session = self.session(peers=peers)
        session.settings = dataclasses.replace(self.session_settings, find_timeout=timeout)

        async def one(cid: CID) -> bytes:
            if await asyncio.to_thread(self.store.has, cid):
                return await asyncio.to_thread(self.store.get, cid)
            data = await session.get(cid)
            await asyncio.to_thread(self.store.put, cid, data)
            return data

        try:
            async with asyncio.timeout(timeout):
                return list(await asyncio.gather(*(one(c) for c in cids)))
        finally:
            session.close()

    async def fetch_dag(self, root: CID | str, peers: list[str] | None = None, *,
                        window: int = 128, timeout: float = 120.0) -> tuple[int, int]:
        """Fetch every block of the DAG under ``root`` (each once) through one session, up to
        ``window`` blocks of the frontier at a time (``content.walk``); returns (blocks, bytes)."""
        root = CID.decode(root)
        if not (peers or self.peer.get_connected_peers()):
            raise BlockNotFound("no connected peer to ask")
        session = self.session(peers=peers)
        session.settings = dataclasses.replace(self.session_settings, find_timeout=60.0)

        async def get(cid: CID) -> bytes:
            if await asyncio.to_thread(self.store.has, cid):
                return await asyncio.to_thread(self.store.get, cid)
            data = await session.get(cid)
            await asyncio.to_thread(self.store.put, cid, data)
            return data

        count = size = 0
        try:
            async with asyncio.timeout(timeout):
                async for v in awalk_blocks(get, root, order="level", window=window):
                    count += 1
                    size += len(v.data or b"")
        finally:
            session.close()
        return count, size
