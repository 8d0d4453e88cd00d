"""The standalone stream of one HTTP session: what the server (or toolgate itself) sends that
answers no particular request, waiting for the client's GET stream.

Each message gets an event id of the gateway's own (`<n>`), and the last few are kept, so a
client that reconnects with `Last-Event-ID` is replayed what it missed — whatever the upstream
is, since the gateway keeps the history itself.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator

import anyio

log = logging.getLogger("toolgate.http")

BACKLOG = 1000  # undelivered messages kept while no stream is attached
REPLAY = 256  # delivered messages kept for resumption


class Outbox:
    """An `Endpoint`-shaped sink (`send`) feeding at most one reader at a time (`stream`)."""

    def __init__(self) -> None:
        self._pending: deque[tuple[int, bytes]] = deque(maxlen=BACKLOG)
        self._delivered: deque[tuple[int, bytes]] = deque(maxlen=REPLAY)
        self._next = 1
        self._wake = anyio.Event()
        self._closed = False
        self.attached = False

    async def send(self, data: bytes) -> None:
        if self._closed:
            return
        if len(self._pending) == self._pending.maxlen:
            log.warning("a session's standalone stream is not read; dropping its oldest message")
        self._pending.append((self._next, data))
        self._next += 1
        self._wake.set()

    async def receive(self) -> bytes:  # pragma: no cover - the Endpoint shape; never read so
        return b""

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    async def stream(self, last_event_id: str | None = None) -> AsyncIterator[tuple[str, bytes]]:
        """(event id, message) pairs: first a replay of what followed `last_event_id`, then new
        messages as they come, until the outbox closes. The reader must set `attached`."""
        if last_event_id is not None and last_event_id.isascii() and last_event_id.isdigit():
            after = int(last_event_id)
            for number, data in list(self._delivered):
                if number > after:
                    yield str(number), data
        while True:
            while self._pending:
                number, data = self._pending.popleft()
                self._delivered.append((number, data))
                yield str(number), data
            if self._closed:
                return
            self._wake = anyio.Event()
            await self._wake.wait()
