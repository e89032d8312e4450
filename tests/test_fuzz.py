"""Property-based fuzzing of every parser that reads bytes from the network.

Two properties everywhere:
- hostile input only ever raises the parser's documented error type (InvalidCID,
  CorruptBlock, InvalidCAR, MalformedMultipart, ProtocolError, SignalingError,
  FramingError), never IndexError, KeyError, TypeError, UnicodeError, RecursionError...;
- what an encoder writes, the parser reads back unchanged, however the bytes are split.

The budget is bounded and the runs are reproducible (derandomized, no example
database): a CI run tries the same inputs every time. IPFS_KIT_FUZZ_EXAMPLES=2000
hunts locally: more examples, new random ones on every run. Inputs that once broke
a parser are kept as ``@example`` regressions.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ipfs_kit_py.content import car, dagpb
from ipfs_kit_py.content.cid import (
    CID,
    DAG_CBOR,
    DAG_PB,
    IDENTITY,
    LIBP2P_KEY,
    RAW,
    b32decode,
    b32encode,
    b58decode,
    b58encode,
    decode_varint,
    encode_varint,
)
from ipfs_kit_py.errors import CorruptBlock, InvalidCAR, InvalidCID, IPFSKitError
from ipfs_kit_py.mcp import multipart, ws_protocol
from ipfs_kit_py.p2p import framing
from ipfs_kit_py.webrtc.manager import SignalingError, StreamOptions
from ipfs_kit_py.webrtc.signaling import error_reply, parse_message

EXAMPLES = int(os.environ.get("IPFS_KIT_FUZZ_EXAMPLES", "100"))
HUNTING = "IPFS_KIT_FUZZ_EXAMPLES" in os.environ  # a local hunt: new random inputs on every run
fuzz = settings(
    max_examples=EXAMPLES,
    derandomize=not HUNTING,  # the same inputs on every run: a CI failure reproduces
    database=None,  # nothing written to .hypothesis/ (a hunt prints the failing input to keep as @example)
    deadline=None,  # a loaded 2-core CI machine must not turn slowness into failures
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# the heavier properties (whole CARs, multipart bodies) get a fraction of the budget
fuzz_small = settings(fuzz, max_examples=max(20, EXAMPLES // 3))

# -- shared strategies ----------------------------------------------------------------------------------
varints = st.integers(0, (1 << 63) - 1)
digests = st.binary(min_size=32, max_size=32)
# hand-built hostile JSON: deep nesting and numbers past Python's int-string limit
# (json.loads raises RecursionError or a bare ValueError for these, not JSONDecodeError)
deep_json = st.integers(900, 120_000).map(lambda n: "[" * n + "]" * n)
huge_number = st.integers(300, 6000).map(lambda n: "9" * n)  # >308 digits: float() overflows
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def cids(draw: st.DrawFn) -> CID:
    """CIDv0, or CIDv1 with a known or arbitrary codec and a sha2-256, identity or other multihash."""
    if draw(st.booleans()):
        return CID.from_digest(draw(digests), DAG_PB, version=0)
    codec = draw(st.sampled_from([DAG_PB, RAW, DAG_CBOR, LIBP2P_KEY]) | varints)
    kind = draw(st.sampled_from(["sha2-256", "identity", "other"]))
    if kind == "sha2-256":
        return CID(1, codec, b"\x12\x20" + draw(digests))
    digest = draw(st.binary(max_size=64))
    code = IDENTITY if kind == "identity" else draw(varints)
    return CID(1, codec, encode_varint(code) + encode_varint(len(digest)) + digest)


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (operation, position, byte) edits: replace, insert or delete one byte."""
    buf = bytearray(data)
    for op, pos, byte in edits:
        i = pos % (len(buf) + 1)
        if op == 0 and i < len(buf):
            buf[i] = byte
        elif op == 1:
            buf.insert(i, byte)
        elif i < len(buf):
            del buf[i]
    return bytes(buf)


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=6)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (each taken modulo its length)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


cuts = st.lists(st.integers(0, 1 << 20), max_size=12)


