"""SFrame (RFC 9605) for H.264 frames that still travel through RTP packetizers (no I/O).

Shared by ingest (``webrtc/sframe_package.py``), the Python client and, as a JavaScript
port, the player page's worker; ``docs/sframe.md`` is the format description.

- Cipher suite ``AES_128_GCM_SHA256_128`` (0x0004): key and salt from the 16-byte
  base key and the KID with HKDF-SHA256 (RFC 9605 section 4.4.2), nonce = salt XOR CTR,
  AAD = SFrame header || metadata.
- H.264: in each access unit (Annex B), every NAL unit before the first slice (SPS,
  PPS, SEI, AUD) and the first 3 bytes of the first slice NAL (its header and the start
  of the slice header, which RTP depacketizers read for the PPS id) stay clear; those 3
  bytes are the SFrame metadata. The rest of the access unit (the slice data and every
  NAL unit after it, re-joined with 4-byte start codes) is the plaintext. The SFrame
  ciphertext (header || ciphertext || tag) goes into the slice NAL after the clear
  bytes, with H.264 emulation prevention (0x03 after two zero bytes when the next byte
  is <= 3, counting the zeros of the clear bytes before it) and a final 0x80 byte, so
  no start code appears and the NAL unit never ends in zero.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import IPFSKitError

SUITE = 0x0004  # AES_128_GCM_SHA256_128
NK, NN, NT = 16, 12, 16
CLEAR = 3  # bytes of the first slice NAL left clear: NAL header + 2 bytes of slice header
TRAILER = 0x80
START = b"\x00\x00\x00\x01"
VCL = (1, 5)  # non-IDR and IDR slices


class SFrameError(IPFSKitError):
    """A frame that cannot be decrypted: wrong key, tampering, or not SFrame-protected."""

    status = 400
    code = "sframe_error"


def new_key() -> bytes:
    return os.urandom(NK)


def parse_key(text: str) -> bytes:
    """A base key from its text form (32 hex digits)."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise SFrameError("a media key is 32 hexadecimal digits") from None
    if len(key) != NK:
        raise SFrameError("a media key is 32 hexadecimal digits (16 bytes)")
    return key


# -- RFC 9605 core ----------------------------------------------------------------------------------
def _hkdf(base_key: bytes, label: bytes, length: int) -> bytes:
    # HKDF-Extract with an empty salt (= HashLen zero bytes), then Expand(label)
    return HKDF(hashes.SHA256(), length, salt=None, info=label).derive(base_key)


def derive(base_key: bytes, kid: int) -> tuple[bytes, bytes]:
    """(sframe_key, sframe_salt) for ``kid``."""
    suffix = struct.pack(">QH", kid, SUITE)
    return (_hkdf(base_key, b"SFrame 1.0 Secret key " + suffix, NK),
            _hkdf(base_key, b"SFrame 1.0 Secret salt " + suffix, NN))


