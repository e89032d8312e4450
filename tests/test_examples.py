"""Every example under examples/ runs against a real local server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, ServerProcess, start_server

EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str, timeout: float = 60) -> str:
    out = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                         timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"{name} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("examples") / "repo")
    try:
        yield srv
    finally:
        srv.stop()


def add(srv: ServerProcess, data: bytes, name: str) -> str:
    r = httpx.post(f"{srv.url}/api/v0/add", files={"file": (name, data)}, timeout=60)
    r.raise_for_status()
    return r.json()["Hash"]


def test_protocol_selection_example() -> None:
    out = run_example("protocol_selection.py")
    assert "video/mp4" in out and out.count("-> webrtc") == 2 and "-> websocket" in out and "-> libp2p" in out


def test_connect_to_notifications_example(node: ServerProcess) -> None:
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "connect_to_notifications.py"), node.host_port,
                             "--count", "3", "--timeout", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the seed's loop prints every message, confirmation included
            line = proc.stdout.readline()
            if "subscription_confirmed" in line or not line:
                break
        for i in range(3):
            add(node, f"example notification {i} {time.time()}".encode(), f"n{i}.txt")
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.count("Received notification: content_added") == 3


def test_connect_to_mcp_webrtc_example(node: ServerProcess) -> None:
    from webrtc_media import make_mp4

    cid = add(node, make_mp4(2.0, audio=False), "clip.mp4")
    out = run_example("connect_to_mcp_webrtc.py", node.host_port, cid, "--frames", "10")
    assert out.count("frame 640x480") == 10


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, node: ServerProcess) -> Iterator[ServerProcess]:
    node_id = httpx.post(f"{node.url}/api/v0/id", timeout=10).json()["ID"]  # the target takes pushes from it
    srv = start_server(tmp_path_factory.mktemp("examples-target") / "repo",
                       env={"IPFS_KIT_LIBP2P_ACCEPT_PUSH_FROM": node_id})
    try:
        yield srv
    finally:
        srv.stop()


def test_connect_to_mcp_libp2p_example(node: ServerProcess) -> None:
    cid = add(node, b"fetched over libp2p by the seed's client\n", "p2p.txt")
    out = run_example("connect_to_mcp_libp2p.py", node.url, cid)
    assert f"received 41 bytes of {cid}" in out


def test_transfer_content_example(node: ServerProcess, target: ServerProcess) -> None:
    cid = add(node, b"carried by the fallback chain\n" * 1000, "chain.txt")
    out = run_example("transfer_content.py", node.url, cid, target.url)
    assert "libp2p    carried it" in out and f"transferred {cid} over libp2p" in out
    assert httpx.post(f"{target.url}/api/v0/pin/ls", params={"arg": cid}, timeout=10).status_code == 200


def test_stream_with_metadata_example(node: ServerProcess) -> None:
    from webrtc_media import make_mp4

    cid = add(node, make_mp4(2.0, audio=False), "meta.mp4")
    out = run_example("stream_with_metadata.py", node.url, cid, "--frames", "5")
    assert "metadata: meta.mp4 video/mp4" in out and "decoded 5 frames of 640x480" in out


def test_simple_api_example(node: ServerProcess, target: ServerProcess) -> None:
    from webrtc_media import make_mp4

    cid = add(node, make_mp4(2.0, audio=False), "api.mp4")
    addr = httpx.post(f"{target.url}/api/v0/id", timeout=10).json()["Addresses"][0]
    out = run_example("simple_api.py", node.url, cid, addr)
    assert "first frame: 640x480" in out and "pinned=True" in out
    assert "'type': 'transfer_completed'" in out  # printed by the notification callback


def test_server_components_example(tmp_path: Path) -> None:
    out = run_example("server_components.py", str(tmp_path / "repo"))
    assert "webrtc: True" in out and "libp2p: True" in out
    assert "['/ws', '/ws/notifications', '/ws/webrtc']" in out and "libp2p mcp answered 29 bytes" in out


def test_examples_all_have_a_test() -> None:
    tested = Path(__file__).read_text()
    for script in sorted(EXAMPLES.glob("*.py")):
        assert script.name in tested, f"examples/{script.name} is not run by any test"
