"""IPNS records per the IPNS record spec (specs.ipfs.tech/ipns/ipns-record):
create, parse, verify, select.

A record is the ``IpnsEntry`` protobuf. Its signed content is ``data``, a
DAG-CBOR map ``{TTL, Value, Sequence, Validity, ValidityType}`` (keys in
DAG-CBOR order: shorter first, then bytewise), signed as ``signatureV2`` over
``"ipns-signature:" + data``. With V1 compatibility (Kubo's default) the legacy
fields ``value``, ``validity``, ``validityType``, ``sequence``, ``ttl`` repeat
the CBOR values and ``signatureV1`` signs ``value + validity + "EOL"``; a
verifier checks V2 only, and that any V1 field present matches the CBOR.
``pubKey`` is present when the name does not inline the key (RSA).

Validity is an RFC 3339 time with nanoseconds (Go's ``time.RFC3339Nano``);
``TTL`` is in nanoseconds. Records are at most 10 KiB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import cbor2

from ..errors import InvalidArgument
from ..keystore import public_key_of

if TYPE_CHECKING:  # libp2p is imported where it is used (it costs seconds; see keystore.py)
    from libp2p.crypto.keys import PrivateKey, PublicKey
    from libp2p.peer.id import ID

MAX_RECORD_SIZE = 10 * 1024
SIG_V2_PREFIX = b"ipns-signature:"
EOL = 0
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


class InvalidRecord(InvalidArgument):
    """An IPNS record that does not verify (bad signature, expired, malformed...); on the
    wire an ``invalid_argument`` (400)."""


# -- a tiny protobuf codec for IpnsEntry (9 fields) ------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise InvalidRecord("truncated or oversized varint in IPNS record")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


_BYTES_FIELDS = {1: "value", 2: "signature_v1", 4: "validity", 7: "pub_key", 8: "signature_v2", 9: "data"}
_INT_FIELDS = {3: "validity_type", 5: "sequence", 6: "ttl"}


@dataclass(slots=True)
class IpnsEntry:
    value: bytes = b""
    signature_v1: bytes = b""
    validity_type: int | None = None
    validity: bytes = b""
    sequence: int | None = None
    ttl: int | None = None
    pub_key: bytes = b""
    signature_v2: bytes = b""
    data: bytes = b""

    def marshal(self) -> bytes:
        out = bytearray()
        for num in range(1, 10):
            if num in _BYTES_FIELDS:
                v = getattr(self, _BYTES_FIELDS[num])
                if v:
                    out += _varint(num << 3 | 2) + _varint(len(v)) + v
            else:
                iv = getattr(self, _INT_FIELDS[num])
                if iv is not None:
                    out += _varint(num << 3) + _varint(iv)
        return bytes(out)

    @classmethod
    def unmarshal(cls, buf: bytes) -> IpnsEntry:
        e = cls()
        pos = 0
        while pos < len(buf):
            tag, pos = _read_varint(buf, pos)
            num, wire = tag >> 3, tag & 7
            if wire == 0:
                v, pos = _read_varint(buf, pos)
                if num in _INT_FIELDS:
                    setattr(e, _INT_FIELDS[num], v)
            elif wire == 2:
                n, pos = _read_varint(buf, pos)
                if pos + n > len(buf):
                    raise InvalidRecord("truncated field in IPNS record")
                if num in _BYTES_FIELDS:
                    setattr(e, _BYTES_FIELDS[num], bytes(buf[pos:pos + n]))
                pos += n
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            else:
                raise InvalidRecord(f"unsupported protobuf wire type {wire} in IPNS record")
        if pos != len(buf):
            raise InvalidRecord("truncated IPNS record")
        return e


# -- times ---------------------------------------------------------------------------------------------
def format_rfc3339(t: datetime) -> str:
    """Go's RFC3339Nano in UTC: fraction without trailing zeros."""
    t = t.astimezone(UTC)
    frac = f"{t.microsecond:06d}000".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def parse_rfc3339(text: str) -> datetime:
    m = _RFC3339.match(text)
    if not m:
        raise InvalidRecord(f"validity {text!r} is not an RFC 3339 time")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    offset = UTC if tz == "Z" else timezone(
        (1 if tz[0] == "+" else -1) * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=offset)
    except ValueError as e:
        raise InvalidRecord(f"validity {text!r}: {e}") from None


# -- records ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Record:
    """A verified (or at least parsed) IPNS record."""

    raw: bytes
    entry: IpnsEntry
    value: str  # /ipfs/..., /ipns/...
    validity: datetime
    validity_text: str
    sequence: int
    ttl_ns: int
    public_key: PublicKey | None

    @property
    def ttl_seconds(self) -> float:
        return self.ttl_ns / 1e9

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) > self.validity


def _cbor_data(value: bytes, validity: bytes, sequence: int, ttl_ns: int) -> bytes:
    # canonical=True orders map keys length-first, then bytewise: DAG-CBOR's order
    return cbor2.dumps({"TTL": ttl_ns, "Value": value, "Sequence": sequence, "Validity": validity,
                        "ValidityType": EOL}, canonical=True)


