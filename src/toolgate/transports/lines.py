"""Splitting a byte stream into newline-delimited lines, with a hard bound on line length.

A line longer than the bound is never buffered whole: its bytes are discarded up to the next
newline and reported once as `Oversized` (with its first bytes, to recover an id for the error
answer), so one bad message cannot exhaust memory and the stream stays usable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

HEAD = 256


@dataclass(frozen=True, slots=True)
class Oversized:
    """A line that exceeded the bound; `size` counts the bytes seen (more than the bound)."""

    size: int
    prefix: bytes  # the first bytes of the line


class LineSplitter:
    """Feeds on chunks, returns complete lines (blank ones dropped) and `Oversized` markers."""

    def __init__(self, max_line: int) -> None:
        self._max = max_line
        self._buffer = bytearray()
        self._skipped = 0  # > 0 while discarding the rest of an oversized line
        self._head = b""

    def feed(self, chunk: bytes) -> list[bytes | Oversized]:
        out: list[bytes | Oversized] = []
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            self._take(chunk, start, newline)
            out.append(self._end_line())
            start = newline + 1
        self._take(chunk, start, len(chunk))
        return [line for line in out if isinstance(line, Oversized) or line.strip()]

    def finish(self) -> list[bytes | Oversized]:
        """The final unterminated line, if any."""
        if self._skipped or self._buffer.strip():
            return [self._end_line()]
        return []

    def _take(self, chunk: bytes, start: int, end: int) -> None:
        if self._skipped:
            self._skipped += end - start
        elif len(self._buffer) + end - start > self._max:
            self._head = bytes((self._buffer + chunk[start : min(end, start + HEAD)])[:HEAD])
            self._skipped = len(self._buffer) + end - start
            self._buffer.clear()
        else:
            self._buffer += chunk[start:end]

    def _end_line(self) -> bytes | Oversized:
        if self._skipped:
            marker = Oversized(self._skipped, self._head)
            self._skipped, self._head = 0, b""
            return marker
        line = bytes(self._buffer)
        self._buffer.clear()
        return line


async def iter_lines(
    receive: Callable[[], Awaitable[bytes]], max_line: int
) -> AsyncIterator[bytes | Oversized]:
    """Yield each non-blank line (without its terminator) or `Oversized` for a line over
    `max_line` bytes. `receive` returns b"" at end of stream; a final unterminated line counts."""
    splitter = LineSplitter(max_line)
    while chunk := await receive():
        for line in splitter.feed(chunk):
            yield line
    for line in splitter.finish():
        yield line
