"""A session with a legacy HTTP+SSE upstream (protocol 2024-11-05, deprecated but deployed).

The upstream holds one GET event stream open per session. Its first event, `endpoint`, names
the URL the client POSTs every message to (each answered 202); every server message then
arrives on the GET stream. One reader task per session reads that stream and sorts what comes:
a response goes to the request it answers, a progress notification to the request that asked
for progress with that token, anything else to `server_messages()`. The reader runs in the task
group of the owning `HttpUpstream` (a cancelled reader would break the shared stream, so it
cannot run inside whichever request happens to be waiting).

Also home to the small pieces both HTTP sessions share: describing a URL without its
credentials, turning httpx failures into `UpstreamError`, and matching a response to its id.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Mapping

import anyio
import httpx
import orjson
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from toolgate.errors import UpstreamError
from toolgate.transports.sse import SseError, SseEvent, aiter_events
from toolgate.transports.upstream import JsonId, UpstreamMessage

SERVER_BACKLOG = 1024  # server messages kept while nobody reads server_messages()
JSON = "application/json"


def describe(url: httpx.URL) -> str:
    """The URL for messages: scheme, host, port and path; never user info or query (either may
    hold a credential)."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def transport_failure(exc: Exception, where: str, timeout: float | None) -> UpstreamError:
    """An httpx (or framing) failure as an UpstreamError that says what went wrong, where."""
    if isinstance(exc, httpx.TimeoutException):
        kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "answer"
        return UpstreamError(f"upstream {where} did not {kind} within {timeout} s")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError(f"cannot connect to upstream {where}: {exc or 'connection refused'}")
    if isinstance(exc, SseError):
        return UpstreamError(f"upstream {where} sent a bad event stream: {exc}")
    reason = str(exc) or type(exc).__name__
    return UpstreamError(f"connection to upstream {where} failed: {reason}")


def status_failure(response: httpx.Response, where: str, what: str) -> UpstreamError:
    """An answer that is not MCP, described by status and content type (never by its body)."""
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    hint = " (check the upstream credentials)" if response.status_code in (401, 403) else ""
    return UpstreamError(
        f"upstream {where} answered {what} with HTTP {response.status_code} "
        f"{response.reason_phrase} ({kind}), not an MCP message{hint}"
    )


def id_key(value: object) -> bytes:
    """A JSON id as a dictionary key that keeps 1 and "1" apart."""
    return orjson.dumps(value)


def answers(data: bytes, request_id: JsonId) -> bool:
    """Whether `data` is the JSON-RPC response (result or error) to `request_id`."""
    if b'"id"' not in data:  # notifications carry no id: skip the parse
        return False
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(obj, dict) or "method" in obj or ("result" not in obj and "error" not in obj):
        return False
    found = obj.get("id")
    return type(found) is type(request_id) and found == request_id


def progress_token(data: bytes) -> object | None:
    """The `params._meta.progressToken` of a request, or None (parses only when one may be)."""
    if b"progressToken" not in data:
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    params = obj.get("params") if isinstance(obj, dict) else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta.get("progressToken") if isinstance(meta, dict) else None


