"""Byte streams over pipe file descriptors, built for a relay's hot path.

Reading uses the event loop's pipe transport, so the descriptor stays registered with the poller
(no re-registration per read) and every chunk the kernel has is delivered in one callback.
Writing goes straight to a non-blocking descriptor with one `os.write`, and waits for the poller
only when the pipe is full. Descriptors the poller cannot watch (regular files, /dev/null) are
read in a worker thread instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections import deque
from typing import cast

import anyio

CHUNK = 1 << 16
HIGH_WATER = 4 << 20  # pause reading while this much is buffered and unread


def pollable(fd: int) -> bool:
    """Pipes, sockets and terminals can be waited on; regular files and /dev/null cannot."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(fd))


class _Inbox(asyncio.Protocol):
    """Collects what the pipe transport delivers; wakes the one waiting reader."""

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.ReadTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's pipe transports implement ReadTransport without subclassing it
        self.transport = cast(asyncio.ReadTransport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class PipeReader:
    """Reads a file descriptor as a stream of chunks; b"" means end of stream."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._inbox: _Inbox | None = None
        self._threaded = not pollable(fd)

    async def receive(self) -> bytes:
        if self._threaded:
            return await anyio.to_thread.run_sync(os.read, self._fd, CHUNK)
        inbox = self._inbox or await self._connect()
        while not inbox.chunks:
            if inbox.closed:
                return b""
            inbox.waiter = asyncio.get_running_loop().create_future()
            await inbox.waiter
        data = inbox.chunks.popleft() if len(inbox.chunks) == 1 else b"".join(inbox.chunks)
        inbox.chunks.clear()
        inbox.buffered = 0
        if inbox.transport is not None and not inbox.closed:
            inbox.transport.resume_reading()
        return data

    async def _connect(self) -> _Inbox:
        inbox = _Inbox()
        pipe = os.fdopen(os.dup(self._fd), "rb", buffering=0)
        await asyncio.get_running_loop().connect_read_pipe(lambda: inbox, pipe)
        self._inbox = inbox
        return inbox

    def close(self) -> None:
        if self._inbox is not None and self._inbox.transport is not None:
            self._inbox.transport.close()


class PipeWriter:
    """Writes whole messages (each followed by a newline) to a file descriptor, in order."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = anyio.Lock(fast_acquire=True)
        self._waits = pollable(fd) and not os.isatty(fd)
        if self._waits:
            os.set_blocking(fd, False)

    async def send(self, data: bytes) -> None:
        data += b"\n"
        if not self._lock.locked():  # the common case: one write, no await, no lock
            written = self._try_write(data)
            if written == len(data):
                return
            data = data[written:]
        async with self._lock:  # uncontended here, so taking it does not yield
            view = memoryview(data)
            while view:
                written = self._try_write(view)
                if not written:
                    await anyio.wait_writable(self._fd)
                view = view[written:]

    def _try_write(self, data: bytes | memoryview) -> int:
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
