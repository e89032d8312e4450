"""Media operations: end-to-end encrypted ingest (``docs/sframe.md``)."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Any

from ..access import Scope
from ..errors import InvalidArgument
from ..operation import Context, Kubo, KuboArgs, Operation, param


@dataclass(frozen=True, slots=True)
class EncryptMediaParams:
    cid: str | None = param(None, kubo="arg", doc="a stored H.264 MP4 to encrypt (or content)")
    content: bytes | None = param(None, doc="the MP4's bytes (base64 in JSON; not over HTTP: use cid)")
    name: str = param("", doc="file name of the package")
    pin: bool = param(True)
    kid: int = param(0, kubo="key-id", doc="SFrame key id", minimum=0)


@dataclass(frozen=True, slots=True)
class EncryptedMedia:
    cid: str  # the package: ordinary content, its own CID
    name: str
    size: int
    key: str  # 32 hex digits: returned once, stored nowhere
    kid: int
    frames: int


async def add_encrypted_media(ctx: Context, p: EncryptMediaParams) -> EncryptedMedia:
    from ..webrtc.media import MediaFile
    from ..webrtc.sframe_package import add_encrypted

    src: MediaFile
    if p.content is not None and p.cid is None:
        src = io.BytesIO(p.content)
    elif p.cid is not None and p.content is None:
        src = await asyncio.to_thread(ctx.model.open, p.cid)
    else:
        raise InvalidArgument("give exactly one of 'content' (the MP4's bytes) and 'cid'")
    try:
        r = await add_encrypted(ctx.model, src, p.name, kid=p.kid, pin=p.pin)
    finally:
        src.close()
    return EncryptedMedia(str(r["cid"]), str(r["name"]), int(str(r["size"])), str(r["key"]), p.kid,
                          int(str(r["frames"])))


def _kubo_shape(r: EncryptedMedia, a: KuboArgs) -> dict[str, Any]:
    return {"Hash": r.cid, "Name": r.name, "Size": str(r.size), "Key": r.key, "KeyId": r.kid, "Frames": r.frames}


OPS: list[Operation[Any, Any]] = [
    Operation("add_encrypted_media", EncryptMediaParams, EncryptedMedia, Scope.WRITE,
              "Re-package an H.264 MP4 with every frame SFrame-encrypted; the key is in the answer only",
              add_encrypted_media, Kubo("ipfs-kit/media/encrypt", _kubo_shape, arg_doc="CID of an H.264 MP4")),
]
