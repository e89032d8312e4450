"""The repo's keystore: named libp2p keys for IPNS names and signatures, as Kubo keeps them.

Each key is one file ``<repo>/keystore/key_<base32(name)>`` (lower-case RFC 4648
base32 without padding, Kubo's file names) holding the libp2p protobuf
encoding of the private key (``crypto.pb.PrivateKey``, the bytes of
``ipfs key export``'s default format), created with mode 0600 in a 0700
directory. The name ``self`` is the node's own identity (the libp2p key in the
repo), never a file here.

Signatures (``key/sign``, ``key/verify``) are over ``"libp2p-key signed
message:" + data``, as Kubo signs, so either side verifies the other's.
"""

from __future__ import annotations

import base64
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .content import multibase
from .content.cid import CID, b58decode, encode_varint
from .errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from libp2p.crypto.keys import PrivateKey, PublicKey
    from libp2p.peer.id import ID

# libp2p is imported where it is used: importing it costs seconds (its package imports every
# transport), and the registry, hence every CLI command, imports this module

SELF = "self"
SIGN_PREFIX = b"libp2p-key signed message:"
LIBP2P_KEY = 0x72  # multicodec of a CIDv1 that names a key (IPNS names)
FORMAT_PROTOBUF = "libp2p-protobuf-cleartext"
FORMAT_PEM = "pem-pkcs8-cleartext"
KEY_TYPES = ("ed25519", "rsa")
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 4096
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    private: PrivateKey

    @property
    def public(self) -> PublicKey:
        return self.private.get_public_key()

    @property
    def peer_id(self) -> ID:
        from libp2p.peer.id import ID

        return ID.from_pubkey(self.public)

    @property
    def type(self) -> str:
        from libp2p.crypto.keys import KeyType

        return "rsa" if self.private.get_type() == KeyType.RSA else "ed25519"


# -- names ------------------------------------------------------------------------------------------
def key_cid(peer_id: ID, base: str = "base36") -> str:
    """The IPNS name of a key as Kubo prints it: CIDv1 libp2p-key in base36 (``k51...``)."""
    return multibase.encode(base, bytes(CID(1, LIBP2P_KEY, peer_id.to_bytes())))


def _b36decode(text: str) -> bytes:
    n = 0
    for ch in text.lower():
        d = _B36.find(ch)
        if d < 0:
            raise ValueError(f"invalid base36 character {ch!r}")
        n = n * 36 + d
    zeros = len(text) - len(text.lstrip("0"))
    return b"\0" * zeros + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")


def parse_peer_id(text: str) -> ID:
    """A peer ID from any of its forms: ``12D3Koo...``/``Qm...`` (base58 multihash) or a
    libp2p-key CID (``k51...``, ``bafz...``)."""
    from libp2p.peer.id import ID

    text = text.strip()
    if not text:
        raise InvalidArgument("empty key ID")
    if len(text) > 256:
        raise InvalidArgument("IPNS name too long")
    if text[0] in "1Q":
        try:  # a base58 multihash; parsed as the multihash of a libp2p-key CID, so that it is checked whole
            raw = b58decode(text)
            return ID(CID.from_bytes(b"\x01" + encode_varint(LIBP2P_KEY) + raw).multihash)
        except Exception:  # noqa: BLE001 - malformed base58 or multihash
            raise InvalidArgument(f"invalid peer ID {text!r}") from None
    try:
        cid = CID.from_bytes(_b36decode(text[1:])) if text[0] in "kK" else CID.decode(text)
    except Exception:  # noqa: BLE001
        raise InvalidArgument(f"invalid peer ID or IPNS name {text!r}") from None
    if cid.codec != LIBP2P_KEY:
        raise InvalidArgument(f"{text} is a CID with codec {cid.codec_name}, not libp2p-key")
    return ID(cid.multihash)


def format_id(peer_id: ID, form: str = "b36cid") -> str:
    """Kubo's ``--ipns-base``: ``b36cid`` (default) or ``b58mh``."""
    if form == "b58mh":
        return peer_id.to_base58()
    if form in ("b36cid", "base36"):
        return key_cid(peer_id)
    if form in ("b32cid", "base32"):
        return key_cid(peer_id, "base32")
    raise InvalidArgument(f"unknown key format {form!r}: b36cid, b32cid or b58mh")