# == CIDs and multibase =================================================================================
@fuzz
@given(cids())
def test_cid_roundtrips_through_every_form(cid: CID) -> None:
    assert CID.decode(str(cid)) == cid
    assert CID.from_bytes(bytes(cid)) == cid
    assert CID.read(b"\xff" + bytes(cid) + b"tail", 1) == (cid, 1 + len(bytes(cid)))
    if cid.version == 1:
        raw = bytes(cid)
        assert CID.decode("z" + b58encode(raw)) == cid
        assert CID.decode("f" + raw.hex()) == cid
        assert CID.decode("B" + b32encode(raw).upper()) == cid
    assert CID.decode(bytes(cid)) == cid
    assert cid.to_v1().multihash == cid.multihash


@fuzz
@given(st.text(max_size=80) | st.text(alphabet="bBzfQm0123456789abcdefABCDEFxyz=", max_size=80))
@example("b")
@example("Qm" + "1" * 44)
@example("\udcff")
def test_cid_text_raises_only_invalid_cid(text: str) -> None:
    try:
        cid = CID.decode(text)
    except InvalidCID:
        return
    # whatever parses must print and hash-check without crashing
    str(cid), cid.codec_name, cid.digest
    try:
        cid.verify(b"")
    except InvalidCID:
        pass


@fuzz
@given(cids(), edits)
def test_mutated_cid_text_raises_only_invalid_cid(cid: CID, e: list[tuple[int, int, int]]) -> None:
    text = mutate(str(cid).encode(), e).decode("latin-1")
    try:
        assert str(CID.decode(text))
    except InvalidCID:
        pass


@fuzz
@given(st.binary(max_size=80) | cids().map(bytes), edits, st.integers(0, 4))
def test_binary_cid_raises_only_invalid_cid(raw: bytes, e: list[tuple[int, int, int]], pos: int) -> None:
    raw = mutate(raw, e)
    for parse in (lambda: CID.from_bytes(raw), lambda: CID.read(raw, pos), lambda: CID.decode(raw)):
        try:
            parse()
        except InvalidCID:
            pass


@fuzz
@given(st.binary(max_size=64))
def test_multibase_codecs_roundtrip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data
    assert b32decode(b32encode(data)) == data


@fuzz
@given(varints, st.binary(max_size=12))
def test_varints_roundtrip_and_reject_garbage_with_value_error(n: int, junk: bytes) -> None:
    assert decode_varint(encode_varint(n) + junk) == (n, len(encode_varint(n)))
    try:
        decode_varint(junk)
    except ValueError:
        pass


# == dag-pb and UnixFS ==================================================================================
links = st.builds(dagpb.PBLink, cid=cids(), name=st.text(max_size=24), tsize=varints)
nodes = st.builds(dagpb.PBNode, data=st.none() | st.binary(max_size=64), links=st.lists(links, max_size=5))