def create(private: PrivateKey, value: str, sequence: int, eol: datetime, ttl_ns: int, *,
           v1_compat: bool = True, embed_public_key: bool | None = None) -> bytes:
    """A signed IPNS record for ``value`` valid until ``eol``."""
    if not value.startswith(("/ipfs/", "/ipns/", "/dnslink/")):
        raise InvalidArgument(f"IPNS value must be a /ipfs/, /ipns/ or /dnslink/ path, not {value!r}")
    if sequence < 0 or sequence >= 1 << 64 or ttl_ns < 0 or ttl_ns >= 1 << 64:
        raise InvalidArgument("sequence and ttl must fit in 64 unsigned bits")
    v, validity = value.encode(), format_rfc3339(eol).encode()
    data = _cbor_data(v, validity, sequence, ttl_ns)
    entry = IpnsEntry(data=data, signature_v2=private.sign(SIG_V2_PREFIX + data))
    if v1_compat:
        entry.value, entry.validity, entry.validity_type = v, validity, EOL
        entry.sequence, entry.ttl = sequence, ttl_ns
        entry.signature_v1 = private.sign(v + validity + b"EOL")
    from libp2p.peer.id import ID

    pub = private.get_public_key()
    if embed_public_key is None:
        embed_public_key = public_key_of(ID.from_pubkey(pub)) is None  # not inlined in the name
    if embed_public_key:
        entry.pub_key = pub.serialize()
    raw = entry.marshal()
    if len(raw) > MAX_RECORD_SIZE:
        raise InvalidArgument(f"IPNS record of {len(raw)} bytes exceeds {MAX_RECORD_SIZE}")
    return raw


def parse(raw: bytes) -> Record:
    """Parse a record without checking its signature (``name inspect`` without ``--verify``)."""
    if not raw:
        raise InvalidRecord("empty IPNS record")
    if len(raw) > MAX_RECORD_SIZE:
        raise InvalidRecord(f"IPNS record of {len(raw)} bytes exceeds the {MAX_RECORD_SIZE}-byte limit")
    entry = IpnsEntry.unmarshal(raw)
    if not entry.data or not entry.signature_v2:
        raise InvalidRecord("IPNS record has no V2 signature or data (V1-only records are refused)")
    try:
        data = cbor2.loads(entry.data)
    except Exception as e:  # noqa: BLE001 - cbor2 raises several types
        raise InvalidRecord(f"IPNS record data is not CBOR: {e}") from None
    if not isinstance(data, dict):
        raise InvalidRecord("IPNS record data is not a CBOR map")
    value, validity, vtype, seq = (data.get(k) for k in ("Value", "Validity", "ValidityType", "Sequence"))
    ttl = data.get("TTL", 0)
    if not isinstance(value, bytes) or not isinstance(validity, bytes):
        raise InvalidRecord("IPNS record data: Value and Validity must be byte strings")
    if vtype != EOL:
        raise InvalidRecord(f"IPNS record data: unsupported ValidityType {vtype!r}")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 1 << 64:
        raise InvalidRecord("IPNS record data: Sequence must be a uint64")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl < 1 << 64:
        raise InvalidRecord("IPNS record data: TTL must be a uint64")
    try:
        validity_text, value_text = validity.decode("ascii"), value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRecord("IPNS record data: Value or Validity is not text") from None
    pub = None
    if entry.pub_key:
        from libp2p.crypto.serialization import deserialize_public_key

        try:
            pub = deserialize_public_key(entry.pub_key)
        except Exception:  # noqa: BLE001
            raise InvalidRecord("IPNS record pubKey is not a libp2p public key") from None
    return Record(raw, entry, value_text, parse_rfc3339(validity_text), validity_text, seq, ttl, pub)


def verify(raw: bytes, name: ID, *, check_expiry: bool = True) -> Record:
    """Parse ``raw`` and check it is a valid record for IPNS name ``name`` (spec §5.3)."""
    from libp2p.peer.id import ID

    rec = parse(raw)
    inlined = public_key_of(name)
    pub = rec.public_key or inlined
    if pub is None:
        raise InvalidRecord("IPNS record has no public key and the name does not inline one")
    if ID.from_pubkey(pub) != name:
        raise InvalidRecord("IPNS record's public key does not match the name")
    try:
        ok = pub.verify(SIG_V2_PREFIX + rec.entry.data, rec.entry.signature_v2)
    except Exception:  # noqa: BLE001
        ok = False
    if not ok:
        raise InvalidRecord("IPNS record signature (V2) is not valid")
    e = rec.entry
    if (e.value and e.value != rec.value.encode()) or (e.validity and e.validity != rec.validity_text.encode()) \
            or (e.sequence is not None and e.value and e.sequence != rec.sequence) \
            or (e.ttl is not None and e.value and e.ttl != rec.ttl_ns):
        raise InvalidRecord("IPNS record's V1 fields do not match its signed data")
    if check_expiry and rec.expired():
        raise InvalidRecord(f"IPNS record expired at {rec.validity_text}")
    return rec


def better(a: Record, b: Record) -> bool:
    """Is ``a`` preferred over ``b`` (higher sequence, then later validity)?"""
    return (a.sequence, a.validity) > (b.sequence, b.validity)


def routing_key(name: ID) -> bytes:
    """The DHT key of an IPNS name, as Kubo forms it: ``/ipns/`` + the binary multihash."""
    return b"/ipns/" + name.to_bytes()