class SseUpstreamSession:
    """One legacy HTTP+SSE session: its GET stream, its endpoint, its requests in flight."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: httpx.URL,
        task_group: TaskGroup,
        *,
        timeout: float | None,
        max_event_bytes: int,
    ) -> None:
        self._client = client
        self._url = url
        self._where = describe(url)
        self._tg = task_group
        self._timeout = timeout
        self._max_event_bytes = max_event_bytes
        self._connect_lock = anyio.Lock()
        self._endpoint: httpx.URL | None = None
        self._scope: anyio.CancelScope | None = None
        self._failure: UpstreamError | None = None
        self._pending: dict[bytes, MemoryObjectSendStream[UpstreamMessage]] = {}
        self._progress: dict[bytes, bytes] = {}  # progress token -> request id key
        # server messages wait here for server_messages(); when nobody reads them, the oldest
        # are dropped rather than block every response queued behind them
        self._backlog: deque[UpstreamMessage] = deque(maxlen=SERVER_BACKLOG)
        self._arrived: anyio.Event | None = None
        self._ended = False
        self._closed = False

    # --- connecting and reading -------------------------------------------------------------

    async def _connected(self) -> httpx.URL:
        async with self._connect_lock:
            if self._closed:
                raise UpstreamError(f"the session with upstream {self._where} is closed")
            if self._failure is not None:
                raise self._failure
            if self._endpoint is None:
                self._endpoint = await self._tg.start(self._read)
            return self._endpoint

    async def _read(self, *, task_status: TaskStatus[httpx.URL]) -> None:
        """Open the GET stream, report the endpoint, then sort every later message."""
        timeout = httpx.Timeout(self._timeout, read=None)
        headers = {"Accept": "text/event-stream"}
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                async with self._client.stream(
                    "GET", self._url, headers=headers, timeout=timeout
                ) as response:
                    events = aiter_events(response.aiter_bytes(), self._max_event_bytes)
                    task_status.started(await self._handshake(response, events))
                    async for event in events:
                        if event.data and event.event == "message":
                            self._dispatch(event)
                self._fail(UpstreamError(f"upstream {self._where} ended its event stream"))
            except (httpx.HTTPError, SseError) as exc:
                failure = transport_failure(exc, self._where, self._timeout)
                self._fail(failure)
                if self._endpoint is None:
                    raise failure from None
            except UpstreamError as exc:
                self._fail(exc)
                if self._endpoint is None:
                    raise
            finally:  # release every waiter
                self._fail(UpstreamError(f"the session with upstream {self._where} is closed"))

    async def _handshake(
        self, response: httpx.Response, events: AsyncIterator[SseEvent]
    ) -> httpx.URL:
        kind = response.headers.get("content-type", "")
        if response.status_code != 200 or not kind.startswith("text/event-stream"):
            raise status_failure(response, self._where, "the event-stream GET")
        try:
            with anyio.fail_after(self._timeout):
                async for event in events:
                    if event.event == "endpoint":
                        return self._endpoint_url(event.data)
        except TimeoutError:
            raise UpstreamError(
                f"upstream {self._where} sent no endpoint event within {self._timeout} s"
            ) from None
        raise UpstreamError(f"upstream {self._where} ended its event stream before an endpoint")

    def _endpoint_url(self, data: bytes) -> httpx.URL:
        try:
            endpoint = self._url.join(data.decode().strip())
        except (UnicodeDecodeError, httpx.InvalidURL) as exc:
            raise UpstreamError(f"upstream {self._where} sent a bad endpoint: {exc}") from None
        if not same_origin(endpoint, self._url):
            raise UpstreamError(
                f"upstream {self._where} named an endpoint on another origin "
                f"({describe(endpoint)}); refused"
            )
        return endpoint

    def _dispatch(self, event: SseEvent) -> None:
        message = UpstreamMessage(event.data, event_id=event.id)
        try:
            obj = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return  # not JSON-RPC: nothing can be relayed from it
        if not isinstance(obj, dict):
            return
        if "method" not in obj:  # a response: to a request in flight, else to nobody
            inbox = self._pending.get(id_key(obj.get("id")))
            if inbox is not None:
                inbox.send_nowait(UpstreamMessage(event.data, final=True, event_id=event.id))
            return
        if obj["method"] == "notifications/progress":
            params = obj.get("params")
            token = params.get("progressToken") if isinstance(params, dict) else None
            owner = self._pending.get(self._progress.get(id_key(token), b""))
            if owner is not None:
                owner.send_nowait(message)
                return
        self._backlog.append(message)
        self._wake()

    def _wake(self) -> None:
        if self._arrived is not None:
            self._arrived.set()

    def _fail(self, failure: UpstreamError) -> None:
        if self._failure is None:
            self._failure = failure
        for inbox in self._pending.values():
            inbox.close()
        self._ended = True
        self._wake()

    # --- the UpstreamSession contract -------------------------------------------------------

    async def request(
        self, data: bytes, request_id: JsonId, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        endpoint = await self._connected()
        key = id_key(request_id)
        if key in self._pending:
            raise UpstreamError(f"request id {request_id!r} is already in flight upstream")
        inbox, replies = anyio.create_memory_object_stream[UpstreamMessage](math.inf)
        self._pending[key] = inbox
        token = progress_token(data)
        token_key = id_key(token) if token is not None else None
        if token_key is not None:
            self._progress[token_key] = key
        try:
            await self._post(endpoint, data, "a request")
            while True:
                message = await self._next_reply(replies, request_id)
                yield message
                if message.final:
                    return
        finally:
            self._pending.pop(key, None)
            if token_key is not None:
                self._progress.pop(token_key, None)
            inbox.close()
            replies.close()

    async def _next_reply(
        self, replies: MemoryObjectReceiveStream[UpstreamMessage], request_id: JsonId
    ) -> UpstreamMessage:
        try:
            with anyio.fail_after(self._timeout):
                return await replies.receive()
        except TimeoutError:
            raise UpstreamError(
                f"upstream {self._where} did not answer request {request_id!r} "
                f"within {self._timeout} s"
            ) from None
        except anyio.EndOfStream:
            raise self._failure or UpstreamError(
                f"upstream {self._where} ended before answering request {request_id!r}"
            ) from None

    async def notify(self, data: bytes) -> None:
        await self._post(await self._connected(), data, "a notification")

    async def _post(self, endpoint: httpx.URL, data: bytes, what: str) -> None:
        try:
            response = await self._client.post(
                endpoint, content=data, headers={"Content-Type": JSON}
            )
        except httpx.HTTPError as exc:
            raise transport_failure(exc, self._where, self._timeout) from None
        if response.status_code == 404:
            raise UpstreamError(f"the session with upstream {self._where} has expired (404)")
        if response.status_code not in (200, 202, 204):
            raise status_failure(response, self._where, what)

    async def server_messages(
        self, last_event_id: str | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        """Messages not tied to a request. This transport cannot resume: `last_event_id` is
        ignored."""
        await self._connected()
        while True:
            while self._backlog:
                yield self._backlog.popleft()
            if self._ended:
                return
            self._arrived = anyio.Event()
            await self._arrived.wait()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._fail(UpstreamError(f"the session with upstream {self._where} is closed"))
        if self._scope is not None:
            self._scope.cancel()
