"""Length-prefixed framing and mcp request parsing (pure functions, no sockets)."""

from __future__ import annotations

import pytest

from ipfs_kit_py import registry
from ipfs_kit_py.access import authorize, peer_caller
from ipfs_kit_py.content.cid import CID, RAW, encode_varint
from ipfs_kit_py.errors import InvalidArgument, Unauthorized
from ipfs_kit_py.p2p.framing import (
    Block,
    FrameDecoder,
    FrameTooLarge,
    FramingError,
    decode_payload,
    encode_block,
    encode_json,
)
from ipfs_kit_py.p2p.mcp_protocol import complete_json, parse_request


def test_roundtrip_byte_by_byte() -> None:
    data = b"block bytes" * 100
    cid = CID.hash(data, RAW)
    wire = encode_json({"type": "fetch", "cid": str(cid)}) + encode_block(cid, data) + encode_json({"type": "end"})
    dec = FrameDecoder(1 << 20)
    payloads = []
    for i in range(len(wire)):
        payloads += dec.feed(wire[i:i + 1])
    msgs = [decode_payload(p) for p in payloads]
    assert msgs[0] == {"type": "fetch", "cid": str(cid)}
    assert msgs[1] == Block(cid, data) and msgs[1].cid.verify(msgs[1].data)
    assert msgs[2] == {"type": "end"} and dec.pending == 0


def test_oversized_and_malformed_frames() -> None:
    with pytest.raises(FrameTooLarge):
        FrameDecoder(1000).feed(encode_varint(1001))
    with pytest.raises(FrameTooLarge):  # a malicious size is refused before any body arrives
        FrameDecoder(4 << 20).feed(encode_varint(1 << 62))
    with pytest.raises(FramingError):
        FrameDecoder().feed(b"\xff" * 10)  # varint that never ends
    for bad in [b"", b"\x07junk", b"\x00not json", b"\x00[1,2]", b'\x00{"no":"type"}', b"\x01\x99\x99"]:
        with pytest.raises(FramingError):
            decode_payload(bad)
    assert FrameDecoder().feed(encode_varint(10) + b"part") == []  # incomplete: wait for more


def test_mcp_request_forms() -> None:
    assert parse_request(b'{"action":"get_content","cid":"Qm1"}') == ("get_content", {"cid": "Qm1"}, None)
    assert parse_request(b'{"action":"cat","params":{"cid":"Qm1"},"id":3}') == ("cat", {"cid": "Qm1"}, 3)
    for bad in [b"nope", b"[]", b'{"cid":"x"}', b'{"action":"cat","params":[]}',
                b'{"action":"cat","params":{},"cid":"x"}']:
        with pytest.raises(InvalidArgument):
            parse_request(bad)
    assert complete_json(b'{"a": 1}') and not complete_json(b'{"a": ')
    # libp2p callers: any peer reads; only allowlisted peers write (the registry's scopes decide)
    def allowed(action: str, peer: str, allowlist: set[str]) -> None:
        authorize(peer_caller(peer, allowlist), registry.get(action).scope, action)

    allowed("get_content", "peerA", set())
    allowed("pin_add", "peerA", {"peerA"})
    with pytest.raises(Unauthorized):
        allowed("pin_add", "peerB", {"peerA"})


def test_bitswap_message_roundtrip() -> None:
    from ipfs_kit_py.p2p.bitswap import Message, WantEntry, decode_message, encode_message
    from ipfs_kit_py.p2p.serving import DONT_HAVE, WANT_HAVE

    leaf = b"leaf bytes"
    raw = CID.hash(leaf, RAW)
    v0 = CID(0, 0x70, b"\x12\x20" + bytes(32))
    msg = Message(wants=[WantEntry(raw, 5, want_type=WANT_HAVE, send_dont_have=True), WantEntry(v0, cancel=True)],
                  blocks=[(raw, leaf)], presences=[(v0, DONT_HAVE)])
    back = decode_message(encode_message(msg))
    assert back.wants == msg.wants and back.presences == msg.presences
    assert back.blocks == [(raw, leaf)]  # the CID is recomputed from the bytes and the prefix
    tampered = decode_message(encode_message(Message(blocks=[(raw, b"other bytes")])))
    assert tampered.blocks[0][0] != raw  # a block never claims a CID its bytes do not hash to
    with pytest.raises(FramingError):
        decode_message(b"\x0a\xff\xff\xff")
