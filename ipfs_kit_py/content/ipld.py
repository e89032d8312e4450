"""The IPLD data model and its codecs, as Kubo's go-ipld-prime writes them: dag-cbor,
dag-json, dag-pb and raw (``dag/put``, ``dag/get``), and paths through them.

Values are plain Python: ``None``, ``bool``, ``int``, ``float``, ``str``,
``bytes``, ``list``, ``dict`` (string keys) and :class:`~ipfs_kit_py.content.cid.CID`
for links. Encodings are the canonical ones, so CIDs equal Kubo's:

- dag-cbor: map keys sorted by length, then bytewise; integers in their shortest
  form; floats always 64-bit; links as tag 42 over ``0x00 + CID bytes``; only
  definite lengths.
- dag-json: compact, keys sorted bytewise, links ``{"/": "<cid>"}``, bytes
  ``{"/": {"bytes": "<base64, no padding>"}}``, floats as ECMAScript prints
  them (``2.0`` is ``2``), strings escaped as Go's refmt does.
- dag-pb: ``{"Data": bytes, "Links": [{"Hash", "Name", "Tsize"}]}``.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from ..errors import InvalidArgument, NotFound, PathError
from . import hamt
from .blockstore import ReadableStore
from .cid import CID, DAG_CBOR, DAG_PB, RAW, encode_varint
from .dagpb import HAMT_SHARD, decode_node, decode_unixfs

DAG_JSON = 0x0129
CODECS = {"dag-pb": DAG_PB, "raw": RAW, "dag-cbor": DAG_CBOR, "dag-json": DAG_JSON}
CODEC_OF = {v: k for k, v in CODECS.items()}
MAX_DEPTH = 512  # nesting a decoder follows before it refuses (no recursion bombs)


class CodecError(InvalidArgument):
    """Bytes that are not valid in the codec, or a value the codec cannot hold."""


# -- dag-cbor -------------------------------------------------------------------------------------
def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes((major << 5 | n,))
    if n < 1 << 8:
        return bytes((major << 5 | 24, n))
    if n < 1 << 16:
        return bytes((major << 5 | 25,)) + n.to_bytes(2, "big")
    if n < 1 << 32:
        return bytes((major << 5 | 26,)) + n.to_bytes(4, "big")
    if n < 1 << 64:
        return bytes((major << 5 | 27,)) + n.to_bytes(8, "big")
    raise CodecError(f"integer {n} does not fit in 64 bits")


def _cbor_key(k: str) -> tuple[int, bytes]:
    b = k.encode("utf-8")
    return len(b), b


def encode_cbor(value: Any) -> bytes:
    out = bytearray()
    _enc_cbor(value, out, 0)
    return bytes(out)


def _enc_cbor(v: Any, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    if v is None:
        out += b"\xf6"
    elif v is True:
        out += b"\xf5"
    elif v is False:
        out += b"\xf4"
    elif isinstance(v, int):
        out += _head(0, v) if v >= 0 else _head(1, -1 - v)
    elif isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise CodecError("dag-cbor has no NaN or infinities")
        out += b"\xfb" + struct.pack(">d", v)
    elif isinstance(v, str):
        b = v.encode("utf-8", "surrogatepass")
        out += _head(3, len(b)) + b
    elif isinstance(v, bytes | bytearray | memoryview):
        b = bytes(v)
        out += _head(2, len(b)) + b
    elif isinstance(v, CID):
        raw = b"\x00" + bytes(v)
        out += b"\xd8\x2a" + _head(2, len(raw)) + raw
    elif isinstance(v, list | tuple):
        out += _head(4, len(v))
        for x in v:
            _enc_cbor(x, out, depth + 1)
    elif isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):
            raise CodecError("map keys must be strings")
        out += _head(5, len(v))
        for k in sorted(v, key=_cbor_key):
            _enc_cbor(k, out, depth + 1)
            _enc_cbor(v[k], out, depth + 1)
    else:
        raise CodecError(f"cannot encode {type(v).__name__} in dag-cbor")


def decode_cbor(data: bytes) -> Any:
    try:
        value, pos = _dec_cbor(memoryview(data), 0, 0)
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as e:
        raise CodecError(f"invalid dag-cbor: {e}") from None
    if pos != len(data):
        raise CodecError("invalid dag-cbor: trailing bytes after the value")
    return value


def _arg(buf: memoryview, pos: int, info: int) -> tuple[int, int]:
    if info < 24:
        return info, pos
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None:
        raise ValueError("indefinite lengths and reserved values are not dag-cbor")
    if pos + size > len(buf):
        raise ValueError("truncated")
    return int.from_bytes(buf[pos:pos + size], "big"), pos + size


def _dec_cbor(buf: memoryview, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    first = buf[pos]
    pos += 1
    major, info = first >> 5, first & 31
    if major == 7:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info == 22:
            return None, pos
        if info == 25:
            return struct.unpack(">e", buf[pos:pos + 2])[0], pos + 2
        if info == 26:
            return struct.unpack(">f", buf[pos:pos + 4])[0], pos + 4
        if info == 27:
            return struct.unpack(">d", buf[pos:pos + 8])[0], pos + 8
        raise ValueError(f"simple value {info} is not dag-cbor")
    n, pos = _arg(buf, pos, info)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major in (2, 3):
        if pos + n > len(buf):
            raise ValueError("truncated string")
        raw = bytes(buf[pos:pos + n])
        return (raw if major == 2 else raw.decode("utf-8")), pos + n
    if major == 4:
        if n > len(buf) - pos:
            raise ValueError("list longer than the data")
        items = []
        for _ in range(n):
            item, pos = _dec_cbor(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        if n > len(buf) - pos:
            raise ValueError("map longer than the data")
        out: dict[str, Any] = {}
        for _ in range(n):
            k, pos = _dec_cbor(buf, pos, depth + 1)
            if not isinstance(k, str):
                raise ValueError("map keys must be strings")
            if k in out:
                raise ValueError(f"duplicate map key {k!r}")
            out[k], pos = _dec_cbor(buf, pos, depth + 1)
        return out, pos
    if major == 6:
        if n != 42:
            raise ValueError(f"tag {n} is not dag-cbor (only 42, links)")
        raw, pos = _dec_cbor(buf, pos, depth + 1)
        if not isinstance(raw, bytes) or not raw.startswith(b"\x00"):
            raise ValueError("a link is bytes starting with 0x00")
        return CID.from_bytes(raw[1:]), pos
    raise ValueError(f"major type {major}")


# -- dag-json ------------------------------------------------------------------------------------
def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii").rstrip("=")


def _json_string(s: str, out: list[str]) -> None:
    parts = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            parts.append('\\"')
        elif ch == "\\":
            parts.append("\\\\")
        elif ch == "\n":
            parts.append("\\n")
        elif ch == "\r":
            parts.append("\\r")
        elif ch == "\t":
            parts.append("\\t")
        elif o < 0x20:
            parts.append(f"\\u00{o:02x}")
        elif ch in "\u2028\u2029":
            parts.append(f"\\u{o:04x}")
        elif 0xD800 <= o < 0xE000:  # a lone surrogate: Go writes the replacement character
            parts.append("\\ufffd")
        else:
            parts.append(ch)
    parts.append('"')
    out.append("".join(parts))


def json_float(f: float) -> str:
    """A float as Go's refmt (ECMAScript's Number#toString) prints it."""
    if math.isnan(f) or math.isinf(f):
        raise CodecError("dag-json has no NaN or infinities")
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        text = repr(f)  # shortest digits, exponent form
        mant, _, exp = text.partition("e")
        sign = exp[0] if exp[:1] in "+-" else "+"
        return f"{mant}e{sign}{int(exp.lstrip('+-'))}"
    return format(Decimal(repr(f)).normalize(), "f")