def _field(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + encode_varint(len(value)) + value


@st.composite
def raw_dagpb(draw: st.DrawFn) -> bytes:
    """Canonical dag-pb (every link has Name and Tsize, links before Data) whose link names
    are any bytes, not only UTF-8, as another writer may produce."""
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        body = _field(0x0A, bytes(draw(cids()))) + _field(0x12, draw(st.binary(max_size=16)))
        out += _field(0x12, body + b"\x18" + encode_varint(draw(varints)))
    if draw(st.booleans()):
        out += _field(0x0A, draw(st.binary(max_size=32)))
    return out


@fuzz
@given(nodes)
def test_dagpb_node_roundtrip(node: dagpb.PBNode) -> None:
    block = dagpb.encode_node(node.links, node.data)
    assert dagpb.decode_node(block) == node
    again = dagpb.decode_node(block)
    assert dagpb.encode_node(again.links, again.data) == block


@fuzz
@given(raw_dagpb())
# a link name that is not UTF-8 was decoded with surrogateescape but re-encoded strictly
@example(_field(0x12, _field(0x0A, bytes(CID.hash(b"x"))) + _field(0x12, b"\xff") + b"\x18\x00"))
def test_dagpb_decoded_node_reencodes_to_the_same_bytes(block: bytes) -> None:
    node = dagpb.decode_node(block)
    assert dagpb.encode_node(node.links, node.data) == block


@fuzz
@given(st.binary(max_size=200) | nodes.map(lambda n: dagpb.encode_node(n.links, n.data)) | raw_dagpb(), edits)
def test_dagpb_garbage_raises_only_corrupt_block(block: bytes, e: list[tuple[int, int, int]]) -> None:
    block = mutate(block, e)
    try:
        node = dagpb.decode_node(block)
    except CorruptBlock:
        return
    try:
        dagpb.decode_unixfs(node.data)
    except CorruptBlock:
        pass


unixfs = st.builds(
    dagpb.UnixFSData,
    type=st.integers(0, 5),
    data=st.none() | st.binary(max_size=64),
    filesize=st.none() | varints,
    blocksizes=st.lists(varints, max_size=6),
    hash_type=st.none() | varints,
    fanout=st.none() | varints,
    mode=st.none() | st.integers(0, 0o7777),
)


@fuzz
@given(unixfs)
def test_unixfs_roundtrip(u: dagpb.UnixFSData) -> None:
    assert dagpb.decode_unixfs(dagpb.encode_unixfs(u)) == u


@fuzz
@given(st.binary(max_size=120) | unixfs.map(dagpb.encode_unixfs), edits)
def test_unixfs_garbage_raises_only_corrupt_block(data: bytes, e: list[tuple[int, int, int]]) -> None:
    try:
        u = dagpb.decode_unixfs(mutate(data, e))
    except CorruptBlock:
        return
    assert u.type in dagpb.TYPE_NAMES


@fuzz
@given(st.binary(max_size=300))
def test_file_leaf_fast_path_matches_full_decode(chunk: bytes) -> None:
    prefix, suffix = dagpb.file_leaf_parts(len(chunk))
    block = prefix + chunk + suffix
    expected = dagpb.encode_node([], dagpb.encode_unixfs(
        dagpb.UnixFSData(dagpb.FILE, data=chunk or None, filesize=len(chunk))))
    assert block == expected
    view = dagpb.file_leaf_view(block)
    assert view is not None and (bytes(view[0]), view[1]) == (chunk, len(chunk))


@fuzz
@given(st.binary(max_size=120) | st.binary(max_size=64).map(lambda c: b"".join(
    (dagpb.file_leaf_parts(len(c))[0], c, dagpb.file_leaf_parts(len(c))[1]))), edits)
def test_file_leaf_view_agrees_with_decode_or_declines(block: bytes, e: list[tuple[int, int, int]]) -> None:
    block = mutate(block, e)
    view = dagpb.file_leaf_view(block)  # never raises: None sends the caller to the full decoder
    if view is not None:
        u = dagpb.decode_unixfs(dagpb.decode_node(block).data)
        assert (u.type, u.data or b"", u.filesize) == (dagpb.FILE, bytes(view[0]), view[1])


# == CAR ================================================================================================
@st.composite
def car_blocks(draw: st.DrawFn) -> list[tuple[CID, bytes]]:
    out = []
    for data in draw(st.lists(st.binary(max_size=300), max_size=6)):
        if len(data) <= 32 and draw(st.booleans()):
            out.append((CID(1, RAW, b"\x00" + encode_varint(len(data)) + data), data))
        else:
            out.append((CID.hash(data, draw(st.sampled_from([RAW, DAG_PB]))), data))
    return out


def _cbor(major: int, n: int) -> bytes:
    return car._cbor_head(major, n)


cbor_items = st.recursive(
    st.one_of(
        varints.map(lambda n: _cbor(0, n)),
        st.binary(max_size=40).map(lambda b: _cbor(2, len(b)) + b),
        st.text(max_size=10).map(lambda t: _cbor(3, len(t.encode())) + t.encode()),
        st.sampled_from([b"\x20", b"\xf5", b"\xf6", b"\xfb" + b"\0" * 8, b"\x9f", b"\x7f\xff", b"\xd8\x2a\x41\x00",
                         b"\x7a\xff\xff\xff\xff", b"\x62\xff\xfe"]),
        cids().map(lambda c: b"\xd8\x2a" + _cbor(2, len(bytes(c)) + 1) + b"\x00" + bytes(c)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: _cbor(4, len(xs)) + b"".join(xs)),
        # map keys of any CBOR type, not just text: a list or map key is not hashable in Python
        st.lists(st.tuples(inner, inner), max_size=3).map(
            lambda kv: _cbor(5, len(kv)) + b"".join(k + v for k, v in kv)),
    ),
    max_leaves=10,
)


@fuzz
@given(st.lists(cids(), max_size=4, unique=True), car_blocks(), cuts)
def test_car_roundtrip_however_it_is_split(roots: list[CID], blocks: list[tuple[CID, bytes]], c: list[int]) -> None:
    data = b"".join(car.write_car(roots, blocks))
    parser = car.CarParser()
    got = [b for chunk in split(data, c) for b in parser.feed(chunk)]
    parser.close()
    assert parser.roots == roots and got == blocks
    assert car.decode_header(car.encode_header(roots)) == roots


@fuzz
@given(cbor_items)
@example(b"\xa1\x80\x00")  # {[]: 0}: the header's map had an unhashable key (TypeError)
@example(b"\xa1\xa0\x00")  # {{}: 0}
def test_car_header_raises_only_invalid_car(header: bytes) -> None:
    try:
        roots = car.decode_header(header)
    except InvalidCAR:
        return
    assert all(isinstance(r, CID) for r in roots)


@fuzz_small
@given(st.lists(cids(), max_size=3), car_blocks(), edits, cuts)
def test_car_garbage_raises_only_documented_errors(roots: list[CID], blocks: list[tuple[CID, bytes]],
                                                   e: list[tuple[int, int, int]], c: list[int]) -> None:
    data = mutate(b"".join(car.write_car(roots, blocks)), e)
    parser = car.CarParser()
    try:
        for chunk in split(data, c):
            for cid, block in parser.feed(chunk):
                assert cid.verify(block)
        parser.close()
    except IPFSKitError:  # InvalidCAR, or InvalidCID for a hash function the node does not know
        pass


@fuzz
@given(st.binary(max_size=200), cuts)
def test_car_random_bytes_raise_only_documented_errors(data: bytes, c: list[int]) -> None:
    parser = car.CarParser()
    try:
        for chunk in split(data, c):
            parser.feed(chunk)
        parser.close()
    except IPFSKitError:
        pass


# == multipart ==========================================================================================
BCHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?"
boundaries = st.text(BCHARS, min_size=1, max_size=70).filter(lambda b: not b.endswith(" "))
part_types = st.sampled_from(["application/octet-stream", multipart.DIRECTORY_TYPE, multipart.SYMLINK_TYPE,
                              "text/plain; charset=utf-8"])


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[str, list[tuple[str, str, bytes]], bytes]:
    """(boundary, [(filename, content type, data)], body) as Kubo's clients write it; data may
    hold pieces of the boundary, CRLFs and dashes to tempt the parser."""
    boundary = draw(boundaries)
    tricky = st.sampled_from([b"\r\n", b"--", b"\r\n--", ("\r\n--" + boundary[:-1]).encode(), boundary.encode(),
                              b"\r", b"\n", b"-"])
    parts = []
    body = b""
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.text(max_size=20))
        ctype = draw(part_types)
        data = b"".join(draw(st.lists(st.binary(max_size=40) | tricky, max_size=6)))
        if ctype == multipart.DIRECTORY_TYPE:
            data = b""
        parts.append((name, ctype.split(";")[0], data))
        quoted = quote(name, safe="")  # Kubo URL-encodes the path
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quoted}\"\r\n"
                 f"Content-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode() + draw(st.binary(max_size=20))  # epilogue: ignored
    return boundary, parts, body


