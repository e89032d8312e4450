"""Keys (Kubo's key/* verbs) on the real server application, in this process through httpx's
ASGI transport (tests/inproc.py): the keystore files, formats Kubo reads, signatures Kubo's
scheme verifies."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator

import httpx
import pytest
from inproc import InProcessServer, inprocess

from ipfs_kit_py import keystore


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """The app in this process for the module (libp2p on, as the server's default: ``self`` is its identity)."""
    yield from inprocess(tmp_path_factory.mktemp("keys") / "repo", overrides={"libp2p": {"enabled": True}})


def rpc(srv: InProcessServer, path: str, *, files: dict | None = None, **params: object) -> httpx.Response:
    return srv.client.post(f"/api/v0/{path}", params=params, files=files)


def test_gen_list_rename_rm(shared_server: InProcessServer) -> None:
    r = rpc(shared_server, "key/gen", arg="alpha")
    assert r.status_code == 200, r.text
    alpha = r.json()
    assert alpha["Name"] == "alpha" and alpha["Id"].startswith("k51")  # ed25519, base36 CID
    r = rpc(shared_server, "key/gen", arg="beta", type="rsa", size=2048)
    assert r.status_code == 200, r.text
    assert r.json()["Id"].startswith("k2k4r8")  # RSA keys are sha256 multihashes
    keys = rpc(shared_server, "key/list").json()["Keys"]
    assert [k["Name"] for k in keys] == ["self", "alpha", "beta"]
    self_id = rpc(shared_server, "id").json()["ID"]
    assert keystore.parse_peer_id(keys[0]["Id"]).to_base58() == self_id
    # the key files: owner-only, Kubo's names, Kubo's bytes
    d = shared_server.repo / "keystore"
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for f in d.iterdir():
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert (d / ("key_" + base64.b32encode(b"alpha").decode().rstrip("=").lower())).is_file()
    # errors: duplicate, reserved name, bad type
    assert rpc(shared_server, "key/gen", arg="alpha").status_code == 400
    assert rpc(shared_server, "key/gen", arg="self").status_code == 400
    assert rpc(shared_server, "key/gen", arg="x", type="dsa").json()["Type"] == "error"
    r = rpc(shared_server, "key/rename", arg=["alpha", "gamma"])
    assert r.json() == {"Was": "alpha", "Now": "gamma", "Id": alpha["Id"], "Overwrite": False}
    assert rpc(shared_server, "key/rename", arg=["gamma", "beta"]).status_code == 400  # no force
    r = rpc(shared_server, "key/rm", arg="gamma")
    assert r.json() == {"Keys": [{"Name": "gamma", "Id": alpha["Id"]}]}
    assert rpc(shared_server, "key/rm", arg="self").status_code == 400
    assert rpc(shared_server, "key/rm", arg="gamma").status_code == 404


@pytest.mark.parametrize("fmt", ["libp2p-protobuf-cleartext", "pem-pkcs8-cleartext"])
def test_export_import_round_trip(shared_server: InProcessServer, fmt: str) -> None:
    name = f"exp-{fmt[:3]}"
    made = rpc(shared_server, "key/gen", arg=name).json()
    raw = rpc(shared_server, "key/export", arg=name, format=fmt)
    assert raw.status_code == 200, raw.text
    if fmt.startswith("pem"):
        assert raw.content.startswith(b"-----BEGIN PRIVATE KEY-----")
    rpc(shared_server, "key/rm", arg=name)
    r = rpc(shared_server, "key/import", arg=name, format=fmt, files={"key": ("k", raw.content)})
    assert r.status_code == 200, r.text
    assert r.json() == made
    bad = rpc(shared_server, "key/import", arg="junk", files={"key": ("k", b"not a key")})
    assert bad.status_code == 400 and bad.json()["Type"] == "error"


def test_sign_and_verify(shared_server: InProcessServer) -> None:
    r = rpc(shared_server, "key/sign", files={"data": ("d", b"hello")})
    assert r.status_code == 200, r.text
    signed = r.json()
    assert signed["Key"]["Name"] == "self" and signed["Signature"].startswith("u")
    ok = rpc(shared_server, "key/verify", signature=signed["Signature"], files={"data": ("d", b"hello")}).json()
    assert ok["SignatureValid"] is True
    bad = rpc(shared_server, "key/verify", signature=signed["Signature"], files={"data": ("d", b"hellO")}).json()
    assert bad["SignatureValid"] is False
    # by ID, as a stranger would verify it (the ed25519 key is inlined in the ID)
    by_id = rpc(shared_server, "key/verify", key=signed["Key"]["Id"], signature=signed["Signature"],
                files={"data": ("d", b"hello")}).json()
    assert by_id["SignatureValid"] is True
    # the scheme is Kubo's: "libp2p-key signed message:" + data, checked here independently
    pub = keystore.public_key_of(keystore.parse_peer_id(signed["Key"]["Id"]))
    sig = base64.urlsafe_b64decode(signed["Signature"][1:] + "==")
    assert pub is not None and pub.verify(b"libp2p-key signed message:hello", sig)
