"""An in-memory endpoint pair, for driving the relay in tests without processes or pipes."""

from __future__ import annotations

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream


class MemoryEndpoint:
    """One end of a pair: `send` delivers a message (plus newline) to the peer's `receive`."""

    def __init__(
        self, outgoing: MemoryObjectSendStream[bytes], incoming: MemoryObjectReceiveStream[bytes]
    ) -> None:
        self._out, self._in = outgoing, incoming

    async def receive(self) -> bytes:
        try:
            return await self._in.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return b""

    async def send(self, data: bytes) -> None:
        await self._out.send(data + b"\n")

    async def send_raw(self, data: bytes) -> None:
        """Deliver bytes exactly as given (no newline added): for feeding partial or bad lines."""
        await self._out.send(data)

    async def close(self) -> None:
        """End this side's output; the peer's `receive` then returns b"" (end of stream)."""
        await self._out.aclose()

    async def aclose(self) -> None:
        await self._out.aclose()
        await self._in.aclose()


def memory_pair(buffer: int = 1024) -> tuple[MemoryEndpoint, MemoryEndpoint]:
    a_out, b_in = anyio.create_memory_object_stream[bytes](buffer)
    b_out, a_in = anyio.create_memory_object_stream[bytes](buffer)
    return MemoryEndpoint(a_out, a_in), MemoryEndpoint(b_out, b_in)
