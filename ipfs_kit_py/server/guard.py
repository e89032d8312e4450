"""The access guard: one ASGI middleware in front of every route of the server.

Control surfaces (:func:`is_control`: ``/api/v0/*``, ``/mcp``, and every
WebSocket: ``/ws``, ``/ws/notifications``, ``/ws/webrtc``, ``/webrtc``) are
refused, before any route runs, when

- ``Host`` is not an allowed host (``server.allowed_hosts``, plus the loopback
  names and the bound address): a DNS-rebinding page reaches us under its own
  name, and is refused here (403);
- ``Origin`` is present and not an allowed origin: the API's own origins (each
  allowed host at the API's port, http and https) plus ``server.allowed_origins``;
  ``Origin: null`` (sandboxed pages, ``file:``) never passes (403);
- a token is required (any token exists, or the server binds beyond loopback)
  and none valid came (401). Tokens come as ``Authorization: Bearer``, or for
  browser WebSockets as a ``Sec-WebSocket-Protocol`` entry ``ipfs-kit-token.<t>``
  or a ``?token=`` query argument (removed from the scope, so never logged);
- ``/api/v0`` only: the caller lacks the route's scope (:data:`API_SCOPES`; a
  route not listed needs admin) (403).

Requests without ``Origin`` (programs, not browsers) pass the Origin check. An
origin listed in ``server.allowed_origins`` (a web application elsewhere) gets
CORS headers naming it, and its preflight is answered; no other origin ever does.
What passes gets an :class:`~ipfs_kit_py.access.Caller` in ``scope["state"]``
(``access.caller_of``) for the operation call path to authorize against.

The gateway (``/ipfs/``, ``/ipns/``) is open to any Host and answers with the
gateway specs' CORS headers; on the API's port its responses also carry
``Content-Security-Policy: sandbox ...`` so a page stored on the node runs in
an opaque origin and cannot use the API's. A listener in ``gateway_ports``
(``gateway.listen``) serves the gateway and nothing else.

HTTP refusals have Kubo's error shape; WebSocket refusals answer the handshake
with the HTTP status (no WebSocket is opened).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .. import access, registry
from ..access import ALL, Caller, Scope
from ..errors import Forbidden, IPFSKitError, Unauthenticated
from ..tokens import RUN_TOKEN_NAME, TokenStore, digest

log = logging.getLogger(__name__)

ASGIScope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[ASGIScope, Receive, Send], Awaitable[None]]

# Control surfaces: these prefixes (the path itself or below it), and every WebSocket.
CONTROL_PREFIXES = ("/api/v0", "/mcp", "/ws", "/webrtc")
PUBLIC_PAGES = frozenset({"/webrtc/player", "/webrtc/player.js", "/webrtc/sframe-worker.js"})  # static files: no data, no effect
GATEWAY_PREFIXES = ("/ipfs/", "/ipns/")
PUBLIC_API_PREFIXES = ("/routing/v1/",)  # public read-only APIs, served on the gateway listener too (as Kubo does)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
TOKEN_SUBPROTOCOL = "ipfs-kit-token."  # Sec-WebSocket-Protocol entry carrying a token
APP_SUBPROTOCOL = "ipfs-kit"  # offered with it, and chosen, so the token is not echoed back

# Scope each /api/v0 route needs: its registry operation's (a route that is not an
# operation needs admin, the safe default). tests/test_access.py checks every route has one.
API_SCOPES: dict[str, Scope] = {
    path: op.scope for op in registry.OPERATIONS.values() if op.kubo is not None for path in op.kubo.paths
}

# https://specs.ipfs.tech/http-gateways/path-gateway/ (as Kubo's gateway sends them)
GATEWAY_CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type, Range, User-Agent, X-Requested-With"),
    (b"access-control-expose-headers",
     b"Content-Length, Content-Range, ETag, X-Chunked-Output, X-Stream-Output, X-Ipfs-Path, X-Ipfs-Roots"),
]
# No allow-same-origin: the page gets an opaque origin (its requests carry Origin: null).
SANDBOX_CSP = (b"content-security-policy",
               b"sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads "
               b"allow-pointer-lock allow-presentation")


def is_control(scope: ASGIScope) -> bool:
    if scope["type"] == "websocket":
        return True
    path = scope["path"]
    if path in PUBLIC_PAGES:
        return False
    return any(path == p or path.startswith(p + "/") for p in CONTROL_PREFIXES)


def is_gateway(path: str) -> bool:
    return path.startswith(GATEWAY_PREFIXES)


def split_host(value: str) -> tuple[str, str | None]:
    """``Host`` -> (lower-case name, port or None); IPv6 names keep their brackets."""
    h = value.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        if end < 0:
            return h, None
        name, rest = h[: end + 1], h[end + 1:]
        return name, rest[1:] if rest.startswith(":") else None
    if h.count(":") > 1:  # a bare IPv6 address
        return f"[{h}]", None
    name, _, port = h.partition(":")
    return name.rstrip("."), port or None


def host_name(address: str) -> str:
    """A bind address as it appears in a Host header."""
    a = address.strip().lower()
    return f"[{a}]" if ":" in a and not a.startswith("[") else a


def _headers(scope: ASGIScope) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in scope.get("headers") or []:
        out.setdefault(k.decode("latin-1").lower(), []).append(v.decode("latin-1"))
    return out


@dataclass
class AccessPolicy:
    """What the guard checks against; built by the server from its settings."""

    allowed_hosts: list[str] = field(default_factory=list)  # server.allowed_hosts
    allowed_origins: list[str] = field(default_factory=list)  # server.allowed_origins
    bind_host: str = "127.0.0.1"
    tokens: TokenStore | None = None
    require_token: bool = False  # bound beyond loopback (and not server.insecure)
    run_secret: str | None = None  # this run's admin secret (<repo>/api_secret)
    api_port: int | None = None
    gateway_ports: set[int] = field(default_factory=set)  # listeners that serve only the gateway

    # -- Host and Origin --------------------------------------------------------------------
    def host_entries(self) -> list[str]:
        entries = [*LOOPBACK_HOSTS, host_name(self.bind_host)]
        for h in self.allowed_hosts:
            entries.append(h.strip().lower())
        return entries

    def host_allowed(self, value: str | None) -> bool:
        if value is None:
            return True  # HTTP/1.0 without Host: nothing to rebind
        name, port = split_host(value)
        for entry in self.host_entries():
            if entry == "*":
                return True
            e_name, e_port = split_host(entry)
            if e_name == name and (e_port is None or e_port == port):
                return True
        return False

    def origins(self, port: int | None) -> set[str]:
        """The API's own origins at ``port`` plus the configured ones."""
        out = {o.strip().lower().rstrip("/") for o in self.allowed_origins}
        for entry in self.host_entries():
            name, e_port = split_host(entry)
            if entry == "*" or name in ("0.0.0.0", "[::]"):
                continue
            p = e_port or (str(port) if port else None)
            for scheme, default in (("http", "80"), ("https", "443")):
                out.add(f"{scheme}://{name}:{p}" if p and p != default else f"{scheme}://{name}")
        out.discard("null")
        return out

    def configured_origin(self, origin: str) -> bool:
        """``origin`` is listed in ``server.allowed_origins`` (a web application elsewhere)."""
        o = origin.strip().lower().rstrip("/")
        return o != "null" and o in {a.strip().lower().rstrip("/") for a in self.allowed_origins}

    def origin_allowed(self, origin: str | None, port: int | None) -> bool:
        if origin is None:
            return True  # not a browser (browsers send Origin with every POST and WebSocket)
        o = origin.strip().lower().rstrip("/")
        return o != "null" and o in self.origins(port)

    # -- tokens -----------------------------------------------------------------------------
    def tokens_required(self) -> bool:
        return self.require_token or (self.tokens is not None and self.tokens.any())

    def caller(self, channel: str, secret: str | None, origin: str | None) -> Caller:
        """The caller a request with this token (or none) is; Unauthenticated if refused."""
        if secret is not None:
            if self.run_secret is not None and digest(secret) == digest(self.run_secret):
                return Caller(channel, ALL, token_name=RUN_TOKEN_NAME, origin=origin)
            info = self.tokens.verify(secret) if self.tokens is not None else None
            if info is None:
                raise Unauthenticated("invalid API token (unknown or removed): see ipfs-kit token ls")
            return Caller(channel, info.scope.granted(), token_name=info.name, origin=origin)
        if self.tokens_required():
            raise Unauthenticated(
                "this node requires an API token: send 'Authorization: Bearer <token>' "
                "(browsers' WebSockets: the subprotocol 'ipfs-kit-token.<token>'); "
                "create one with 'ipfs-kit token create NAME --scope read|write|admin'")
        return Caller(channel, ALL, origin=origin)


