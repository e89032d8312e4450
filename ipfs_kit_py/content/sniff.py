"""Content type from the first bytes (and the name as a fallback), as gateways do."""

from __future__ import annotations

import mimetypes

_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"\x00asm", "application/wasm"),
    (0, b"<?xml", "application/xml"),
    (257, b"ustar", "application/x-tar"),
]


def sniff(head: bytes, name: str | None = None) -> str:
    """Best guess of the MIME type of content starting with ``head`` (first 512 bytes or more)."""
    for off, magic, mime in _MAGIC:
        if head[off : off + len(magic)] == magic:
            return mime
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand.startswith(b"qt"):
            return "video/quicktime"
        return "video/mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"
    if name:
        guess, _ = mimetypes.guess_type(name)
        if guess:
            return guess
    stripped = head.lstrip()[:64].lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "text/html"
    if stripped.startswith(b"<svg"):
        return "image/svg+xml"
    if not head:
        return "text/plain"
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # a multi-byte char cut at the end is still text
            return "application/octet-stream"
    return "text/plain; charset=utf-8"
