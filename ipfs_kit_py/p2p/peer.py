"""``IPFSLibp2pPeer``: a py-libp2p host (TCP + Noise + yamux, identify, ping)
running in its own trio thread, used from asyncio.

The seed's forms work as written: ``IPFSLibp2pPeer(role="leecher")`` then
``await peer.connect_to_peer(peer_id, multiaddr)`` (the host starts on first
use), ``start_discovery()``, ``register_protocol_handler(pid, handler)`` and
``get_id()`` are plain calls, ``await peer.new_stream(peer_id, pid)`` gives a
:class:`P2PStream`.

Handlers are asyncio coroutine functions ``handler(stream)`` run on the loop
that started the peer. Internal protocols that live in trio (bitswap, DHT) are
attached with :meth:`set_trio_handler`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import INotifee
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.exceptions import SwarmException
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

from ..compat import noise as noise_compat
from ..compat import yamux as yamux_compat
from .bridge import BridgeClosed, TrioBridge, run_in_asyncio
from .identity import load_or_create_identity, peer_id_of
from .stream import P2PStream, trio_reset

log = logging.getLogger(__name__)

ROLES = ("master", "worker", "leecher")
DEFAULT_LISTEN = ["/ip4/127.0.0.1/tcp/0"]
DEFAULT_MAX_STREAMS_PER_PEER = 64

Handler = Callable[[P2PStream], Coroutine[Any, Any, None]]  # an async def (run on the asyncio loop)
EventSink = Callable[[str, dict[str, Any]], None]


class PeerError(ConnectionError):
    """A peer could not be reached, or refused a protocol."""


def split_peer_addr(peer_id: str | None, addr: str) -> tuple[str, multiaddr.Multiaddr]:
    """(peer ID, transport address) from ``addr`` that may end in ``/p2p/<id>``."""
    ma = multiaddr.Multiaddr(addr)
    try:
        in_addr = ma.value_for_protocol("p2p")
    except Exception:  # noqa: BLE001 - no /p2p/ part
        in_addr = None
    if in_addr:
        if peer_id and peer_id != in_addr:
            raise ValueError(f"peer ID {peer_id} does not match the address {addr}")
        peer_id = in_addr
        ma = ma.decapsulate(multiaddr.Multiaddr(f"/p2p/{in_addr}"))
    if not peer_id:
        raise ValueError(f"no peer ID given for {addr}")
    return peer_id, ma


class _Notifee(INotifee):
    def __init__(self, peer: IPFSLibp2pPeer) -> None:
        self.peer = peer

    async def opened_stream(self, network: Any, stream: Any) -> None:
        pass

    async def closed_stream(self, network: Any, stream: Any) -> None:
        pass

    async def connected(self, network: Any, conn: Any) -> None:
        pid = conn.muxed_conn.peer_id
        if len(network.connections.get(pid, [])) <= 1:
            self.peer._emit("peer_connected", {"peer_id": pid.to_base58(), "addrs": _remote_addrs(conn)})

    async def disconnected(self, network: Any, conn: Any) -> None:
        pid = conn.muxed_conn.peer_id
        if not network.connections.get(pid):
            self.peer._emit("peer_disconnected", {"peer_id": pid.to_base58()})

    async def listen(self, network: Any, multiaddr: Any) -> None:
        pass

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        pass


async def _noop() -> None:
    pass


def _remote_addrs(conn: Any) -> list[str]:
    try:
        return [str(a) for a in conn.get_transport_addresses()]
    except Exception:  # noqa: BLE001
        return []


class IPFSLibp2pPeer:
    """A libp2p peer of this kit: identity, host, protocol handlers, discovery.

    ``role``: ``master``/``worker`` serve content and run the DHT in server
    mode; ``leecher`` only fetches (DHT client). ``identity_dir`` keeps the key
    (``None``: a throwaway identity). ``on_event(type, data)`` receives
    ``peer_connected``/``peer_disconnected`` (from the libp2p thread).
    """

    def __init__(
        self,
        role: str = "leecher",
        bootstrap_peers: list[str] | None = None,
        listen_addrs: list[str] | None = None,
        *,
        identity_dir: str | os.PathLike[str] | None = None,
        key_pair: KeyPair | None = None,
        enable_mdns: bool = False,
        max_streams_per_peer: int = DEFAULT_MAX_STREAMS_PER_PEER,
        on_event: EventSink | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        self.role = role
        self.bootstrap_peers = list(bootstrap_peers or [])
        self.listen_addrs = list(listen_addrs or DEFAULT_LISTEN)
        self.enable_mdns = enable_mdns
        self.max_streams_per_peer = max_streams_per_peer
        self.on_event = on_event
        self.key_pair = key_pair or load_or_create_identity(Path(identity_dir) if identity_dir else None)
        self._peer_id = peer_id_of(self.key_pair)
        self._bridge = TrioBridge(f"libp2p-{self._peer_id[-6:]}")
        self._handlers: dict[str, Handler] = {}
        self._trio_handlers: dict[str, Callable[[Any], Awaitable[None]]] = {}
        self._services: list[Callable[..., Awaitable[None]]] = []  # run(host, *, task_status)
        self._host: Any = None
        self._host_scope: trio.CancelScope | None = None
        self._host_done: trio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._streams_per_peer: dict[str, int] = {}
        self._start_lock = threading.Lock()
        self._discovery_started = False
        # peers never dialed (banned ones): no DHT query, provide or answer brings them back
        self.refused: Callable[[str], bool] = lambda _peer_id: False

    # ---- identity and state -------------------------------------------------

    def get_id(self) -> str:
        return self._peer_id

    @property
    def peer_id(self) -> str:
        return self._peer_id

    @property
    def started(self) -> bool:
        return self._host is not None

    @property
    def host(self) -> Any:
        """The py-libp2p host (use only from the trio thread)."""
        return self._host

    @property
    def bridge(self) -> TrioBridge:
        return self._bridge

    def get_addrs(self) -> list[str]:
        """Listen addresses with the ``/p2p/<id>`` suffix (empty before start)."""
        if self._host is None:
            return []
        out = []
        for a in self._host.get_addrs():
            s = str(a)
            out.append(s if "/p2p/" in s else f"{s}/p2p/{self._peer_id}")
        return out

    def get_connected_peers(self) -> list[str]:
        if self._host is None:
            return []
        return [p.to_base58() for p in self._host.get_network().connections if self._host.get_network().connections[p]]

    def _emit(self, type_: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            try:
                self.on_event(type_, data)
            except Exception:  # noqa: BLE001 - a listener never breaks the host
                log.exception("libp2p event listener failed")

    # ---- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Start the host (idempotent). Handlers will run on the calling loop."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if not self.started:
            await asyncio.to_thread(self.start_blocking)

    def start_blocking(self, timeout: float = 30.0) -> None:
        """Start the host from synchronous code and wait until it listens."""
        with self._start_lock:
            if self.started:
                return
            if self._loop is None:
                try:
                    self._loop = asyncio.get_running_loop()
                except RuntimeError:
                    self._loop = self._private_loop()
            self._bridge.start()
            try:
                trio.from_thread.run(self._start_host, trio_token=self._bridge.token)
            except BaseException:
                self._bridge.stop()
                raise

    def _private_loop(self) -> asyncio.AbstractEventLoop:
        """An asyncio loop in a thread, for handlers when the peer is used from sync code."""
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="libp2p-handlers", daemon=True).start()
        self._own_loop = loop
        return loop

    async def _start_host(self) -> None:
        assert self._bridge.nursery is not None
        with trio.fail_after(30):
            await self._bridge.nursery.start(self._run_host)

    async def _run_host(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        maddrs = [multiaddr.Multiaddr(a) for a in self.listen_addrs]
        noise = NoiseTransport(self.key_pair, noise_privkey=create_x25519_key_pair().private_key)
        host = new_host(
            key_pair=self.key_pair,
            sec_opt={NOISE_PROTOCOL_ID: noise},
            muxer_preference="YAMUX",
            listen_addrs=maddrs,
            enable_mDNS=self.enable_mdns,
        )
        # py-libp2p's auto-connector dials every peer the peerstore learns about to
        # keep ~150 connections; we dial only the peers we are told about
        # (bootstrap, connect, DHT). Without start() its background task returns.
        # (py-libp2p's Swarm has it; its INetworkService interface does not say so)
        host.get_network().auto_connector.start = _noop  # type: ignore[attr-defined]
        self._guard_dials(host.get_network())
        yamux_compat.batch_window_updates()
        yamux_compat.frames_in_one_noise_message()
        yamux_compat.frames_written_together()
        yamux_compat.data_frames_read_directly()
        noise_compat.buffered_transport_reads()
        noise_compat.one_socket_write_per_write()
        self._host_done = trio.Event()
        try:
            with trio.CancelScope() as scope:
                self._host_scope = scope
                async with host.run(maddrs):
                    host.get_network().register_notifee(_Notifee(self))
                    for pid in self._handlers:
                        host.set_stream_handler(TProtocol(pid), self._make_trio_handler(pid))
                    for pid, th in self._trio_handlers.items():
                        host.set_stream_handler(TProtocol(pid), th)
                    async with trio.open_nursery() as nursery:
                        self._host = host
                        for svc in self._services:
                            await nursery.start(svc, host)
                        task_status.started()
                        await trio.sleep_forever()
        finally:
            self._host = None
            self._host_done.set()

    def _guard_dials(self, network: Any) -> None:
        """Every dial of the host (connect, new_stream, the DHT's queries) goes through
        the swarm's ``dial_peer``: a refused peer fails there, on this host only."""
        dial_peer = network.dial_peer

        async def guarded(peer_id: ID) -> Any:
            if self.refused(peer_id.to_base58()):
                raise SwarmException(f"{peer_id} is refused (banned)")
            return await dial_peer(peer_id)

        network.dial_peer = guarded

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_blocking)

    def stop_blocking(self, timeout: float = 15.0) -> None:
        """Close every connection and stop the trio thread."""
        token = self._bridge.token
        if token is not None and self._host_scope is not None:
            async def shutdown() -> None:
                assert self._host_scope is not None and self._host_done is not None
                self._host_scope.cancel()
                with trio.move_on_after(timeout):
                    await self._host_done.wait()

            try:
                trio.from_thread.run(shutdown, trio_token=token)
            except (trio.RunFinishedError, RuntimeError):
                pass
        self._bridge.stop(timeout)
        self._host = None
        self._host_scope = None
        if self._own_loop is not None:
            self._own_loop.call_soon_threadsafe(self._own_loop.stop)
            self._own_loop = None

    async def __aenter__(self) -> IPFSLibp2pPeer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- services and handlers ----------------------------------------------

    def add_trio_service(self, run: Callable[..., Awaitable[None]]) -> None:
        """A trio task ``run(host, task_status=...)`` started with the host (before ``start``)."""
        if self.started:
            raise RuntimeError("add services before the host starts")
        self._services.append(run)

    def register_protocol_handler(self, protocol_id: str, handler: Handler) -> None:
        """Serve ``protocol_id``: ``await handler(stream)`` runs for each inbound stream.

        The stream is closed when the handler returns and reset if it raises.
        """
        if not inspect.iscoroutinefunction(handler) and not callable(handler):
            raise TypeError("handler must be an async function taking a stream")
        self._handlers[protocol_id] = handler
        if self._host is not None:
            self._call_soon(self._host.set_stream_handler, protocol_id, self._make_trio_handler(protocol_id))

    def set_trio_handler(self, protocol_id: str, handler: Callable[[Any], Awaitable[None]]) -> None:
        """Serve ``protocol_id`` with a trio function taking the raw py-libp2p stream."""
        self._trio_handlers[protocol_id] = handler
        if self._host is not None:
            self._call_soon(self._host.set_stream_handler, protocol_id, handler)

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        token = self._bridge.token
        if token is None:
            raise BridgeClosed("libp2p host is not running")
        token.run_sync_soon(fn, *args)

    def _make_trio_handler(self, protocol_id: str) -> Callable[[Any], Awaitable[None]]:
        async def handle(raw: Any) -> None:
            peer = raw.muxed_conn.peer_id.to_base58()
            handler = self._handlers.get(protocol_id)
            if handler is None or self._loop is None:
                await trio_reset(raw)
                return
            count = self._streams_per_peer.get(peer, 0)
            if count >= self.max_streams_per_peer:
                log.warning("peer %s exceeded %d concurrent streams; resetting", peer, self.max_streams_per_peer)
                await trio_reset(raw)
                return
            self._streams_per_peer[peer] = count + 1
            stream = P2PStream(self._bridge, raw, peer, protocol_id)
            try:
                await run_in_asyncio(self._loop, handler(stream))
            except Exception:  # noqa: BLE001 - one bad stream never harms the host
                log.debug("handler for %s from %s failed", protocol_id, peer, exc_info=True)
                await trio_reset(raw)
            else:
                if not stream.closed:
                    with trio.move_on_after(5):
                        await raw.close()
            finally:
                left = self._streams_per_peer.get(peer, 1) - 1
                if left <= 0:
                    self._streams_per_peer.pop(peer, None)
                else:
                    self._streams_per_peer[peer] = left

        return handle

    # ---- connections and streams --------------------------------------------

    async def connect_to_peer(self, peer_id: str | None, multiaddr: str, timeout: float = 15.0) -> None:
        """Dial ``peer_id`` at ``multiaddr`` (which may end in ``/p2p/<id>``)."""
        await self.start()
        pid, ma = split_peer_addr(peer_id, multiaddr)
        info = PeerInfo(ID.from_base58(pid), [ma])

        async def dial() -> None:
            with trio.fail_after(timeout):
                await self._host.connect(info)

        try:
            await self._bridge.call(dial)
        except (trio.TooSlowError, OSError, Exception) as e:
            if isinstance(e, (BridgeClosed, ValueError)):
                raise
            raise PeerError(f"cannot connect to {pid} at {ma}: {e or type(e).__name__}") from None

    async def disconnect(self, peer_id: str) -> None:
        if self._host is not None:
            await self._bridge.call(self._host.disconnect, ID.from_base58(peer_id))

    async def new_stream(self, peer_id: str, protocol_id: str | list[str], timeout: float = 15.0,
                         *, dial: bool = True) -> P2PStream:
        """Open a stream to a connected (or known) peer speaking ``protocol_id``;
        ``dial=False``: only over a connection that is open now (an answer to a peer
        that left, or that we banned, must not bring it back)."""
        await self.start()
        pids = [protocol_id] if isinstance(protocol_id, str) else list(protocol_id)

        async def open_() -> Any:
            pid = ID.from_base58(peer_id)
            if not dial and not self._host.get_network().connections.get(pid):
                raise ConnectionError("not connected")
            with trio.fail_after(timeout):
                return await self._host.new_stream(pid, pids)

        try:
            raw = await self._bridge.call(open_)
        except BridgeClosed:
            raise
        except Exception as e:  # noqa: BLE001 - dial, negotiation: all mean "cannot open"
            raise PeerError(f"cannot open {'/'.join(pids)} to {peer_id}: {e or type(e).__name__}") from None
        return P2PStream(self._bridge, raw, peer_id, str(raw.get_protocol() or pids[0]))

    # ---- discovery -----------------------------------------------------------

    def start_discovery(self) -> None:
        """Start the host if needed and dial the bootstrap peers in the background.

        mDNS (when enabled) starts with the host; the DHT (when attached) uses
        every connected peer.
        """
        if not self.started:
            self.start_blocking()
        if self._discovery_started:
            return
        self._discovery_started = True
        for addr in self.bootstrap_peers:
            self._bridge.spawn(self._dial_quietly, addr)

    async def _dial_quietly(self, addr: str) -> None:
        try:
            pid, ma = split_peer_addr(None, addr)
            with trio.fail_after(15):
                await self._host.connect(PeerInfo(ID.from_base58(pid), [ma]))
        except Exception as e:  # noqa: BLE001 - a bootstrap peer may be down
            log.info("bootstrap peer %s not reachable: %s", addr, e)
