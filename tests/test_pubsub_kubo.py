"""Pubsub between our node and a current Kubo daemon (Pubsub.Enabled) on loopback:
messages cross both ways over gossipsub, signed, with Kubo's RPC encoding."""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import ServerProcess, start_server
from kubo_daemon import KUBO, KuboDaemon

pytestmark = pytest.mark.skipif(KUBO is None, reason="Kubo binary not found (scripts/kubo.sh builds it)")
TOPIC = "ipfs-kit-interop"


def mb(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return "u" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unmb(text: str) -> bytes:
    assert text[0] == "u"
    return base64.urlsafe_b64decode(text[1:] + "=" * (-len(text[1:]) % 4))


class Subscriber:
    """POST {api}/pubsub/sub in a thread; each NDJSON line lands in ``lines``."""

    def __init__(self, api: str, topic: str) -> None:
        self.lines: queue.Queue[dict] = queue.Queue()
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self.thread = threading.Thread(target=self._run, args=(api, topic), daemon=True)
        self.thread.start()

    def _run(self, api: str, topic: str) -> None:
        try:
            with self.client.stream("POST", f"{api}/pubsub/sub", params={"arg": mb(topic)}) as r:
                for line in r.iter_lines():
                    if line.strip():
                        self.lines.put(json.loads(line))
        except Exception:  # noqa: BLE001 - closed by close()
            pass

    def get(self, timeout: float = 30) -> dict:
        return self.lines.get(timeout=timeout)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KuboDaemon, ServerProcess]]:
    base = tmp_path_factory.mktemp("pubsub")
    kubo = KuboDaemon(base / "kubo", config={("Pubsub", "Enabled"): True})
    ours = start_server(base / "ours")
    try:
        r = httpx.post(f"{ours.url}/api/v0/swarm/connect", params={"arg": kubo.full_addr}, timeout=30)
        assert r.status_code == 200, r.text
        yield kubo, ours
    finally:
        ours.stop()
        kubo.stop()


def wait_for(cond, timeout: float = 30, what: str = "") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_messages_cross_both_ways(pair: tuple[KuboDaemon, ServerProcess]) -> None:
    kubo, ours = pair
    our_api = f"{ours.url}/api/v0"
    our_id = httpx.post(f"{our_api}/id", timeout=10).json()["ID"]
    ours_sub, kubo_sub = Subscriber(our_api, TOPIC), Subscriber(kubo.api, TOPIC)
    try:
        wait_for(lambda: our_id in kubo.rpc("pubsub/peers", arg=mb(TOPIC)).json().get("Strings") or [],
                 what="Kubo never saw us on the topic")
        wait_for(lambda: kubo.peer_id in httpx.post(f"{our_api}/pubsub/peers", params={"arg": mb(TOPIC)},
                                                    timeout=10).json()["Strings"],
                 what="we never saw Kubo on the topic")
        assert httpx.post(f"{our_api}/pubsub/ls", timeout=10).json() == {"Strings": [mb(TOPIC)]}
        # Kubo -> us
        r = kubo.rpc("pubsub/pub", arg=mb(TOPIC), files={"data": ("d", b"hello from kubo")})
        assert r.status_code == 200, r.text
        m = ours_sub.get()
        assert m["from"] == kubo.peer_id and unmb(m["data"]) == b"hello from kubo"
        assert [unmb(t) for t in m["topicIDs"]] == [TOPIC.encode()]
        # us -> Kubo
        r = httpx.post(f"{our_api}/pubsub/pub", params={"arg": mb(TOPIC)},
                       files={"data": ("d", b"hello from ipfs-kit")}, timeout=30)
        assert r.status_code == 200, r.text
        m = kubo_sub.get()
        if m["from"] == kubo.peer_id:  # Kubo delivers its own message to its own subscriber first
            m = kubo_sub.get()
        assert m["from"] == our_id and unmb(m["data"]) == b"hello from ipfs-kit"
    finally:
        ours_sub.close()
        kubo_sub.close()