def _collect(stream: multipart.MultipartStream, chunks: list[bytes]) -> list[tuple[str, str, bytes]]:
    parts: list[tuple[str, str, bytes]] = []
    for chunk in chunks:
        for ev in stream.feed(chunk):
            if ev.kind == "begin":
                parts.append((ev.part.filename, ev.part.content_type, b""))
            elif ev.kind == "data":
                name, ctype, data = parts[-1]
                parts[-1] = (name, ctype, data + ev.data)
    stream.close()
    return parts


@fuzz_small
@given(multipart_bodies(), cuts)
def test_multipart_roundtrip_however_it_is_split(case: tuple[str, list[tuple[str, str, bytes]], bytes],
                                                 c: list[int]) -> None:
    boundary, parts, body = case
    assert multipart.boundary_of(f"multipart/form-data; boundary={boundary}") == boundary
    assert multipart.boundary_of(f'multipart/form-data; boundary="{boundary}"') == boundary
    assert _collect(multipart.MultipartStream(boundary), split(body, c)) == parts


@fuzz_small
@given(multipart_bodies(), edits, cuts)
def test_multipart_garbage_raises_only_malformed_multipart(case: tuple[str, list[tuple[str, str, bytes]], bytes],
                                                           e: list[tuple[int, int, int]], c: list[int]) -> None:
    boundary, _, body = case
    try:
        for name, ctype, _data in _collect(multipart.MultipartStream(boundary), split(mutate(body, e), c)):
            assert isinstance(name, str) and isinstance(ctype, str)
    except multipart.MalformedMultipart:
        pass


