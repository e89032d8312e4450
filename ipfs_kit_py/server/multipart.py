"""Streaming multipart/form-data, as Kubo's clients upload files (add, block/put, dag/import).

``MultipartStream`` is push-style and does no I/O: ``feed()`` the request body
as it arrives and it returns the events it completed (a part began with its
headers, a piece of part data, a part ended). Data is handed on as it comes,
so memory holds at most one network chunk whatever the upload size.
``close()`` raises if the body ended before the closing boundary.

Kubo's conventions for file parts (go-ipfs-files ``MultiFileReader``):
``Content-Disposition: form-data; name="file"; filename="<URL-encoded path>"``,
``Content-Type: application/octet-stream`` for files, ``application/x-directory``
for directories (no body), ``application/symlink`` for symlinks (body = target).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from ..errors import MalformedMultipart

DIRECTORY_TYPE = "application/x-directory"
SYMLINK_TYPE = "application/symlink"
MAX_HEADER_BYTES = 16 << 10  # all headers of one part; a path is at most a few KiB


@dataclass(slots=True)
class Part:
    """Headers of one part (names lower-cased)."""

    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()

    @property
    def disposition(self) -> dict[str, str]:
        return parse_header_params(self.headers.get("content-disposition", ""))

    @property
    def filename(self) -> str:
        """The part's path, URL-decoded as Kubo does (``abspath`` is not used); ""
        when the part has no filename (the field name is not a path)."""
        return unquote(self.disposition.get("filename", ""))

    @property
    def is_directory(self) -> bool:
        return self.content_type == DIRECTORY_TYPE

    @property
    def is_symlink(self) -> bool:
        return self.content_type == SYMLINK_TYPE


@dataclass(slots=True)
class Event:
    kind: str  # "begin" (part has its headers), "data", "end"
    part: Part
    data: bytes = b""


def boundary_of(content_type: str | None) -> str:
    """The boundary parameter of a ``multipart/form-data`` Content-Type."""
    if not content_type:
        raise MalformedMultipart("expected a multipart/form-data body (no Content-Type)")
    kind, _, _ = content_type.partition(";")
    if kind.strip().lower() not in ("multipart/form-data", "multipart/mixed"):
        raise MalformedMultipart(f"expected a multipart/form-data body, got {kind.strip()!r}")
    boundary = parse_header_params(content_type).get("boundary")
    if not boundary:
        raise MalformedMultipart("multipart Content-Type has no boundary")
    return boundary


def parse_header_params(value: str) -> dict[str, str]:
    """``form-data; name="file"; filename="a%2Fb"`` -> {"name": "file", "filename": "a%2Fb"}.

    Quoted values may contain ``;`` and backslash escapes."""
    params: dict[str, str] = {}
    i, n = value.find(";"), len(value)
    if i < 0:
        return params
    i += 1
    while i < n:
        while i < n and value[i] in " \t;":
            i += 1
        eq = value.find("=", i)
        if eq < 0:
            break
        key = value[i:eq].strip().lower()
        i = eq + 1
        if i < n and value[i] == '"':
            i += 1
            out = []
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                out.append(value[i])
                i += 1
            i += 1
            params[key] = "".join(out)
        else:
            end = value.find(";", i)
            end = n if end < 0 else end
            params[key] = value[i:end].strip()
            i = end
    return params


class MultipartStream:
    """Push parser: bytes in, ``Event``s out."""

    def __init__(self, boundary: str) -> None:
        self._events: list[Event] = []
        self._part: Part | None = None
        self._field = bytearray()
        self._value = bytearray()
        self._header_bytes = 0
        self.ended = False
        self.parts = 0
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        })

    # python-multipart callbacks
    def _on_part_begin(self) -> None:
        self._part = Part()
        self._header_bytes = 0

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]
        self._count(end - start)

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._count(end - start)

    def _count(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_HEADER_BYTES:
            raise MalformedMultipart(f"part headers exceed {MAX_HEADER_BYTES} bytes")

    def _on_header_end(self) -> None:
        assert self._part is not None
        name = self._field.decode("latin-1").strip().lower()
        self._part.headers[name] = self._value.decode("utf-8", "replace").strip()
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        assert self._part is not None
        self.parts += 1
        self._events.append(Event("begin", self._part))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start and self._part is not None:
            self._events.append(Event("data", self._part, bytes(data[start:end])))

    def _on_part_end(self) -> None:
        if self._part is not None:
            self._events.append(Event("end", self._part))
            self._part = None

    def _on_end(self) -> None:
        self.ended = True

    # public API
    def feed(self, chunk: bytes) -> list[Event]:
        if self.ended:
            return []  # the epilogue after the closing boundary is ignored
        try:
            self._parser.write(chunk)
        except MultipartParseError as e:
            raise MalformedMultipart(f"malformed multipart body: {e}") from None
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        if not self.ended:
            raise MalformedMultipart("truncated multipart body: the closing boundary never came")


async def iter_events(body: AsyncIterable[bytes], content_type: str | None) -> AsyncIterator[Event]:
    """The events of a multipart body read from ``body`` (e.g. ``request.stream()``)."""
    stream = MultipartStream(boundary_of(content_type))
    async for chunk in body:
        for ev in stream.feed(chunk):
            yield ev
    stream.close()


async def part_data(events: AsyncIterator[Event]) -> AsyncIterator[bytes]:
    """The data of the current part, pulled from a shared event iterator up to its end."""
    async for ev in events:
        if ev.kind == "data":
            yield ev.data
        elif ev.kind == "end":
            return
        else:
            raise MalformedMultipart("a part began before the previous one ended")
    raise MalformedMultipart("truncated multipart body: a part never ended")
