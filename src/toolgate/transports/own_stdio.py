"""toolgate's own stdin and stdout: the client face of `toolgate run`."""

from __future__ import annotations

import sys

from toolgate.transports.pipes import PipeReader, PipeWriter


class OwnStdio:
    """The client endpoint: reads toolgate's stdin, writes toolgate's stdout."""

    def __init__(self) -> None:
        self._reader = PipeReader(sys.stdin.fileno())
        self._writer = PipeWriter(sys.stdout.fileno())

    async def receive(self) -> bytes:
        return await self._reader.receive()

    async def send(self, data: bytes) -> None:
        await self._writer.send(data)