@fuzz
@given(st.binary(max_size=300), boundaries, cuts)
def test_multipart_random_bytes_raise_only_malformed_multipart(body: bytes, boundary: str, c: list[int]) -> None:
    try:
        _collect(multipart.MultipartStream(boundary), split(body, c))
    except multipart.MalformedMultipart:
        pass


@fuzz
# a Content-Type header as the server sees it (HTTP headers are latin-1)
@given(st.text(st.characters(max_codepoint=255), max_size=80)
       | st.tuples(st.sampled_from(["multipart/form-data", "multipart/mixed", "text/plain", ""]),
                   st.text(st.characters(max_codepoint=255), max_size=40)).map(lambda t: f"{t[0]}; boundary={t[1]}"))
def test_multipart_content_type_raises_only_malformed_multipart(content_type: str) -> None:
    try:
        boundary = multipart.boundary_of(content_type)
    except multipart.MalformedMultipart:
        return
    try:
        multipart.MultipartStream(boundary).feed(b"--" + boundary.encode("latin-1") + b"--\r\n")
    except multipart.MalformedMultipart:
        pass


@fuzz
@given(st.text(max_size=120))
def test_multipart_header_params_never_raise(value: str) -> None:
    params = multipart.parse_header_params(value)
    part = multipart.Part({"content-disposition": value, "content-type": value})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    assert isinstance(part.filename, str) and isinstance(part.content_type, str)


# == WebSocket hub messages =============================================================================
ws_messages = st.one_of(
    st.text(max_size=60),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"action": st.sampled_from(["subscribe", "unsubscribe", "get_history", "ping", ""]) | json_values},
        optional={
            "id": json_values,
            "notification_types": st.sampled_from(ws_protocol.EVENT_TYPES + ("all", "nope")) | json_values
            | st.lists(st.sampled_from(ws_protocol.EVENT_TYPES + ("all", "nope")), max_size=3),
            "filters": json_values,
            "since": json_values,
            "limit": json_values,
            "extra": json_values,
        },
    ).map(json.dumps),
    deep_json,
    huge_number.map(lambda n: '{"action":"ping","id":' + n + "}"),
)


@fuzz
@given(ws_messages)
@example('{"action":"ping","id":' + "9" * 5000 + "}")  # int past Python's digit limit: a bare ValueError
@example("[" * 100_000 + "]" * 100_000)
@example('{"action":"ping","id":"\\ud800"}')  # lone surrogate echoed back: the reply was not UTF-8 encodable
def test_ws_messages_raise_only_protocol_error_and_replies_encode(text: str) -> None:
    try:
        req = ws_protocol.parse_request(text)
        parsed: Any = None
        if req.action == "subscribe":
            parsed = ws_protocol.parse_subscribe(req)
            reply = ws_protocol.subscription_confirmed(req, parsed, 0)
        elif req.action == "unsubscribe":
            ws_protocol.parse_unsubscribe(req)
            reply = ws_protocol.unsubscribe_confirmed(req, None, False)
        elif req.action == "get_history":
            parsed = ws_protocol.parse_history(req)
            reply = ws_protocol.history(req, [], 0, 0)
        else:
            reply = ws_protocol.result(req, req.params)
    except ws_protocol.ProtocolError as e:
        reply = ws_protocol.protocol_error(e)
    # the text the hub sends: must be valid UTF-8 and JSON that decodes to the reply
    wire = ws_protocol.encode(reply)
    assert json.loads(wire.encode("utf-8")) == json.loads(json.dumps(reply))