def _minimal(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def encode_header(kid: int, ctr: int) -> bytes:
    if kid < 0 or ctr < 0 or kid >= 1 << 64 or ctr >= 1 << 64:
        raise ValueError("KID and CTR are 64-bit unsigned integers")
    first, tail = 0, b""
    if kid < 8:
        first |= kid << 4
    else:
        k = _minimal(kid)
        first |= 0x80 | (len(k) - 1) << 4
        tail += k
    if ctr < 8:
        first |= ctr
    else:
        c = _minimal(ctr)
        first |= 0x08 | (len(c) - 1)
        tail += c
    return bytes([first]) + tail


def parse_header(data: bytes) -> tuple[int, int, int]:
    """(kid, ctr, header length) of an SFrame ciphertext."""
    if not data:
        raise SFrameError("empty SFrame")
    first, pos = data[0], 1
    if first & 0x80:
        n = ((first >> 4) & 7) + 1
        kid, pos = int.from_bytes(data[pos:pos + n], "big"), pos + n
    else:
        kid = (first >> 4) & 7
    if first & 0x08:
        n = (first & 7) + 1
        ctr, pos = int.from_bytes(data[pos:pos + n], "big"), pos + n
    else:
        ctr = first & 7
    if pos > len(data):
        raise SFrameError("truncated SFrame header")
    return kid, ctr, pos


class Context:
    """Seal and open SFrame ciphertexts with one base key (keys derived per KID, cached)."""

    def __init__(self, base_key: bytes) -> None:
        if len(base_key) != NK:
            raise SFrameError("a media key is 16 bytes")
        self._base = base_key
        self._keys: dict[int, tuple[AESGCM, bytes]] = {}

    def _key(self, kid: int) -> tuple[AESGCM, bytes]:
        if kid not in self._keys:
            key, salt = derive(self._base, kid)
            self._keys[kid] = (AESGCM(key), salt)
        return self._keys[kid]

    @staticmethod
    def _nonce(salt: bytes, ctr: int) -> bytes:
        return bytes(a ^ b for a, b in zip(salt, ctr.to_bytes(NN, "big"), strict=True))

    def seal(self, kid: int, ctr: int, metadata: bytes, plaintext: bytes) -> bytes:
        header = encode_header(kid, ctr)
        aead, salt = self._key(kid)
        return header + aead.encrypt(self._nonce(salt, ctr), plaintext, header + metadata)

    def open(self, data: bytes, metadata: bytes) -> tuple[int, int, bytes]:
        """(kid, ctr, plaintext); SFrameError when the tag does not verify."""
        kid, ctr, n = parse_header(data)
        if len(data) < n + NT:
            raise SFrameError("truncated SFrame ciphertext")
        aead, salt = self._key(kid)
        try:
            return kid, ctr, aead.decrypt(self._nonce(salt, ctr), data[n:], data[:n] + metadata)
        except InvalidTag:
            raise SFrameError(f"frame {ctr} (KID {kid}) does not authenticate: wrong key or tampered") from None


# -- H.264 framing ----------------------------------------------------------------------------------
def escape(data: bytes, zeros: int = 0) -> bytes:
    """Emulation prevention: 0x03 after two zero bytes when the next byte is <= 3. ``zeros``:
    how many zero bytes precede ``data`` in the NAL unit."""
    out = bytearray()
    for b in data:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def unescape(data: bytes, zeros: int = 0) -> bytes:
    out = bytearray()
    for b in data:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _trailing_zeros(data: bytes) -> int:
    n = 0
    for b in reversed(data):
        if b:
            break
        n += 1
    return min(n, 2)


def split_annexb(frame: bytes) -> list[tuple[int, int]]:
    """(start, end) of each NAL unit of an Annex B access unit (start codes excluded)."""
    spans: list[tuple[int, int]] = []
    i = frame.find(b"\x00\x00\x01")
    while i != -1:
        start = i + 3
        j = frame.find(b"\x00\x00\x01", start)
        end = len(frame) if j == -1 else (j - 1 if frame[j - 1] == 0 else j)
        spans.append((start, end))
        i = j
    return spans


def _first_slice(frame: bytes) -> int:
    for start, end in split_annexb(frame):
        if end > start and frame[start] & 0x1F in VCL:
            if end - start <= CLEAR:
                raise SFrameError("slice NAL unit too short to protect")
            return start
    raise SFrameError("no slice NAL unit in the frame")


def protect(frame: bytes, ctx: Context, kid: int, ctr: int) -> bytes:
    """An Annex B access unit -> the same with its slice data SFrame-encrypted (see the module doc)."""
    s = _first_slice(frame)
    clear, metadata, rest = frame[:s], frame[s:s + CLEAR], frame[s + CLEAR:]
    sealed = ctx.seal(kid, ctr, metadata, rest)
    return clear + metadata + escape(sealed, _trailing_zeros(metadata)) + bytes([TRAILER])


def unprotect(frame: bytes, ctx: Context) -> bytes:
    """The original access unit of a ``protect``ed one; SFrameError when it does not verify."""
    _kid, _ctr, out = open_frame(frame, ctx)
    return out


def open_frame(frame: bytes, ctx: Context) -> tuple[int, int, bytes]:
    s = _first_slice(frame)
    metadata = frame[s:s + CLEAR]
    body = frame[s + CLEAR:].rstrip(b"\x00")  # a depacketizer may leave trailing zeros
    if not body or body[-1] != TRAILER:
        raise SFrameError("frame is not SFrame-protected (no trailer)")
    kid, ctr, plaintext = ctx.open(unescape(body[:-1], _trailing_zeros(metadata)), metadata)
    return kid, ctr, frame[:s] + metadata + plaintext


@dataclass(frozen=True)
class PackageInfo:
    """What ``probe`` reads from an encrypted package's tag (``sframe/1 suite=4 kid=K``)."""

    scheme: str
    suite: int
    kid: int

    TAG = "ipfs-kit sframe/1"

    def tag(self) -> str:
        return f"{self.TAG} suite={self.suite} kid={self.kid}"

    @classmethod
    def from_tag(cls, text: str | None) -> PackageInfo | None:
        if not text or not text.startswith(cls.TAG):
            return None
        fields = dict(f.split("=", 1) for f in text[len(cls.TAG):].split() if "=" in f)
        try:
            return cls("sframe", int(fields.get("suite", SUITE)), int(fields.get("kid", 0)))
        except ValueError:
            return None

    def to_dict(self) -> dict[str, object]:
        return {"scheme": self.scheme, "suite": self.suite, "kid": self.kid}
