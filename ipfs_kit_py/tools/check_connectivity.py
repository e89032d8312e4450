"""Check every channel of a running server: ``python -m ipfs_kit_py.tools.check_connectivity --all``.

Each check does real work over its channel and times it:

- ``http``: ``/api/v0/version``, and ``id`` through ``HTTPClient``;
- ``websocket``: subscribes on ``/ws/notifications``, adds a small probe over the
  general channel ``/ws`` and waits for its ``content_added`` event (a real round trip);
- ``webrtc``: a real session that decodes frames of the server's built-in test
  pattern (works on an empty node);
- ``libp2p``: connects a leecher peer to the server's peer, pings it, and asks
  each ipfs-kit protocol a question.

Prints a table (or ``--json``) and exits non-zero when any check fails, with
what to do about it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import websockets

from ..client.auth import auth_headers, token_from_env
from ..client.http import HTTPClient
from ..client.notifications import ws_url

CHECKS = ("http", "websocket", "webrtc", "libp2p")
PROBE = b"ipfs-kit connectivity probe\n"


@dataclass
class CheckResult:
    name: str
    ok: bool
    latency_ms: float | None = None
    detail: str = ""
    advice: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class CheckFailed(Exception):
    def __init__(self, detail: str, advice: str = "") -> None:
        super().__init__(detail)
        self.advice = advice


async def check_http(url: str, timeout: float, token: str | None = None) -> tuple[str, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=timeout, headers=auth_headers(token)) as client:
        try:
            r = await client.post(f"{url}/api/v0/version")
        except httpx.HTTPError as e:
            raise CheckFailed(f"cannot reach {url}: {e}", "start the server: python -m ipfs_kit_py.mcp.server") from None
        if r.status_code in (401, 403):
            raise CheckFailed(f"/api/v0/version answered {r.status_code}: {r.json().get('Message')}",
                              "pass --token (or set IPFS_KIT_TOKEN) with a token of this node (docs/security.md)")
        if r.status_code != 200:
            raise CheckFailed(f"/api/v0/version answered {r.status_code}", "check the server log")
        version = r.json().get("Version")
    async with HTTPClient(url, timeout=timeout, token=token) as api:
        ident = (await api.id()).to_kubo()
    return f"version {version}", {"id": ident}


async def check_websocket(url: str, timeout: float, token: str | None = None) -> tuple[str, dict[str, Any]]:
    base = ws_url(url, "")
    headers = auth_headers(token)
    try:
        notes = await websockets.connect(f"{base}/ws/notifications", open_timeout=timeout, additional_headers=headers)
    except (OSError, websockets.WebSocketException) as e:
        raise CheckFailed(f"cannot open /ws/notifications: {e}", "is a proxy stripping WebSocket upgrades?") from None
    async with notes, websockets.connect(f"{base}/ws", open_timeout=timeout, additional_headers=headers) as general:
        await notes.send(json.dumps({"action": "subscribe", "notification_types": ["content_added"]}))
        while (msg := json.loads(await notes.recv()))["type"] != "subscription_confirmed":
            pass
        t = time.perf_counter()
        await general.send(json.dumps({"id": 1, "action": "add", "name": "probe.txt", "pin": False,
                                       "content": base64.b64encode(PROBE + str(t).encode()).decode()}))
        reply = json.loads(await general.recv())
        while reply.get("id") != 1:
            reply = json.loads(await general.recv())
        if reply["type"] != "result":
            raise CheckFailed(f"/ws add failed: {reply.get('message')}", "check the server log")
        cid = reply["result"]["cid"]
        while True:
            msg = json.loads(await notes.recv())
            if msg.get("type") == "content_added" and msg["data"].get("cid") == cid:
                break
        rtt = (time.perf_counter() - t) * 1000
    return f"event round trip {rtt:.1f} ms (seq {msg['seq']})", {"event_rtt_ms": rtt}


async def check_webrtc(url: str, timeout: float, token: str | None = None) -> tuple[str, dict[str, Any]]:
    from ..client.streaming import stream_test_pattern

    frames = 10
    t = time.perf_counter()
    stream = await stream_test_pattern(url, timeout=timeout, token=token)
    try:
        first_ms = None
        n, size = 0, ""
        async for frame in stream:
            first_ms = first_ms or (time.perf_counter() - t) * 1000
            n, size = n + 1, f"{frame.width}x{frame.height}"
            if n >= frames:
                break
    finally:
        await stream.close()
    return f"{n} frames decoded ({size}), first after {first_ms:.0f} ms", {"first_frame_ms": first_ms}


async def check_libp2p(url: str, timeout: float, token: str | None = None) -> tuple[str, dict[str, Any]]:
    from ..p2p.check import probe_peer

    async with HTTPClient(url, timeout=timeout, token=token) as api:
        ident = await api.id()
    addrs = [a for a in ident.addresses if "/p2p/" in a]
    if not addrs:
        raise CheckFailed("the server reports no libp2p addresses",
                          "enable the peer: IPFS_KIT_LIBP2P_ENABLED=true (and check libp2p.listen_addrs)")
    result = await probe_peer(ident.id, addrs, timeout=timeout)
    return result.pop("summary"), result


RUNNERS: dict[str, Callable[[str, float, str | None], Awaitable[tuple[str, dict[str, Any]]]]] = {
    "http": check_http,
    "websocket": check_websocket,
    "webrtc": check_webrtc,
    "libp2p": check_libp2p,
}
ADVICE = {
    "http": "start the server (python -m ipfs_kit_py.mcp.server) or pass --url",
    "websocket": "check that nothing between you and the server blocks WebSocket upgrades",
    "webrtc": "check webrtc.enabled and webrtc.ice_hosts/ice_servers (docs/configuration.md)",
    "libp2p": "check libp2p.enabled and libp2p.listen_addrs (docs/configuration.md)",
}


async def run_checks(url: str, names: list[str], timeout: float = 15.0, token: str | None = None) -> list[CheckResult]:
    results = []
    for name in names:
        t = time.perf_counter()
        try:
            detail, extra = await asyncio.wait_for(RUNNERS[name](url, timeout, token), timeout)
            results.append(CheckResult(name, True, (time.perf_counter() - t) * 1000, detail, "", extra))
        except CheckFailed as e:
            results.append(CheckResult(name, False, None, str(e), e.advice or ADVICE[name]))
        except TimeoutError:
            results.append(CheckResult(name, False, None, f"no answer within {timeout:.0f} s", ADVICE[name]))
        except Exception as e:  # any other failure is a failed check, reported with its cause
            results.append(CheckResult(name, False, None, f"{type(e).__name__}: {e}", ADVICE[name]))
    return results


def default_url() -> str:
    from ..repo import api_url_for

    return api_url_for(None) or "http://127.0.0.1:8000"


def print_table(url: str, results: list[CheckResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ipfs_kit_py connectivity: {url}")
    for col in ("channel", "status", "latency", "detail"):
        table.add_column(col)
    for r in results:
        status = "[green]ok[/green]" if r.ok else "[red]FAILED[/red]"
        latency = f"{r.latency_ms:.0f} ms" if r.latency_ms is not None else "-"
        detail = r.detail if r.ok else f"{r.detail}\n[yellow]fix:[/yellow] {r.advice}"
        table.add_row(r.name, status, latency, detail)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ipfs_kit_py.tools.check_connectivity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=None, help="server URL (default: the running server of the repo, else http://127.0.0.1:8000)")
    ap.add_argument("--all", action="store_true", help="check every channel (the default when none is named)")
    for name in CHECKS:
        ap.add_argument(f"--{name}", action="store_true", help=f"check {name}")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--timeout", type=float, default=15.0, help="seconds each check may take")
    ap.add_argument("--token", default=None, help="API token, when the server requires one (default $IPFS_KIT_TOKEN)")
    args = ap.parse_args(argv)
    url = (args.url or default_url()).rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    names = [n for n in CHECKS if getattr(args, n)] if not args.all else list(CHECKS)
    names = names or list(CHECKS)
    results = asyncio.run(run_checks(url, names, args.timeout, token_from_env(args.token)))
    if args.json:
        print(json.dumps({"url": url, "ok": all(r.ok for r in results), "checks": [asdict(r) for r in results]}, indent=2))
    else:
        print_table(url, results)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
