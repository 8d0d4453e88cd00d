"""Server-Sent Events framing: an incremental parser and an encoder, both on bytes.

The parser follows the WHATWG event-stream rules (lines end in CRLF, LF or CR; `:` starts a
comment; one optional space after the colon is dropped; a blank line ends an event) and keeps
each event's data as the exact bytes the server sent, so a JSON-RPC message relayed through it
is byte-for-byte what the upstream wrote. Unlike a browser it also reports events whose data is
empty (the priming events of Streamable HTTP carry only an `id`), because a resuming client
needs their ids.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

DEFAULT_MAX_EVENT_BYTES = 16 << 20  # one event's fields; bigger means a broken or hostile server

_EOL = re.compile(rb"\r\n|\r|\n")


class SseError(ValueError):
    """The byte stream is not a usable event stream (an event over the size limit)."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event. `id` and `retry` are None when this event did not set them."""

    data: bytes
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SseParser:
    """Feed it chunks as they arrive; each call returns the events those chunks completed.

    An event still open when the stream ends is dropped, as the standard says."""

    __slots__ = (
        "_data",
        "_event",
        "_fields",
        "_id",
        "_max",
        "_partial",
        "_retry",
        "_size",
        "_skip_lf",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes
        self._partial: list[bytes] = []  # pieces of a line not yet terminated
        self._size = 0  # bytes held for the event being built (partial line included)
        self._skip_lf = False  # the last chunk ended in CR: a leading LF completes that CRLF
        self._reset()

    def _reset(self) -> None:
        self._data: list[bytes] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._fields = False
        self._size = sum(len(p) for p in self._partial)

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        events: list[SseEvent] = []
        pos = 0
        if b"\r" not in chunk:  # the usual LF-only stream: plain find() is the fastest scan
            end = chunk.find(b"\n")
            while end >= 0:
                self._line(chunk[pos:end], events)
                pos = end + 1
                end = chunk.find(b"\n", pos)
        else:
            for match in _EOL.finditer(chunk):
                self._line(chunk[pos : match.start()], events)
                pos = match.end()
            if chunk.endswith(b"\r"):
                self._skip_lf = True
        if pos < len(chunk):
            rest = chunk[pos:]
            self._partial.append(rest)
            self._grow(len(rest))
        return events

    def _grow(self, n: int) -> None:
        self._size += n
        if self._size > self._max:
            raise SseError(f"an event is larger than {self._max} bytes")

    def _line(self, line: bytes, events: list[SseEvent]) -> None:
        self._grow(len(line))
        if self._partial:
            self._partial.append(line)
            line = b"".join(self._partial)
            self._partial.clear()
        if not line:
            if self._fields:
                events.append(
                    SseEvent(
                        b"\n".join(self._data), self._event or "message", self._id, self._retry
                    )
                )
            self._reset()
            return
        if line[0] == 0x3A:  # ":" comment (keep-alive)
            self._size -= len(line)
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        self._field(name, value)

    def _field(self, name: bytes, value: bytes) -> None:
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" in value:
                return
            self._id = value.decode("utf-8", "replace")
        elif name == b"retry":
            if not value.isdigit():
                return
            self._retry = int(value)
        else:
            return  # unknown fields are ignored
        self._fields = True


def encode_event(data: bytes, event_id: str | None = None, event: str | None = "message") -> bytes:
    """One event: `event:` and `id:` lines (when given), then the data, split into one `data:`
    line per line of it, then the blank line that dispatches it."""
    for label, text in (("event", event), ("id", event_id)):
        if text is not None and ("\n" in text or "\r" in text):
            raise ValueError(f"an SSE {label} cannot contain a line break: {text!r}")
    head = b""
    if event:
        head += b"event: " + event.encode() + b"\n"
    if event_id is not None:
        head += b"id: " + event_id.encode() + b"\n"
    if b"\n" not in data and b"\r" not in data:
        return head + b"data: " + data + b"\n\n"
    lines = _EOL.split(data)
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


async def aiter_events(
    chunks: AsyncIterable[bytes], max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> AsyncIterator[SseEvent]:
    """The events of a byte stream, as they complete."""
    parser = SseParser(max_event_bytes)
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
