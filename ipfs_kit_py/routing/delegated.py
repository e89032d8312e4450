"""The Delegated Routing V1 HTTP API (specs.ipfs.tech/routing/http-routing-v1) as
plain functions: no sockets, no framework.

What the HTTP glue needs to answer like boxo's server (the one Kubo serves):
content negotiation (:func:`negotiate`), the IPIP-484 filters
(:func:`parse_filter`, :func:`apply_filters`), peer IDs in either of their text
forms (:func:`parse_peer_id`), ``peer`` schema records (:func:`peer_record`) and
the response headers (:func:`response_headers`): ``Cache-Control`` with a short
``max-age`` for "nothing found" and a longer one for results, ``Vary: Accept``,
``Last-Modified``, and CORS open to every origin (the API is public, like the
gateway; it changes nothing).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable
from typing import Any

import multiaddr

from ..content.cid import CID, b58decode, b58encode, decode_varint
from ..errors import InvalidArgument

JSON = "application/json"
NDJSON = "application/x-ndjson"

# boxo's defaults (routing/http/server): JSON answers carry at most 20 records;
# streams are not capped by the server, the DHT lookup bounds them.
JSON_RECORDS_LIMIT = 20
STREAM_RECORDS_LIMIT = 100  # providers asked of the DHT for one streamed answer

MAX_AGE_WITH_RESULTS = 300  # seconds (5 min): results are worth caching
MAX_AGE_WITHOUT_RESULTS = 15  # seconds: "nothing yet" may change soon
MAX_STALE = 48 * 3600  # seconds: the provider record expiry window of the DHT

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Accept",
}

TRANSPORT_BITSWAP = "transport-bitswap"
LIBP2P_KEY = 0x72  # the libp2p-key multicodec of a peer ID written as a CID
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_PEER_MULTIHASHES = (0x00, 0x12)  # identity (Ed25519 keys inlined), sha2-256 (RSA and others)


# -- content negotiation -------------------------------------------------------------------
def negotiate(accept: Iterable[str]) -> str:
    """The media type to answer with, from the request's ``Accept`` header values.

    NDJSON only when asked for (the spec forbids streaming otherwise); JSON for no
    header, ``application/json`` or ``*/*``. Quality values are ignored, as boxo does:
    a client that lists NDJSON at all can read it. Nothing acceptable: ValueError."""
    values = [v for v in accept if v.strip()]
    if not values:
        return JSON
    ndjson = json_ok = False
    for header in values:
        for part in header.split(","):
            media = part.split(";", 1)[0].strip().lower()
            if media == NDJSON:
                ndjson = True
            elif media in (JSON, "*/*", "application/*"):
                json_ok = True
    if ndjson:
        return NDJSON
    if json_ok:
        return JSON
    raise ValueError(f"no supported content type in Accept: {', '.join(values)!r} (use {JSON} or {NDJSON})")


# -- peer IDs ---------------------------------------------------------------------------------
def _b36decode(s: str) -> bytes:
    n = 0
    for ch in s.lower():
        i = _B36.find(ch)
        if i < 0:
            raise ValueError(f"invalid base36 character {ch!r}")
        n = n * 36 + i
    zeros = len(s) - len(s.lstrip("0"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * zeros + body


def _check_peer_multihash(mh: bytes) -> bytes:
    code, p = decode_varint(mh, 0)
    length, p = decode_varint(mh, p)
    if code not in _PEER_MULTIHASHES or len(mh) - p != length or length == 0:
        raise ValueError("not a peer ID multihash")
    return mh


def parse_peer_id(text: str) -> str:
    """A peer ID in base58btc (``12D3Koo…``, ``Qm…``) or as a CIDv1 (``k51…`` base36,
    ``b…`` base32) -> its base58btc form. Bad input: InvalidArgument."""
    s = text.strip()
    try:
        if s[:1] in ("1", "Q"):
            return b58encode(_check_peer_multihash(b58decode(s)))
        if s[:1] in ("k", "K"):
            cid = CID.from_bytes(_b36decode(s[1:]))
        else:
            cid = CID.decode(s)
        if cid.version != 1:
            raise ValueError("a peer ID CID must be CIDv1")
        return b58encode(_check_peer_multihash(cid.multihash))
    except (ValueError, IndexError) as e:
        raise InvalidArgument(f"invalid peer ID {text!r}: {e}") from None


# -- records and filters (IPIP-484) ------------------------------------------------------------
def strip_p2p(addr: str) -> str:
    """``/ip4/…/tcp/…/p2p/<id>`` -> ``/ip4/…/tcp/…``: a record names the peer once, in ``ID``."""
    head, sep, _tail = addr.rpartition("/p2p/")
    return head if sep and head else addr


def peer_record(peer_id: str, addrs: Iterable[str], protocols: Iterable[str] | None = None) -> dict[str, Any]:
    """A ``peer`` schema record; ``Protocols`` only when known (absent means unknown)."""
    rec: dict[str, Any] = {"Schema": "peer", "ID": peer_id, "Addrs": list(dict.fromkeys(strip_p2p(a) for a in addrs))}
    protos = list(protocols or [])
    if protos:
        rec["Protocols"] = protos
    return rec


def parse_filter(value: str | None) -> list[str]:
    """``?filter-addrs=tcp,!ip6`` -> ``["tcp", "!ip6"]`` (lower case; empty: no filter)."""
    if not value:
        return []
    return [f.strip().lower() for f in value.split(",") if f.strip()]


def _addr_protocols(addr: str) -> set[str]:
    try:
        return {p.name.lower() for p in multiaddr.Multiaddr(addr).protocols()}
    except Exception:  # noqa: BLE001 - an address we cannot parse matches no positive filter
        return set()


def filter_addrs(addrs: list[str], filters: list[str]) -> list[str]:
    """Keep the addresses that contain none of the ``!name`` filters and, if there are
    positive filters, at least one of them."""
    if not filters:
        return addrs
    filters = [f.lower() for f in filters]
    positive = {f for f in filters if not f.startswith("!")}
    negative = {f[1:] for f in filters if f.startswith("!")}
    out = []
    for a in addrs:
        names = _addr_protocols(a)
        if names & negative:
            continue
        if not positive or names & positive:
            out.append(a)
    return out


def protocols_allowed(protocols: list[str], filters: list[str]) -> bool:
    if not filters:
        return True
    if "unknown" in filters and not protocols:
        return True
    have = {p.lower() for p in protocols}
    return any(f in have for f in filters)


def apply_filters(record: dict[str, Any], addr_filters: list[str], protocol_filters: list[str]) -> dict[str, Any] | None:
    """The record as it should be sent, or None when the filters drop it.

    ``filter-protocols`` keeps or drops a record whole; ``filter-addrs`` trims its
    ``Addrs`` and drops it when none are left (a record without addresses passes
    when ``unknown`` is among the address filters)."""
    if not addr_filters and not protocol_filters:
        return record
    addr_filters = [f.lower() for f in addr_filters]
    protocol_filters = [f.lower() for f in protocol_filters]
    if not protocols_allowed(list(record.get("Protocols") or []), protocol_filters):
        return None
    addrs = list(record.get("Addrs") or [])
    if not addr_filters or (not addrs and "unknown" in addr_filters):
        return record
    kept = filter_addrs(addrs, addr_filters)
    if not kept:
        return None
    return {**record, "Addrs": kept}


# -- response headers ----------------------------------------------------------------------------
def cache_control(has_results: bool) -> str:
    age = MAX_AGE_WITH_RESULTS if has_results else MAX_AGE_WITHOUT_RESULTS
    return f"public, max-age={age}, stale-while-revalidate={MAX_STALE}, stale-if-error={MAX_STALE}"


def http_date(ts: float | None = None) -> str:
    return email.utils.formatdate(time.time() if ts is None else ts, usegmt=True)


def response_headers(media_type: str, has_results: bool, now: float | None = None) -> dict[str, str]:
    """Headers of a JSON answer, or of a stream whose first record (or end) decided ``has_results``."""
    return {
        "Content-Type": media_type,
        "Vary": "Accept",
        "Cache-Control": cache_control(has_results),
        "Last-Modified": http_date(now),
        **CORS_HEADERS,
    }
