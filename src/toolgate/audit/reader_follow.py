"""Following the active decision log as it grows (`audit tail -f`), across rotations."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from toolgate.audit.reader import Garbage, Record, parse_line


def follow(
    path: Path, offset: int, lines_before: int, wait: Callable[[], bool]
) -> Iterator[Record | Garbage]:
    """Yield the lines appended to `path` after byte `offset` (which ends line `lines_before`).
    Between polls it calls `wait()`, and stops when that returns False. When the file is
    replaced (rotated) or shrinks, it continues from the start of the new file."""
    inode: int | None = None
    while True:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            stat = None
        if stat is not None:
            if inode is not None and (stat.st_ino != inode or stat.st_size < offset):
                offset, lines_before = 0, 0
            inode = stat.st_ino
            chunk = _read_from(path, offset, stat.st_size)
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a partial last line waits
            offset += len(complete)
            for raw in complete.split(b"\n")[:-1]:
                lines_before += 1
                if raw.strip():
                    yield parse_line(path, lines_before, raw)
        if not wait():
            return


def _read_from(path: Path, offset: int, size: int) -> bytes:
    if size <= offset:
        return b""
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(size - offset)