def encode_json(value: Any) -> bytes:
    out: list[str] = []
    _enc_json(value, out, 0)
    return "".join(out).encode("utf-8", "surrogatepass")


def _enc_json(v: Any, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(json_float(v))
    elif isinstance(v, str):
        _json_string(v, out)
    elif isinstance(v, bytes | bytearray | memoryview):
        out.append('{"/":{"bytes":"' + _b64(bytes(v)) + '"}}')
    elif isinstance(v, CID):
        out.append('{"/":"' + str(v) + '"}')
    elif isinstance(v, list | tuple):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _enc_json(x, out, depth + 1)
        out.append("]")
    elif isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):
            raise CodecError("map keys must be strings")
        out.append("{")
        for i, k in enumerate(sorted(v, key=lambda k: k.encode("utf-8", "surrogatepass"))):
            if i:
                out.append(",")
            _json_string(k, out)
            out.append(":")
            _enc_json(v[k], out, depth + 1)
        out.append("}")
    else:
        raise CodecError(f"cannot encode {type(v).__name__} in dag-json")


def decode_json(data: bytes) -> Any:
    try:
        obj = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise CodecError(f"invalid dag-json: {e}") from None
    return _from_json(obj, 0)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _from_json(v: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    if isinstance(v, list):
        return [_from_json(x, depth + 1) for x in v]
    if isinstance(v, dict):
        if set(v) == {"/"}:
            inner = v["/"]
            if isinstance(inner, str):
                try:
                    return CID.decode(inner)
                except InvalidArgument as e:
                    raise CodecError(f"invalid link {inner!r}: {e}") from None
            if isinstance(inner, dict) and set(inner) == {"bytes"} and isinstance(inner["bytes"], str):
                text = inner["bytes"]
                try:
                    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
                except ValueError:
                    raise CodecError(f"invalid bytes {text!r}: not base64") from None
        return {k: _from_json(x, depth + 1) for k, x in v.items()}
    return v


# -- dag-pb --------------------------------------------------------------------------------------
def pb_to_value(data: bytes) -> dict[str, Any]:
    node = decode_node(data)
    out: dict[str, Any] = {}
    if node.data is not None:
        out["Data"] = node.data
    out["Links"] = [{"Hash": lk.cid, "Name": lk.name, "Tsize": lk.tsize} for lk in node.links]
    return out


def value_to_pb(v: Any) -> bytes:
    """The dag-pb block of a value shaped as ``{"Data"?, "Links"}`` (go-codec-dagpb's rules)."""
    if not isinstance(v, dict):
        raise CodecError("dag-pb needs a map with Data and Links")
    for k in v:
        if k not in ("Data", "Links"):
            raise CodecError(f'invalid key for map dagpb.PBNode: "{k}": no such field')
    links = v.get("Links")
    if not isinstance(links, list):
        raise CodecError("dag-pb needs a Links list")
    out = bytearray()
    for lk in links:
        if not isinstance(lk, dict) or not isinstance(lk.get("Hash"), CID):
            raise CodecError("a dag-pb link is a map with a Hash link")
        for k in lk:
            if k not in ("Hash", "Name", "Tsize"):
                raise CodecError(f'invalid key for map dagpb.PBLink: "{k}": no such field')
        body = bytearray(b"\x0a") + encode_varint(len(bytes(lk["Hash"]))) + bytes(lk["Hash"])
        if "Name" in lk:
            if not isinstance(lk["Name"], str):
                raise CodecError("a dag-pb link's Name is a string")
            name = lk["Name"].encode("utf-8")
            body += b"\x12" + encode_varint(len(name)) + name
        if "Tsize" in lk:
            if not isinstance(lk["Tsize"], int) or isinstance(lk["Tsize"], bool) or lk["Tsize"] < 0:
                raise CodecError("a dag-pb link's Tsize is a non-negative integer")
            body += b"\x18" + encode_varint(lk["Tsize"])
        out += b"\x12" + encode_varint(len(body)) + body
    if "Data" in v:
        if not isinstance(v["Data"], bytes):
            raise CodecError("dag-pb Data is bytes")
        out += b"\x0a" + encode_varint(len(v["Data"])) + v["Data"]
    return bytes(out)


# -- codecs by name --------------------------------------------------------------------------------
def decode(codec: str | int, data: bytes) -> Any:
    """The data-model value of ``data`` in ``codec``."""
    name = codec if isinstance(codec, str) else CODEC_OF.get(codec, hex(codec))
    if name == "dag-cbor":
        return decode_cbor(data)
    if name == "dag-json":
        return decode_json(data)
    if name == "dag-pb":
        try:
            return pb_to_value(data)
        except Exception as e:  # noqa: BLE001 - decode_node reports corruption several ways
            raise CodecError(f"invalid dag-pb: {e}") from None
    if name == "raw":
        return bytes(data)
    raise CodecError(f"unsupported codec {name!r}: dag-cbor, dag-json, dag-pb or raw")


def encode(codec: str | int, value: Any) -> bytes:
    name = codec if isinstance(codec, str) else CODEC_OF.get(codec, hex(codec))
    if name == "dag-cbor":
        return encode_cbor(value)
    if name == "dag-json":
        return encode_json(value)
    if name == "dag-pb":
        return value_to_pb(value)
    if name == "raw":
        if not isinstance(value, bytes):
            raise CodecError("the raw codec holds bytes only")
        return value
    raise CodecError(f"unsupported codec {name!r}: dag-cbor, dag-json, dag-pb or raw")


def links_of(value: Any) -> Iterator[CID]:
    """Every link in a value, in document order (maps in their sorted order)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, CID):
            yield v
        elif isinstance(v, list):
            stack.extend(reversed(v))
        elif isinstance(v, dict):
            stack.extend(v[k] for k in reversed(sorted(v, key=_cbor_key)))


def block_links(cid: CID, data: bytes) -> list[CID]:
    """The links of a dag-cbor or dag-json block."""
    return list(links_of(decode(cid.codec, data)))


# -- paths ---------------------------------------------------------------------------------------
def _step(value: Any, seg: str) -> Any:
    if isinstance(value, dict):
        if seg not in value:
            raise NotFound(f'key not found: "{seg}"')
        return value[seg]
    if isinstance(value, list):
        if not seg.isdigit() or int(seg) >= len(value):
            raise NotFound(f'key not found: "{seg}"')
        return value[int(seg)]
    raise PathError(f'cannot traverse "{seg}" into a {kind(value)}')


def kind(value: Any) -> str:
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "string"), (bytes, "bytes"),
                    (list, "list"), (dict, "map"), (CID, "link")):
        if isinstance(value, t):
            return name
    return "null"


def resolve(store: ReadableStore, root: CID, segments: list[str]) -> tuple[CID, list[str]]:
    """Kubo's path resolution: follow ``segments`` from ``root`` (UnixFS names through
    dag-pb nodes, keys and indexes through dag-cbor/dag-json, links wherever they are
    reached). Returns the last block's CID and the segments left inside it."""
    cid, i = root, 0
    while i < len(segments):
        if cid.codec == DAG_PB:
            name = segments[i]
            node = decode_node(store.get(cid))
            found = None
            if node.data is not None:
                try:
                    type_ = decode_unixfs(node.data).type
                except Exception:  # noqa: BLE001 - not UnixFS: plain link names
                    type_ = -1
                if type_ == HAMT_SHARD:
                    found = hamt.lookup(store, cid, name)
            if found is None:
                found = next((lk for lk in node.links if lk.name == name), None)
            if found is None:
                raise NotFound(f'no link named "{name}" under {cid}')
            cid, i = found.cid, i + 1
            continue
        if cid.codec == RAW:
            raise PathError(f"{cid} is a raw block: no path inside it")
        value = decode(cid.codec, store.get(cid))
        start = i
        while i < len(segments) and not isinstance(value, CID):
            value = _step(value, segments[i])
            i += 1
        if isinstance(value, CID):
            cid = value
            continue
        return cid, segments[start:]
    return cid, []


def split(path: str) -> tuple[CID, list[str]]:
    """``/ipfs/CID/a/b`` or ``CID/a/b`` into (CID, [a, b])."""
    p = path.strip()
    if p.startswith("/ipns/"):
        raise PathError("IPNS paths: resolve the name first (name/resolve)")
    p = p.removeprefix("/ipfs/").lstrip("/")
    parts = [x for x in p.split("/") if x]
    if not parts:
        raise PathError(f"invalid path {path!r}")
    return CID.decode(parts[0]), parts[1:]


def value_at(store: ReadableStore, cid: CID, rest: list[str]) -> Any:
    """The value ``rest`` names inside the block ``cid``."""
    value = decode(cid.codec, store.get(cid))
    for seg in rest:
        value = _step(value, seg)
    return value