def _channel(scope: ASGIScope) -> str:
    path = scope["path"]
    if scope["type"] == "websocket":
        return "webrtc" if path in ("/ws/webrtc", "/webrtc") else "ws"
    return "mcp" if path == "/mcp" or path.startswith("/mcp/") else "http"


def _bearer(headers: dict[str, list[str]]) -> str | None:
    values = headers.get("authorization")
    if not values:
        return None
    if len(values) > 1:
        raise Unauthenticated("send one Authorization header")
    kind, _, secret = values[0].strip().partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return secret.strip()


def _ws_token(scope: ASGIScope) -> str | None:
    """A token in the offered subprotocols or the query (removed from the query, so
    access logs do not show it)."""
    for proto in scope.get("subprotocols") or []:
        if proto.startswith(TOKEN_SUBPROTOCOL):
            token: str = proto[len(TOKEN_SUBPROTOCOL):]
            return token
    raw = scope.get("query_string") or b""
    if b"token=" not in raw:
        return None
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    found = next((v for k, v in pairs if k == "token"), None)
    scope["query_string"] = urlencode([(k, v) for k, v in pairs if k != "token"]).encode("latin-1")
    return found


class AccessGuard:
    """ASGI middleware enforcing :class:`AccessPolicy` (see the module doc)."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        server = scope.get("server")
        port = server[1] if server else self.policy.api_port
        gateway_only = port is not None and port in self.policy.gateway_ports
        if is_gateway(path) and kind == "http":
            await self._gateway(scope, receive, send, sandbox=not gateway_only)
            return
        if path.startswith(PUBLIC_API_PREFIXES) and kind == "http":
            await self.app(scope, receive, send)
            return
        if gateway_only:
            await _refuse(scope, receive, send, 404, "this listener serves only the gateway (/ipfs/, /ipns/)")
            return
        if not is_control(scope):
            await self.app(scope, receive, send)
            return
        cors = self._cors_headers(scope) if kind == "http" else []
        try:
            if cors and scope["method"] == "OPTIONS":  # preflight of a configured origin: no effect, no token
                self._check_host(_headers(scope))
                await _preflight(send, cors)
                return
            caller = self._check(scope, port)
        except IPFSKitError as e:
            log.info("refused %s %s: %s", kind, path, e)
            await _refuse(scope, receive, send, e.status, str(e), cors)
            return
        scope.setdefault("state", {})[access.CALLER_KEY] = caller
        if kind == "websocket":
            send = _choosing_subprotocol(scope, send)
        elif cors:
            send = _adding_headers(send, cors)
        await self.app(scope, receive, send)

    def _cors_headers(self, scope: ASGIScope) -> list[tuple[bytes, bytes]]:
        """CORS for a web application on an origin listed in ``server.allowed_origins``
        (the API's own origins need none; others get none, ever)."""
        origins = _headers(scope).get("origin") or []
        if len(origins) != 1 or not self.policy.configured_origin(origins[0]):
            return []
        return [(b"access-control-allow-origin", origins[0].encode("latin-1")), (b"vary", b"Origin"),
                (b"access-control-expose-headers", b"X-Stream-Output, X-Chunked-Output, X-Stream-Error")]

    def _check_host(self, headers: dict[str, list[str]]) -> None:
        hosts: list[str | None] = [*headers.get("host", [])] or [None]
        for host in hosts:  # every value must pass (a second one cannot sneak in)
            if not self.policy.host_allowed(host):
                raise Forbidden(f"Host {host!r} is not allowed here (server.allowed_hosts): refused, as a "
                                "DNS-rebinding page would be")

    def _check(self, scope: ASGIScope, port: int | None) -> Caller:
        headers = _headers(scope)
        self._check_host(headers)
        origins: list[str | None] = [*headers.get("origin", [])] or [None]
        for origin in origins:
            if not self.policy.origin_allowed(origin, port):
                raise Forbidden(f"cross-origin request from {origin} refused (server.allowed_origins)")
        origin = origins[0]
        secret = _bearer(headers)
        if secret is None and scope["type"] == "websocket":
            secret = _ws_token(scope)
        caller = self.policy.caller(_channel(scope), secret, origin)
        path = scope["path"]
        if scope["type"] == "http" and path.startswith("/api/v0/"):
            route = path[len("/api/v0/"):]
            access.authorize(caller, API_SCOPES.get(route, Scope.ADMIN), f"/api/v0/{route}")
        else:
            access.authorize(caller, Scope.READ, path)
        return caller

    async def _gateway(self, scope: ASGIScope, receive: Receive, send: Send, sandbox: bool) -> None:
        extra = GATEWAY_CORS + ([SANDBOX_CSP] if sandbox else [])
        if scope["method"] == "OPTIONS":  # CORS preflight
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*extra, (b"access-control-max-age", b"86400"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers") or []}
                message["headers"] = [*(message.get("headers") or []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


def _choosing_subprotocol(scope: ASGIScope, send: Send) -> Send:
    """Answer a client that offered subprotocols with one of them (browsers drop a
    connection whose answer names none): ``ipfs-kit`` when offered, else the token entry."""
    offered: Iterable[str] = scope.get("subprotocols") or []
    choice = APP_SUBPROTOCOL if APP_SUBPROTOCOL in offered else next(
        (p for p in offered if p.startswith(TOKEN_SUBPROTOCOL)), None)
    if choice is None:
        return send

    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "websocket.accept" and not message.get("subprotocol"):
            message = {**message, "subprotocol": choice}
        await send(message)

    return wrapped


class _DenialLogFilter(logging.Filter):
    """uvicorn's sans-I/O WebSocket protocol (0.54) logs "ASGI callable returned without
    completing handshake." at ERROR after a handshake refused with an HTTP response (the
    ASGI denial-response extension), which is a proper ending: drop one such line per
    refusal, so refused handshakes do not fill the log with false errors."""

    MESSAGE = "ASGI callable returned without completing handshake."

    def __init__(self) -> None:
        super().__init__()
        self.pending = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if self.pending and record.getMessage() == self.MESSAGE:
            self.pending -= 1
            return False
        return True


_denials = _DenialLogFilter()
logging.getLogger("uvicorn.error").addFilter(_denials)


def _adding_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*(message.get("headers") or []), *extra]
        await send(message)

    return wrapped


async def _preflight(send: Send, cors: list[tuple[bytes, bytes]]) -> None:
    headers = [*cors, (b"access-control-allow-methods", b"POST"),
               (b"access-control-allow-headers", b"Authorization, Content-Type"),
               (b"access-control-max-age", b"600"), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _refuse(scope: ASGIScope, receive: Receive, send: Send, status: int, message: str,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"Message": message, "Code": 1 if status < 500 else 0, "Type": "error"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="ipfs-kit"'))
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    if (await receive())["type"] != "websocket.connect":
        return  # the client is gone already
    if "websocket.http.response" in (scope.get("extensions") or {}):
        _denials.pending += 1
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})  # the server answers 403
