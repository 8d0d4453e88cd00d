"""Splitting a byte stream into newline-delimited lines, with a hard bound on line length.

A line longer than the bound is never buffered whole: its bytes are discarded up to the next
newline and reported once as `Oversized`, so one bad message cannot exhaust memory and the
stream stays usable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Oversized:
    """A line that exceeded the bound; `size` counts the bytes seen (at least the bound)."""

    size: int
    prefix: bytes  # the first bytes of the line, to recover an id for the error answer


async def iter_lines(
    receive: Callable[[], Awaitable[bytes]], max_line: int
) -> AsyncIterator[bytes | Oversized]:
    """Yield each non-blank line (without its terminator) or `Oversized` for a line over
    `max_line` bytes. `receive` returns b"" at end of stream; a final unterminated line counts."""
    buffer = bytearray()
    skipping = 0  # > 0 while discarding the rest of an oversized line
    prefix = b""
    while True:
        chunk = await receive()
        if not chunk:
            break
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            if newline < 0:
                break
            if skipping:
                yield Oversized(skipping + newline - start, prefix)
                skipping = 0
            elif len(buffer) + newline - start > max_line:
                head = bytes((buffer + chunk[start : min(newline, start + 256)])[:256])
                yield Oversized(len(buffer) + newline - start, head)
                buffer.clear()
            elif buffer:
                buffer += chunk[start:newline]
                line = bytes(buffer)
                buffer.clear()
                if line.strip():
                    yield line
            else:
                line = chunk[start:newline]
                if line.strip():
                    yield line
            start = newline + 1
        rest = len(chunk) - start
        if skipping:
            skipping += rest
        elif len(buffer) + rest > max_line:
            prefix = bytes((buffer + chunk[start : start + 256])[:256])
            skipping = len(buffer) + rest
            buffer.clear()
        else:
            buffer += chunk[start:]
    if skipping:
        yield Oversized(skipping, prefix)
    elif buffer.strip():
        yield bytes(buffer)
