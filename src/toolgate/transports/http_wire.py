"""A lean HTTP/1.1 transport under httpx for the upstream leg: keep-alive connections per
origin, answers parsed by httptools (C), each request written in one `write`.

Why not httpcore: under load its pool looks at every connection and polls every idle socket on
each request, and its anyio stream wrappers and h11 add more; together about half of the
gateway's CPU per call went there. Here an idle connection waits in a per-origin LIFO list, a
connection the server closed is noticed by the event loop (no polling), and reading a response
is a callback per chunk. httpx stays on top, so headers, redirects, content decoding, cookies
and the error types the sessions map to messages are what they were.

Runs on asyncio (the gateway's loop, uvloop). Timeouts come from the request's `timeout`
extension as httpx sets it: connect, write (waiting for a full send buffer to drain) and read
(silence while waiting for the status line or the next body bytes). A response closed before
its end closes its connection; only a complete keep-alive answer returns it to the pool.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import cast

import httptools  # type: ignore[import-untyped]
import httpx

KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is reused for (httpx's default)
MAX_IDLE = 64  # idle connections kept per origin; more are closed
HIGH_WATER = 256 * 1024  # unread body bytes at which reading from the socket pauses
LOW_WATER = 64 * 1024  # … and resumes
DISCONNECTED = "Server disconnected without sending a response."
CUT_SHORT = "peer closed connection without sending complete message body"

Origin = tuple[str, str, int]  # scheme, host, port


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection to an origin, carrying one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._reading_paused = False
        self._writing_paused = False
        self.closed = False
        self.busy = False
        self.idle_since = 0.0
        self.error: Exception | None = None
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self._by_close = False  # the body ends when the connection does
        self._keep_alive = False  # the answer read to its end allows another exchange

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's do not subclass it

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # bytes nobody asked for: the connection cannot be trusted again
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP answer: {exc}"))
            self.close()
            return
        if self._buffered > HIGH_WATER and not self._reading_paused and self._transport:
            self._reading_paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy and not self.complete:
            if self.headers_done and self._by_close:
                self.complete = True
            else:
                self._fail(
                    httpx.RemoteProtocolError(CUT_SHORT if self.headers_done else DISCONNECTED)
                )
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._wake()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # --- httptools callbacks ------------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # informational: the real answer follows
            self.headers, self.reason = [], b""
            return
        self.status = status
        names = {name.lower() for name, _ in self.headers}
        self._by_close = b"content-length" not in names and b"transfer-encoding" not in names
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)

    def on_message_complete(self) -> None:
        if self.headers_done:
            self.complete = True
            self._keep_alive = bool(self._parser.should_keep_alive())  # reset after this call

    # --- one exchange -------------------------------------------------------------------------

    async def send(self, data: bytes, within: float | None) -> None:
        """Start an exchange: write the whole request, waiting (up to `within` s) only if the
        send buffer is full."""
        self.busy, self.complete, self.headers_done = True, False, False
        self.status, self.reason, self.headers, self.error = 0, b"", [], None
        self._keep_alive = False
        self._chunks.clear()
        self._buffered = 0
        if self.closed or self._transport is None:
            raise httpx.RemoteProtocolError(DISCONNECTED)
        self._transport.write(data)
        if self._writing_paused and not self.closed:
            self._drained = self._loop.create_future()
            try:
                async with asyncio.timeout(within):
                    await self._drained
            except TimeoutError:
                raise httpx.WriteTimeout(f"request not sent within {within} s") from None
            finally:
                self._drained = None

    async def answer(self, silence: float | None) -> None:
        """Wait for the status line and headers of the answer (a read timeout after `silence`
        seconds without bytes)."""
        while not self.headers_done:
            if self.error is not None:
                raise self.error
            await self._wait(silence)

    async def body(self, silence: float | None) -> AsyncIterator[bytes]:
        """The body, as the chunks that have arrived by each read."""
        while True:
            if self._chunks:
                chunk = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
                self._chunks.clear()
                self._buffered = 0
                if self._reading_paused and self._transport is not None and not self.closed:
                    self._reading_paused = False
                    self._transport.resume_reading()
                yield chunk
            elif self.complete:
                return
            elif self.error is not None:
                raise self.error
            else:
                await self._wait(silence)

    async def _wait(self, silence: float | None) -> None:
        waiter = self._loop.create_future()
        self._waiter = waiter
        timer = (
            self._loop.call_later(silence, _expire, waiter, silence)
            if silence is not None
            else None
        )
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error

    @property
    def reusable(self) -> bool:
        return (
            self.complete
            and self.error is None
            and not self.closed
            and not self._by_close
            and self._keep_alive
        )

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self.closed = True
            self._transport.close()


def _expire(waiter: asyncio.Future[None], silence: float) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout(f"no answer within {silence} s"))


class WireTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over keep-alive connections, for `httpx.AsyncClient(transport=...)`."""

    def __init__(
        self,
        *,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
        max_idle: int = MAX_IDLE,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`ssl_context`: how https origins are verified (default: httpx's, the certifi CA
        bundle with hostname checks)."""
        self._expiry = keepalive_expiry
        self._max_idle = max_idle
        self._idle: dict[Origin, list[_Connection]] = {}
        self._all: set[_Connection] = set()
        self._ssl: ssl.SSLContext | None = ssl_context
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.TransportError("the transport is closed")
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        origin = (
            url.scheme,
            url.raw_host.decode("ascii"),
            url.port or (443 if url.scheme == "https" else 80),
        )
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        payload = _encode(request, await request.aread())
        conn = self._reuse(origin) or await self._connect(origin, timeouts.get("connect"))
        try:
            await conn.send(payload, timeouts.get("write"))
            await conn.answer(timeouts.get("read"))
            if request.method == "HEAD":
                conn.complete = True  # no body follows, whatever the headers announce
                conn.close()
        except BaseException:
            self._discard(conn)
            raise
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=_Body(self, conn, origin, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()

    def _reuse(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self._expiry:
                return conn
            self._discard(conn)
        return None

    async def _connect(self, origin: Origin, within: float | None) -> _Connection:
        scheme, host, port = origin
        tls = self._ssl_context() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection within {within} s") from None
        except OSError as exc:  # refused, unreachable, unresolvable, TLS (ssl.SSLError)
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        self._all.add(conn)
        return conn

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:  # made on first use: loading the CA bundle takes time and memory
            self._ssl = httpx.create_ssl_context()
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    def release(self, conn: _Connection, origin: Origin) -> None:
        """Back to the pool when its answer was read to the end and it may be kept."""
        conn.busy = False
        if self._closed or not conn.reusable:
            self._discard(conn)
            return
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(origin, [])
        idle.append(conn)
        oldest = idle[0]
        if (
            len(idle) > self._max_idle
            or oldest.closed
            or conn.idle_since - oldest.idle_since > (self._expiry)
        ):
            self._discard(idle.pop(0))

    def _discard(self, conn: _Connection) -> None:
        conn.busy = False
        conn.close()
        self._all.discard(conn)


class _Body(httpx.AsyncByteStream):
    """A response body read from its connection; closing it settles the connection's fate."""

    def __init__(
        self, pool: WireTransport, conn: _Connection, origin: Origin, timeout: float | None
    ) -> None:
        self._pool = pool
        self._conn: _Connection | None = conn
        self._origin = origin
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        async for chunk in conn.body(self._timeout):
            yield chunk

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn, self._origin)


def _encode(request: httpx.Request, body: bytes) -> bytes:
    """The request line, headers and body as one buffer (chunked when httpx framed it so)."""
    parts = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    chunked = False
    for name, value in request.headers.raw:
        if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
            chunked = True
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    if chunked:
        parts += (b"%x\r\n" % len(body), body, b"\r\n0\r\n\r\n") if body else (b"0\r\n\r\n",)
    else:
        parts.append(body)
    return b"".join(parts)
