"""A minimal HTTP/1.1 keep-alive client connection on asyncio (uvloop) for the throughput runs.

httpx's async client spent 1.2-2.2 ms of CPU per request here, several times what the stub
spends answering it; on a 2-core machine where the client, the gateway and the stub share the
cores, that would measure the client. This one writes pre-built requests and parses only the
status line, the headers it needs and a Content-Length or chunked body (the fastmcp proxy
answers with a chunked event stream). One request at a time per connection, as HTTP/1.1 allows.
"""

from __future__ import annotations

import asyncio
from typing import cast
from urllib.parse import urlsplit

CRLF2 = b"\r\n\r\n"


class WireError(Exception):
    """The connection broke or the answer was not HTTP/1.1 as expected."""


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def _parse(buffer: bytearray) -> tuple[Response, int] | None:
    """A complete response at the start of `buffer` and its length, or None if more is needed."""
    end = buffer.find(CRLF2)
    if end < 0:
        return None
    head = bytes(buffer[:end]).split(b"\r\n")
    try:
        status = int(head[0].split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise WireError(f"not an HTTP status line: {head[0][:80]!r}") from None
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    start = end + 4
    length = headers.get(b"content-length")
    if length is not None:
        stop = start + int(length)
        return (
            (Response(status, headers, bytes(buffer[start:stop])), stop)
            if len(buffer) >= stop
            else None
        )
    if headers.get(b"transfer-encoding", b"").lower() != b"chunked":
        return Response(status, headers, b""), start  # 202/204/405 without a body
    body = bytearray()
    pos = start
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buffer[pos:line_end]).split(b";")[0], 16)
        chunk_start = line_end + 2
        if size == 0:
            if len(buffer) < chunk_start + 2:
                return None
            return Response(status, headers, bytes(body)), chunk_start + 2
        if len(buffer) < chunk_start + size + 2:
            return None
        body += buffer[chunk_start : chunk_start + size]
        pos = chunk_start + size + 2


class Connection(asyncio.Protocol):
    """One keep-alive connection; `request` sends one request and awaits its response."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (a cast, not an isinstance check: uvloop's transports do not subclass asyncio's)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            parsed = _parse(self.buffer)
        except (WireError, ValueError) as exc:
            self.waiter.set_exception(WireError(str(exc)))
            return
        if parsed is not None:
            response, used = parsed
            del self.buffer[:used]
            self.waiter.set_result(response)

    @property
    def closed(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(WireError(f"connection closed: {exc}"))

    async def request(self, data: bytes) -> Response:
        if self.transport is None or self.transport.is_closing():
            raise WireError("the connection is closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Endpoint:
    """Where to connect and how to frame a request for one URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = (parts.path or "/").encode()
        self.host_header = f"{self.host}:{self.port}".encode()

    async def connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(Connection, self.host, self.port)
        return protocol

    def frame(self, method: bytes, headers: dict[str, str], body: bytes = b"") -> bytes:
        lines = [method + b" " + self.path + b" HTTP/1.1", b"Host: " + self.host_header]
        lines += [f"{k}: {v}".encode() for k, v in headers.items()]
        lines.append(b"Content-Length: " + str(len(body)).encode())
        return b"\r\n".join(lines) + CRLF2 + body
