"""A message-level upstream session seen as the byte-stream endpoint the stdio relay uses.

`send` takes one message: a request (a method and an id) starts a task that relays everything
`UpstreamSession.request` yields; anything else (a notification, the client's answer to a
server request) goes to `notify`. Every message the upstream sends comes out of `receive` as
its bytes plus a newline, in arrival order; `receive` returns b"" once the endpoint is closed.

Structured concurrency: the endpoint is an async context manager that owns its tasks.

    async with UpstreamEndpoint(upstream.open_session()) as endpoint:
        await endpoint.send(request_bytes)
        line = await endpoint.receive()

Leaving the block (or calling `aclose`) cancels the requests still in flight, ends the
upstream session and makes `receive` return b"". The tasks live in a task group of their own,
run by one runner task, so closing cancels them without cancelling the code in the block.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

import anyio
import orjson
from anyio.abc import TaskGroup, TaskStatus

from toolgate.errors import UpstreamError
from toolgate.transports.upstream import JsonId, UpstreamMessage, UpstreamSession

INTERNAL_ERROR = -32603
QUEUE_SIZE = 256  # messages waiting for `receive`; a slow reader slows the upstream readers


def error_response(request_id: JsonId, reason: str) -> bytes:
    """The JSON-RPC error a client gets when its request cannot be relayed."""
    error = {"code": INTERNAL_ERROR, "message": reason}
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})


def _request_of(data: bytes) -> tuple[JsonId, str] | None:
    """(id, method) when `data` is a request, None for a notification or a response."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"cannot relay a message that is not JSON: {data[:60]!r}") from None
    if not isinstance(obj, dict):
        raise UpstreamError(f"cannot relay a message that is not a JSON object: {data[:60]!r}")
    method, request_id = obj.get("method"), obj.get("id")
    if not isinstance(method, str) or "id" not in obj:
        return None
    if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
        raise UpstreamError(f"request {method!r} has an id that is not a string or an integer")
    return request_id, method


def _attributed(message: UpstreamMessage, request_id: JsonId) -> bytes:
    """A final answer that came with an HTTP error status, carrying the request's id: some
    servers answer such errors with `"id": null`, which a stream client could not match."""
    if message.status is None:
        return message.data
    try:
        obj = orjson.loads(message.data)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and obj.get("id") == request_id:
        return message.data
    error = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(error, dict):
        return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})
    return error_response(request_id, f"upstream answered with HTTP {message.status}")


@contextlib.asynccontextmanager
async def _closing(
    messages: AsyncIterator[UpstreamMessage],
) -> AsyncIterator[AsyncIterator[UpstreamMessage]]:
    try:
        yield messages
    finally:
        close = getattr(messages, "aclose", None)
        if close is not None:
            await close()


class UpstreamEndpoint:
    """An `UpstreamSession` as an endpoint with `receive() -> bytes` and `send(bytes)`.

    With `handshake=True` the standalone server-message stream is read once an `initialize`
    has been answered (it needs the session that answer creates); with False, at once."""

    def __init__(self, session: UpstreamSession, *, handshake: bool = True) -> None:
        self._session = session
        self._handshake = handshake
        self._out, self._in = anyio.create_memory_object_stream[bytes](QUEUE_SIZE)
        self._outer: TaskGroup | None = None
        self._tasks: TaskGroup | None = None
        self._stop = anyio.Event()
        self._pumping = False
        self._closed = False

    async def __aenter__(self) -> Self:
        outer = anyio.create_task_group()
        await outer.__aenter__()
        self._outer = outer
        self._tasks = await outer.start(self._run)
        if not self._handshake:
            self._start_pump()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        finally:
            try:
                if self._outer is not None:
                    # the block's own exception propagates as it is, not inside a group
                    await self._outer.__aexit__(None, None, None)
            finally:
                self._in.close()

    async def _run(self, *, task_status: TaskStatus[TaskGroup]) -> None:
        async with anyio.create_task_group() as tasks:
            task_status.started(tasks)
            await self._stop.wait()
            tasks.cancel_scope.cancel()

    async def receive(self) -> bytes:
        try:
            return await self._in.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return b""

    async def send(self, data: bytes) -> None:
        """Relay one message (no line terminator). Raises UpstreamError when it cannot."""
        if self._closed or self._tasks is None:
            raise UpstreamError("the upstream endpoint is closed")
        request = _request_of(data)
        if request is None:
            await self._session.notify(data)
            return
        self._tasks.start_soon(self._relay, data, *request)

    async def _relay(self, data: bytes, request_id: JsonId, method: str) -> None:
        try:
            async with _closing(self._session.request(data, request_id)) as messages:
                async for message in messages:
                    if not message.final:
                        await self._put(message.data)
                        continue
                    await self._put(_attributed(message, request_id))
                    if method == "initialize" and message.status is None:
                        self._start_pump()
                    return
            reason = "upstream ended the exchange without answering"
        except UpstreamError as exc:
            reason = str(exc)
        await self._put(error_response(request_id, reason))

    def _start_pump(self) -> None:
        if not self._pumping and self._tasks is not None:
            self._pumping = True
            self._tasks.start_soon(self._pump)

    async def _pump(self) -> None:
        """Relay the standalone stream; its failure ends only that stream, not the requests."""
        with contextlib.suppress(UpstreamError):
            async with _closing(self._session.server_messages()) as messages:
                async for message in messages:
                    await self._put(message.data)

    async def _put(self, data: bytes) -> None:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await self._out.send(data + b"\n")

    async def aclose(self) -> None:
        """Cancel what is in flight, end the upstream session, end `receive`. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        try:
            await self._session.aclose()
        finally:
            self._out.close()
