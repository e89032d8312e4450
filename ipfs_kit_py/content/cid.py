"""Content identifiers: CIDv0/CIDv1, multihash, varints, base32 and base58btc.

Only what IPFS content needs: sha2-256 multihashes (plus identity, which Kubo
accepts for tiny blocks), the dag-pb, raw and dag-cbor codecs, and the two
multibases Kubo prints (base58btc for v0, base32 lower for v1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidCID

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~7 ms at `ipfs-kit add` start)
if TYPE_CHECKING:
    from typing import Any

DAG_PB = 0x70
RAW = 0x55
DAG_CBOR = 0x71
LIBP2P_KEY = 0x72
SHA2_256 = 0x12
IDENTITY = 0x00

CODEC_NAMES = {DAG_PB: "dag-pb", RAW: "raw", DAG_CBOR: "dag-cbor", LIBP2P_KEY: "libp2p-key"}
HASH_NAMES = {SHA2_256: "sha2-256", IDENTITY: "identity"}
# Further hash functions Kubo offers for new blocks (dag/put --hash): code -> (name, hashlib maker)
HASHES: dict[int, tuple[str, Callable[[bytes], Any]]] = {
    SHA2_256: ("sha2-256", hashlib.sha256),
    0x13: ("sha2-512", hashlib.sha512),
    0x16: ("sha3-256", hashlib.sha3_256),
    0x14: ("sha3-512", hashlib.sha3_512),
    0xB220: ("blake2b-256", lambda b: hashlib.blake2b(b, digest_size=32)),
    0xB240: ("blake2b-512", hashlib.blake2b),
}
HASH_NAMES.update({code: name for code, (name, _) in HASHES.items()})

# Digest size limits, as Kubo's boxo/verifcid: an identity "digest" is the data itself, so
# without a cap a CID could carry kilobytes (and name a block file too long for the disk)
MAX_DIGEST = 128  # bytes of a cryptographic digest
MAX_IDENTITY_DIGEST = 128  # bytes inlined in an identity CID
MAX_TEXT = 512  # characters of a CID's text form (a 128-byte digest is ~240 in base32)

_B58 = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def encode_varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_varint(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """Return (value, new position). Raises ValueError on a truncated or over-long varint."""
    result = shift = 0
    n = len(buf)
    while True:
        if pos >= n:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = bytearray()
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return (b"1" * pad + bytes(reversed(out))).decode()


def b58decode(s: str) -> bytes:
    n = 0
    for ch in s.encode():
        try:
            n = n * 58 + _B58_INDEX[ch]
        except KeyError:
            raise ValueError(f"invalid base58 character {chr(ch)!r}") from None
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(s) - len(s.lstrip("1"))
    return b"\0" * pad + body


def b32encode(data: bytes) -> str:
    import base64  # here: `ipfs-kit add` of a CIDv0 starts without it

    return base64.b32encode(data).decode().rstrip("=").lower()


def b32decode(s: str) -> bytes:
    import base64

    s = s.upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def check_digest_size(code: int, length: int) -> None:
    """Refuse a multihash whose digest is larger than Kubo accepts (boxo/verifcid)."""
    limit = MAX_IDENTITY_DIGEST if code == IDENTITY else MAX_DIGEST
    if length > limit:
        name = HASH_NAMES.get(code, f"0x{code:x}")
        raise InvalidCID(f"invalid CID: digest too large: {name} digest got {length} bytes, maximum {limit}")


def _shorten(text: str, limit: int = 80) -> str:
    """A CID as quoted in an error message: long input is cut, not echoed whole."""
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} characters)"


@dataclass(frozen=True, slots=True)
class CID:
    """An immutable CID. ``str(cid)`` gives Kubo's text form (Qm... or bafy...)."""

    version: int
    codec: int
    multihash: bytes

    # -- construction -----------------------------------------------------
    @classmethod
    def decode(cls, value: str | bytes | CID) -> CID:
        """Parse a CID from its text or binary form; raise InvalidCID with the reason."""
        if isinstance(value, CID):
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            return cls.from_bytes(bytes(value))
        if not isinstance(value, str):
            raise InvalidCID(f"invalid CID {value!r}: expected a string")
        text = value.strip()
        if not text:
            raise InvalidCID("invalid CID: empty string")
        if len(text) > MAX_TEXT:  # refused before decoding (base58 decoding is quadratic)
            raise InvalidCID(f"invalid CID {_shorten(text)!r}: {len(text)} characters, more than a CID can have")
        try:
            if len(text) == 46 and text.startswith("Qm"):
                return cls.from_bytes(b58decode(text))
            prefix, body = text[0], text[1:]
            if prefix in "bB":
                raw = b32decode(body)
            elif prefix == "z":
                raw = b58decode(body)
            elif prefix == "f":
                raw = bytes.fromhex(body)
            else:
                raise InvalidCID(f"invalid CID {_shorten(text)!r}: unsupported multibase prefix {prefix!r}")
            if raw[:1] == b"\x12":
                raise InvalidCID(f"invalid CID {_shorten(text)!r}: CIDv0 must be base58btc")
            return cls.from_bytes(raw)
        except InvalidCID:
            raise
        except (ValueError, TypeError) as e:
            raise InvalidCID(f"invalid CID {_shorten(text)!r}: {e}") from None

    @classmethod
    def from_bytes(cls, raw: bytes) -> CID:
        cid, end = cls.read(raw, 0)
        if end != len(raw):
            raise InvalidCID("invalid CID: trailing bytes")
        return cid

    @classmethod
    def read(cls, raw: bytes | memoryview, pos: int = 0) -> tuple[CID, int]:
        """Read one binary CID at ``pos``; return it and the position after it."""
        try:
            if raw[pos] == 0x12 and pos + 1 < len(raw) and raw[pos + 1] == 0x20:
                mh = bytes(raw[pos : pos + 34])
                if len(mh) != 34:
                    raise InvalidCID("invalid CID: truncated multihash")
                return cls(0, DAG_PB, mh), pos + 34
            if raw[pos] == 1 and raw[pos + 1] < 0x80 and raw[pos + 2] < 0x80 and raw[pos + 3] < 0x80:
                # the common CIDv1 (codec, hash code and length one byte each), without the varint loops
                length, end = raw[pos + 3], pos + 4 + raw[pos + 3]
                check_digest_size(raw[pos + 2], length)
                if end > len(raw):
                    raise InvalidCID("invalid CID: truncated multihash")
                return cls(1, raw[pos + 1], bytes(raw[pos + 2 : end])), end
            version, p = decode_varint(raw, pos)
            if version != 1:
                raise InvalidCID(f"invalid CID: unsupported version {version}")
            codec, p = decode_varint(raw, p)
            start = p
            code, p = decode_varint(raw, p)
            length, p = decode_varint(raw, p)
            check_digest_size(code, length)
            if p + length > len(raw):
                raise InvalidCID("invalid CID: truncated multihash")
            return cls(1, codec, bytes(raw[start : p + length])), p + length
        except IndexError:
            raise InvalidCID("invalid CID: truncated") from None
        except ValueError as e:
            raise InvalidCID(f"invalid CID: {e}") from None

    @classmethod
    def from_digest(cls, digest: bytes, codec: int = DAG_PB, version: int = 1) -> CID:
        """Build a CID from a sha2-256 digest."""
        mh = b"\x12\x20" + digest
        if version == 0:
            if codec != DAG_PB:
                raise InvalidCID("CIDv0 can only address dag-pb")
            return cls(0, DAG_PB, mh)
        return cls(1, codec, mh)

    @classmethod
    def hash(cls, data: bytes, codec: int = DAG_PB, version: int = 1) -> CID:
        return cls.from_digest(hashlib.sha256(data).digest(), codec, version)

    @classmethod
    def hash_with(cls, data: bytes, codec: int, hash_name: str) -> CID:
        """A CIDv1 of ``data`` with the hash function named ``hash_name`` (one of :data:`HASHES`)."""
        code = next((c for c, (name, _) in HASHES.items() if name == hash_name), None)
        if code is None:
            raise InvalidCID(f"unsupported hash function {hash_name!r}: {', '.join(n for n, _ in HASHES.values())}")
        digest = HASHES[code][1](data).digest()
        return cls(1, codec, encode_varint(code) + encode_varint(len(digest)) + digest)

    # -- views ---------------------------------------------------------------
    @property
    def hash_code(self) -> int:
        return decode_varint(self.multihash, 0)[0]

    @property
    def digest(self) -> bytes:
        _, p = decode_varint(self.multihash, 0)
        _, p = decode_varint(self.multihash, p)
        return self.multihash[p:]

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES.get(self.codec, hex(self.codec))

    def __bytes__(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return b"\x01" + encode_varint(self.codec) + self.multihash

    def __str__(self) -> str:
        if self.version == 0:
            return b58encode(self.multihash)
        return "b" + b32encode(bytes(self))

    def __repr__(self) -> str:
        return f"CID({str(self)!r})"

    def to_v1(self) -> CID:
        return self if self.version == 1 else CID(1, self.codec, self.multihash)

    def verify(self, data: bytes) -> bool:
        """True when ``data`` hashes to this CID's multihash."""
        code = self.hash_code
        if code == SHA2_256:
            return hashlib.sha256(data).digest() == self.digest
        if code == IDENTITY:
            return data == self.digest
        if code in HASHES:
            return bool(HASHES[code][1](data).digest() == self.digest)
        raise InvalidCID(f"unsupported hash function 0x{code:x} in {self}")
