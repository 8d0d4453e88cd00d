"""toolgate's own stdin and stdout as byte streams that never block the event loop."""

from __future__ import annotations

import os
import stat
import sys

import anyio

CHUNK = 1 << 16


def _pollable(fd: int) -> bool:
    """Pipes, sockets and terminals can be waited on; regular files and /dev/null cannot."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(fd))


class FdReader:
    """Reads a file descriptor: readiness-based when pollable, else in a worker thread."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pollable = _pollable(fd)

    async def receive(self) -> bytes:
        if self._pollable:
            await anyio.wait_readable(self._fd)
            try:
                return os.read(self._fd, CHUNK)
            except BlockingIOError:  # a spurious wake-up
                return await self.receive()
        return await anyio.to_thread.run_sync(os.read, self._fd, CHUNK)


class FdWriter:
    """Writes whole messages to a file descriptor, one message at a time."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = anyio.Lock(fast_acquire=True)
        self._pollable = _pollable(fd) and not os.isatty(fd)
        if self._pollable:
            os.set_blocking(fd, False)

    async def send(self, data: bytes) -> None:
        """Write one message followed by a newline."""
        async with self._lock:
            view = memoryview(data + b"\n")
            while view:
                try:
                    written = os.write(self._fd, view)
                except BlockingIOError:
                    await anyio.wait_writable(self._fd)
                    continue
                view = view[written:]


def own_stdin() -> FdReader:
    return FdReader(sys.stdin.fileno())


def own_stdout() -> FdWriter:
    return FdWriter(sys.stdout.fileno())
