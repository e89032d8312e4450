"""``client/`` imports no server code (issue 10): a fresh interpreter imports the client
package (and each of its modules, and ``IPFSSimpleAPI``) and must not have loaded the
model, the importer, the server, the WebRTC server package, the registry or FastAPI.
What both sides need lives in neutral modules (``types``, ``content.fswalk``,
``content.profiles``, ``ice``, ``car_channel``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# modules that belong to the server side: none may be loaded by importing a client module
SERVER_SIDE = (
    "ipfs_kit_py.server", "ipfs_kit_py.mcp", "ipfs_kit_py.model", "ipfs_kit_py.content.importer",
    "ipfs_kit_py.content.blockstore", "ipfs_kit_py.content.index", "ipfs_kit_py.webrtc",
    "ipfs_kit_py.registry", "ipfs_kit_py.ops", "ipfs_kit_py.node", "ipfs_kit_py.app",
    "ipfs_kit_py.local_backend", "fastapi", "starlette", "uvicorn",
)


def loaded_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return list(json.loads(p.stdout.splitlines()[-1]))


def server_side(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == s or m.startswith(s + ".") for s in SERVER_SIDE)]


def test_importing_the_client_loads_no_server_code() -> None:
    assert server_side(loaded_after("import ipfs_kit_py.client")) == []


@pytest.mark.parametrize("module", [
    "ipfs_kit_py.client.http", "ipfs_kit_py.client.base", "ipfs_kit_py.client.streaming",
    "ipfs_kit_py.client.retrieve", "ipfs_kit_py.client.hybrid", "ipfs_kit_py.client.transfer",
    "ipfs_kit_py.client.notifications", "ipfs_kit_py.client.ws_rpc", "ipfs_kit_py.client.tarstream",
    "ipfs_kit_py.high_level_api",
])
def test_no_client_module_loads_server_code(module: str) -> None:
    assert server_side(loaded_after(f"import {module}")) == []


def test_the_in_process_backend_is_loaded_only_when_asked_for() -> None:
    """``client.LocalClient`` (the repo opened in this process) is the one way in to the model."""
    modules = loaded_after("import ipfs_kit_py.client as c\nassert c.LocalClient.__name__ == 'LocalClient'")
    assert "ipfs_kit_py.model" in modules and "ipfs_kit_py.local_backend" in modules
    # and AddOptions is one class wherever it is imported from
    modules = loaded_after("from ipfs_kit_py.client import AddOptions\nfrom ipfs_kit_py.model import AddOptions as M\n"
                           "assert AddOptions is M")
    assert "ipfs_kit_py.model" in modules