MAX_NAME_BYTES = 150  # a key name's file name (base32 of it) stays within the 255 bytes of a file system


def _file_name(name: str) -> str:
    if len(name.encode()) > MAX_NAME_BYTES:
        raise NotFound(f"no key named {name[:40]}... (names are at most {MAX_NAME_BYTES} bytes)")
    return "key_" + base64.b32encode(name.encode()).decode().rstrip("=").lower()


def _name_of_file(file_name: str) -> str | None:
    if not file_name.startswith("key_"):
        return None
    enc = file_name[4:].upper()
    try:
        return base64.b32decode(enc + "=" * (-len(enc) % 8)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def check_name(name: str) -> None:
    if not name:
        raise InvalidArgument("key names must be at least one character")
    if name == SELF:
        raise InvalidArgument("cannot create key with name 'self'")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidArgument(f"key names are at most {MAX_NAME_BYTES} bytes")
    if "/" in name or name.startswith(".") or any(ord(c) < 0x20 for c in name):
        raise InvalidArgument(f"key name {name!r} is not allowed: no '/', no leading '.', no control characters")


# -- key material ---------------------------------------------------------------------------------------
def generate(type_: str = "ed25519", size: int | None = None) -> PrivateKey:
    from libp2p.crypto.ed25519 import Ed25519PrivateKey
    from libp2p.crypto.rsa import RSAPrivateKey

    type_ = type_.lower()
    if type_ == "ed25519":
        if size not in (None, -1, 0, 256):
            raise InvalidArgument("ed25519 keys have no size option")
        return Ed25519PrivateKey.new()
    if type_ == "rsa":
        bits = size if size not in (None, -1, 0) else 2048
        if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS:
            raise InvalidArgument(f"rsa key size must be {RSA_MIN_BITS}..{RSA_MAX_BITS} bits")
        return RSAPrivateKey.new(bits)
    raise InvalidArgument(f"unrecognized key type: {type_} (ed25519 or rsa)")


def export_key(private: PrivateKey, fmt: str = FORMAT_PROTOBUF) -> bytes:
    if fmt == FORMAT_PROTOBUF:
        return private.serialize()
    if fmt == FORMAT_PEM:
        return _to_pem(private)
    raise InvalidArgument(f"unrecognized export format {fmt!r}: {FORMAT_PROTOBUF} or {FORMAT_PEM}")


def import_key(data: bytes, fmt: str = FORMAT_PROTOBUF, allow_any_type: bool = False) -> PrivateKey:
    from libp2p.crypto.keys import KeyType
    from libp2p.crypto.serialization import deserialize_private_key

    try:
        if fmt == FORMAT_PROTOBUF:
            private = deserialize_private_key(data)
        elif fmt == FORMAT_PEM:
            private = _from_pem(data)
        else:
            raise InvalidArgument(f"unrecognized import format {fmt!r}: {FORMAT_PROTOBUF} or {FORMAT_PEM}")
    except InvalidArgument:
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure is the caller's bad input
        raise InvalidArgument(f"cannot parse key ({fmt}): {e}") from None
    if private.get_type() not in (KeyType.Ed25519, KeyType.RSA) and not allow_any_type:
        raise InvalidArgument("key type not supported (ed25519 or rsa; --allow-any-key-type for others)")
    return private


def _to_pem(private: PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from libp2p.crypto.keys import KeyType

    if private.get_type() == KeyType.Ed25519:
        seed = private.to_bytes()[:32]
        key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        return key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    if private.get_type() == KeyType.RSA:
        der = private.to_bytes()  # PKCS#1
        key2 = ser.load_der_private_key(der, None)
        return key2.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    raise InvalidArgument("only ed25519 and rsa keys export as PEM")


def _from_pem(data: bytes) -> PrivateKey:
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from libp2p.crypto.ed25519 import Ed25519PrivateKey
    from libp2p.crypto.rsa import RSAPrivateKey

    key = ser.load_pem_private_key(data, None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Ed25519PrivateKey.new(key.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption()))
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption())
        return RSAPrivateKey.from_bytes(der)
    raise InvalidArgument("PEM key is neither ed25519 nor rsa")


def sign(private: PrivateKey, data: bytes) -> bytes:
    return private.sign(SIGN_PREFIX + data)


def verify(public: PublicKey, data: bytes, signature: bytes) -> bool:
    try:
        return bool(public.verify(SIGN_PREFIX + data, signature))
    except Exception:  # noqa: BLE001 - a malformed signature is simply not valid
        return False


def public_key_of(peer_id: ID) -> PublicKey | None:
    """The public key inlined in an identity-multihash peer ID (ed25519), else None."""
    from libp2p.crypto.serialization import deserialize_public_key

    raw = peer_id.to_bytes()
    if raw[:1] == b"\x00":
        try:
            return deserialize_public_key(raw[2:])
        except Exception:  # noqa: BLE001
            return None
    return None


# -- the store ------------------------------------------------------------------------------------------
class Keystore:
    """Named keys in ``<repo>/keystore``; ``self`` is the node's identity key."""

    def __init__(self, repo_path: str | os.PathLike[str]) -> None:
        self.repo_path = Path(repo_path)
        self.dir = self.repo_path / "keystore"
        self._lock = threading.Lock()

    def _self_key(self) -> PrivateKey:
        from .p2p.identity import load_or_create_identity

        return load_or_create_identity(self.repo_path).private_key

    def _ensure_dir(self) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)

    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        out = []
        for f in self.dir.iterdir():
            name = _name_of_file(f.name)
            if name is not None and f.is_file():
                out.append(name)
        return sorted(out)

    def has(self, name: str) -> bool:
        return name == SELF or (len(name.encode()) <= MAX_NAME_BYTES and (self.dir / _file_name(name)).is_file())

    def get(self, name: str) -> Key:
        if name == SELF:
            return Key(SELF, self._self_key())
        path = self.dir / _file_name(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no key named {name}") from None
        from libp2p.crypto.serialization import deserialize_private_key

        return Key(name, deserialize_private_key(data))

    def list(self) -> list[Key]:
        return [self.get(SELF), *(self.get(n) for n in self.names())]

    def find(self, name_or_id: str) -> Key:
        """A key by its name, or by its ID in any form."""
        if self.has(name_or_id):
            return self.get(name_or_id)
        try:
            pid = parse_peer_id(name_or_id)
        except InvalidArgument:
            raise NotFound(f"no key named {name_or_id}") from None
        for key in self.list():
            if key.peer_id == pid:
                return key
        raise NotFound(f"no key with ID {name_or_id}")

    def put(self, name: str, private: PrivateKey, *, overwrite: bool = False) -> Key:
        from libp2p.peer.id import ID

        check_name(name)
        with self._lock:
            self._ensure_dir()
            path = self.dir / _file_name(name)
            if path.exists() and not overwrite:
                raise InvalidArgument(f"key with name '{name}' already exists")
            for other in self.names():
                if other != name and self.get(other).peer_id == ID.from_pubkey(private.get_public_key()):
                    raise InvalidArgument(f"key with the same ID already exists as '{other}'")
            tmp = self.dir / f".{path.name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(private.serialize())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        return Key(name, private)

    def generate(self, name: str, type_: str = "ed25519", size: int | None = None) -> Key:
        check_name(name)
        if self.has(name):
            raise InvalidArgument(f"key with name '{name}' already exists")
        return self.put(name, generate(type_, size))

    def rename(self, old: str, new: str, *, force: bool = False) -> tuple[Key, bool]:
        """Rename ``old`` to ``new``; (the key under its new name, whether one was overwritten)."""
        if old == SELF:
            raise InvalidArgument("cannot rename key with name 'self'")
        check_name(new)
        with self._lock:
            src, dst = self.dir / _file_name(old), self.dir / _file_name(new)
            if not src.is_file():
                raise NotFound(f"no key named {old}")
            if old == new:
                return self.get(old), False
            overwrite = dst.exists()
            if overwrite and not force:
                raise InvalidArgument(f"key by that name already exists, refusing to overwrite: {new}")
            os.replace(src, dst)
        return self.get(new), overwrite

    def remove(self, name: str) -> Key:
        if name == SELF:
            raise InvalidArgument("cannot remove key with name 'self'")
        key = self.get(name)
        (self.dir / _file_name(name)).unlink()
        return key