# == WebRTC signaling messages ==========================================================================
signaling_messages = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.text(max_size=60),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["offer_request", "offer", "answer", "candidate", "close", "stats_request",
                                  "quality_change", "ping", "bogus"]) | json_values},
        optional={
            "id": json_values, "pc_id": json_values, "cid": json_values, "sdp": json_values,
            "tracks": st.lists(st.sampled_from(["video", "audio", "x"]), max_size=3) | json_values,
            "codec": st.sampled_from(["h264", "vp8", "VP8", "av1"]) | json_values,
            "quality": st.sampled_from(["auto", "high", "low", "nope"]) | json_values,
            "start": json_values | st.sampled_from([float("inf"), -1, "1.5", "nan", "1e999"]),
            "loop": json_values, "datachannel": json_values,
        },
    ).map(json.dumps),
    deep_json,
    st.tuples(st.sampled_from(["offer_request", "offer", "ping"]), st.sampled_from(["start", "id", "pc_id"]),
              huge_number).map(lambda t: f'{{"type":"{t[0]}","{t[1]}":{t[2]}}}'),
)


@fuzz
@given(signaling_messages)
@example("[" * 100_000 + "]" * 100_000)  # RecursionError escaped as an internal_error with a traceback
@example('{"type":"offer_request","start":' + "9" * 400 + "}")  # float(int) overflow in StreamOptions
def test_signaling_messages_raise_only_signaling_errors(text: Any) -> None:
    msg = None
    try:
        msg = parse_message(text)
        if msg.get("type") in ("offer_request", "offer"):
            StreamOptions.parse(msg)
        return
    except IPFSKitError as e:  # SignalingError for the frame, InvalidArgument for the options
        reply = error_reply(e, msg)
    assert reply["code"] != "internal_error"
    json.loads(ws_protocol.encode(reply).encode("utf-8"))


def test_signaling_error_is_an_ipfs_kit_error() -> None:
    assert issubclass(SignalingError, IPFSKitError)


# == libp2p framing =====================================================================================
json_controls = st.dictionaries(st.text(max_size=8), json_values, max_size=4).flatmap(
    lambda d: st.text(max_size=10).map(lambda t: {**d, "type": t}))


@fuzz
@given(st.lists(st.binary(max_size=600), max_size=6), cuts)
def test_frames_roundtrip_however_they_are_split(payloads: list[bytes], c: list[int]) -> None:
    data = b"".join(framing.encode_frame(p) for p in payloads)
    decoder = framing.FrameDecoder(max_size=600)
    assert [f for chunk in split(data, c) for f in decoder.feed(chunk)] == payloads
    assert decoder.pending == 0


@fuzz
@given(json_controls, cids(), st.binary(max_size=200))
def test_frame_messages_roundtrip(msg: dict[str, Any], cid: CID, data: bytes) -> None:
    (payload,) = framing.FrameDecoder().feed(framing.encode_json(msg))
    assert framing.decode_payload(payload) == msg
    (payload,) = framing.FrameDecoder().feed(framing.encode_block(cid, data))
    assert framing.decode_payload(payload) == framing.Block(cid, data)


@fuzz
@given(st.binary(max_size=300), st.integers(0, 1000), cuts)
def test_frame_decoder_raises_only_framing_error(data: bytes, max_size: int, c: list[int]) -> None:
    decoder = framing.FrameDecoder(max_size=max_size)
    try:
        for chunk in split(data, c):
            for payload in decoder.feed(chunk):
                assert len(payload) <= max_size
    except framing.FramingError:
        pass


@fuzz
@given(st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=80).map(lambda b: b"\x00" + b),
    ws_messages.map(lambda t: b"\x00" + t.encode("utf-8", "surrogatepass")),
    cids().map(lambda c: b"\x01" + bytes(c)[:-1]),
))
@example(b"\x00" + b'{"type":"x","n":' + b"9" * 5000 + b"}")  # bare ValueError from the int-digit limit
@example(b"\x00" + b"[" * 100_000)  # RecursionError
def test_frame_payloads_raise_only_framing_error(payload: bytes) -> None:
    try:
        msg = framing.decode_payload(payload)
    except framing.FramingError:
        return
    assert isinstance(msg, framing.Block) or isinstance(msg.get("type"), str)
