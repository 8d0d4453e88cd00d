"""Upstream MCP servers reached over HTTP: Streamable HTTP in both protocol eras, with a
fallback to the legacy HTTP+SSE transport.

`HttpUpstream` is one configured remote URL. It owns the one `httpx.AsyncClient` every session
with that URL shares (keep-alive over the lean HTTP/1.1 transport of `http_wire`, the static
headers from the configuration, timeouts, no cookie jar, no redirects to other origins), what
has been learned about the URL (which transport answers it, which era it speaks) and the task
group legacy HTTP+SSE sessions read their event streams in. Use it as an async context manager,
entered and exited in the same task:

    async with HttpUpstream("https://mcp.example.com/mcp", headers={"Authorization": ...}) as up:
        session = up.open_session()

Only the configured static headers carry credentials upstream: a caller's per-request headers
are limited to `Mcp-Param-*`, so a client's `Authorization` or `Cookie` can never pass.

This module is longer than most because one session class holds the whole Streamable HTTP
exchange (headers per era, JSON and SSE answers, resumption, probing); splitting it would
scatter one state machine over several files.
"""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

import anyio
import httpx
import orjson
from anyio.abc import TaskGroup

from toolgate.errors import ConfigError, UpstreamError
from toolgate.transports.http_wire import WireTransport
from toolgate.transports.sse import DEFAULT_MAX_EVENT_BYTES, SseError, aiter_events
from toolgate.transports.sse_upstream import (
    JSON,
    SseUpstreamSession,
    answers,
    describe,
    same_origin,
    status_failure,
    transport_failure,
)
from toolgate.transports.upstream import JsonId, UpstreamMessage, UpstreamSession

Transport = Literal["auto", "streamable", "sse"]
Era = Literal["unknown", "legacy", "modern"]

DEFAULT_TIMEOUT = 60.0  # seconds an upstream may stay silent while answering a request
DEFAULT_CONNECT_TIMEOUT = 10.0
MAX_REDIRECTS = 3
MAX_RESUMES = 3  # reconnections in a row that bring nothing new before a request is given up
MAX_RETRY_WAIT = 5.0  # seconds; a server's `retry:` above this is capped
EVENT_STREAM = "text/event-stream"
PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
_MODERN_MARK = PROTOCOL_VERSION_KEY.encode()
NAMED_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
PROBE_STATUSES = frozenset({400, 404, 405})  # a pre-2025-03-26 server's answer to a POST
PASSED_HEADER_PREFIX = "mcp-param-"


class NotStreamableHttpError(UpstreamError):
    """The URL answered an `initialize` POST the way a legacy HTTP+SSE server does."""


class HttpUpstream:
    """One remote MCP server URL and the client every session with it shares."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        transport: Transport = "auto",
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = _parse_url(url)
        self.where = describe(self.url)
        if transport == "auto" and self.url.path.rstrip("/").endswith("/sse"):
            transport = "sse"
        self._transport: Transport = transport
        self.era: Era = "legacy" if transport == "sse" else "unknown"
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_event_bytes = max_event_bytes
        self.client = httpx.AsyncClient(
            headers={"Accept": f"{JSON}, {EVENT_STREAM}", "User-Agent": "toolgate"}
            | _static_headers(headers or {}),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            follow_redirects=False,
            cookies=_no_cookies(),
            transport=http_transport or WireTransport(),
        )
        self._tg: TaskGroup | None = None

    @property
    def transport(self) -> Transport:
        """ "streamable" or "sse" once known (configured, or learned from the first answer)."""
        return self._transport

    def learned(self, transport: Transport | None = None, era: Era | None = None) -> None:
        """Record what an answer proved about this URL, for every later session."""
        if transport is not None:
            self._transport = transport
        if era == "modern" or (era is not None and self.era == "unknown"):
            self.era = era

    def open_session(self) -> UpstreamSession:
        """A new session; opening it costs nothing (the first message does the work)."""
        if self._tg is None:
            raise RuntimeError("enter the HttpUpstream (async with) before opening sessions")
        if self._transport == "sse":
            return self.sse_session()
        session = StreamableHttpSession(self)
        return _ProbingSession(self, session) if self._transport == "auto" else session

    def sse_session(self) -> SseUpstreamSession:
        if self._tg is None:
            raise RuntimeError("enter the HttpUpstream (async with) before opening sessions")
        return SseUpstreamSession(
            self.client,
            self.url,
            self._tg,
            timeout=self.timeout,
            max_event_bytes=self.max_event_bytes,
        )

    async def __aenter__(self) -> Self:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, self._tg = self._tg, None
        try:
            if tg is not None:
                tg.cancel_scope.cancel()  # the event-stream readers of sessions left open
                # the block's own exception propagates as it is, not inside a group
                await tg.__aexit__(None, None, None)
        finally:
            await self.client.aclose()


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"upstream URL {url!r} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"upstream URL {describe(parsed)!r} must be an http(s) URL with a host")
    return parsed


def _static_headers(headers: Mapping[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
            raise ConfigError(f"upstream header name {name!r} is not a valid HTTP header name")
        if any(c in value for c in "\r\n\0"):
            raise ConfigError(f"upstream header {name} has a line break or NUL in its value")
    return dict(headers)


def _no_cookies() -> http.cookiejar.CookieJar:
    """A jar that keeps nothing: cookies one session receives must never reach another.
    (A bare jar, as httpx copies the cookies out of an `httpx.Cookies`, policy lost.)"""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the headers of one outgoing message depend on, read from its body."""

    method: str | None = None
    modern_version: str | None = None  # 2026-07-28 requests carry it in params._meta
    name: str | None = None


_OPAQUE = _Shape()


def _shape(data: bytes) -> _Shape:
    """Parse only messages whose headers depend on their body (modern ones, `initialize`)."""
    if _MODERN_MARK not in data and b'"initialize"' not in data:
        return _OPAQUE
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _OPAQUE  # the upstream answers it with its own parse error
    if not isinstance(obj, dict) or not isinstance(obj.get("method"), str):
        return _OPAQUE
    method: str = obj["method"]
    params = obj.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    version = meta.get(PROTOCOL_VERSION_KEY) if isinstance(meta, dict) else None
    if not isinstance(version, str):
        return _Shape(method)
    named = params.get(NAMED_METHODS.get(method, "")) if isinstance(params, dict) else None
    return _Shape(method, version, named if isinstance(named, str) else None)


def header_value(value: str) -> str:
    """A value that survives an HTTP header unchanged, or the spec's base64 sentinel form."""
    plain = value.isascii() and value.isprintable() and value == value.strip()
    if plain and not (value.startswith("=?base64?") and value.endswith("?=")):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode('ascii')}?="


def _media_type(response: httpx.Response) -> str:
    kind: str = response.headers.get("content-type", "")
    return kind.partition(";")[0].strip().lower()


@contextlib.asynccontextmanager
async def _closing(
    messages: AsyncIterator[UpstreamMessage],
) -> AsyncIterator[AsyncIterator[UpstreamMessage]]:
    """Close an async generator as soon as its reader leaves (its HTTP response with it)."""
    try:
        yield messages
    finally:
        close = getattr(messages, "aclose", None)
        if close is not None:
            await close()


def _jsonrpc_response(body: bytes) -> dict[str, object] | None:
    """The body as a JSON-RPC response object, or None when it is anything else."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if (
        isinstance(obj, dict)
        and obj.get("jsonrpc") == "2.0"
        and ("result" in obj or "error" in obj)
    ):
        return obj
    return None


class StreamableHttpSession:
    """One session with a Streamable HTTP upstream, in either era (decided per message)."""

    def __init__(self, upstream: HttpUpstream) -> None:
        self._up = upstream
        self._where = upstream.where
        self._session_id: str | None = None  # the upstream's; never shown to the client
        self._version: str | None = None  # negotiated by initialize (handshake era)
        self._closed = False

    # --- headers and sending ----------------------------------------------------------------

    def _headers(self, shape: _Shape, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Content-Type": JSON}
        if shape.modern_version is not None and shape.method is not None:
            headers["MCP-Protocol-Version"] = shape.modern_version
            headers["Mcp-Method"] = shape.method
            if shape.name is not None:
                headers["Mcp-Name"] = header_value(shape.name)
        else:
            headers.update(self._session_headers())
        for name, value in (extra or {}).items():
            if name.lower().startswith(PASSED_HEADER_PREFIX):
                if any(c in value for c in "\r\n\0"):
                    raise UpstreamError(f"header {name} has a line break or NUL in its value")
                headers[name] = value
        return headers

    def _session_headers(self) -> dict[str, str]:
        headers = {}
        if self._session_id is not None:
            headers["Mcp-Session-Id"] = self._session_id
        if self._version is not None:
            headers["MCP-Protocol-Version"] = self._version
        return headers

    async def _send(
        self,
        method: str,
        headers: dict[str, str],
        content: bytes | None = None,
        *,
        idle: bool = False,
    ) -> httpx.Response:
        """Send and return the streaming response; follows same-origin 307/308 only. `idle`
        lifts the read timeout (a standalone stream may stay silent for hours)."""
        up = self._up
        timeout = httpx.Timeout(up.timeout, connect=up.connect_timeout, read=None) if idle else None
        url = up.url
        for _ in range(MAX_REDIRECTS + 1):
            request = up.client.build_request(
                method,
                url,
                headers=headers,
                content=content,
                timeout=timeout or httpx.USE_CLIENT_DEFAULT,
            )
            try:
                response = await up.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise transport_failure(exc, self._where, up.timeout) from None
            if not response.is_redirect:
                return response
            await response.aclose()
            url = self._redirect(response)
        raise UpstreamError(f"upstream {self._where} redirected more than {MAX_REDIRECTS} times")

    def _redirect(self, response: httpx.Response) -> httpx.URL:
        location = response.headers.get("location", "")
        try:
            target = response.url.join(location)
        except httpx.InvalidURL:
            target = None
        if target is None or response.status_code not in (307, 308):
            raise UpstreamError(
                f"upstream {self._where} answered HTTP {response.status_code} (a redirect); "
                "configure the URL it redirects to"
            )
        if not same_origin(target, self._up.url):
            raise UpstreamError(
                f"upstream {self._where} redirected to another origin ({describe(target)}); refused"
            )
        return target

    async def _body(self, response: httpx.Response) -> bytes:
        limit = self._up.max_event_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise UpstreamError(f"upstream {self._where} answered with over {limit} bytes")
                chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise transport_failure(exc, self._where, self._up.timeout) from None
        return b"".join(chunks)

    # --- requests -----------------------------------------------------------------------------

    async def request(
        self, data: bytes, request_id: JsonId, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        if self._closed:
            raise UpstreamError(f"the session with upstream {self._where} is closed")
        shape = _shape(data)
        # a 2026 subscription's stream is silent until something changes: no read timeout
        listening = shape.method == "subscriptions/listen"
        response = await self._send("POST", self._headers(shape, headers), data, idle=listening)
        try:
            if shape.method == "initialize" and shape.modern_version is None:
                self._learn_session_id(response)
            if response.status_code == 200 and _media_type(response) == EVENT_STREAM:
                self._up.learned("streamable")
                async for message in self._stream(response, request_id, shape):
                    yield message
                return
            yield await self._single(response, await self._body(response), request_id, shape)
        finally:
            await response.aclose()

    def _learn_session_id(self, response: httpx.Response) -> None:
        session_id = response.headers.get("mcp-session-id")
        if session_id is None:
            return
        if not session_id or not all(33 <= ord(c) <= 126 for c in session_id):
            raise UpstreamError(f"upstream {self._where} sent an invalid Mcp-Session-Id")
        self._session_id = session_id

    def _learn_version(self, data: bytes, shape: _Shape) -> None:
        if shape.modern_version is not None:
            self._up.learned(era="modern")
            return
        if shape.method != "initialize":
            return
        obj = _jsonrpc_response(data)
        result = obj.get("result") if obj is not None else None
        version = result.get("protocolVersion") if isinstance(result, dict) else None
        if isinstance(version, str) and version.isascii() and version.isprintable():
            self._version = version
            self._up.learned(era="legacy")

    async def _single(
        self, response: httpx.Response, body: bytes, request_id: JsonId, shape: _Shape
    ) -> UpstreamMessage:
        """The one JSON answer to a request, or the UpstreamError that says why there is none."""
        status = response.status_code
        legacy = shape.modern_version is None
        if status == 404 and legacy and self._session_id is not None:
            raise UpstreamError(
                f"the session with upstream {self._where} has expired (404); "
                "the client must initialize again"
            )
        if status in (200, 202, 204) and not body.strip():
            raise UpstreamError(
                f"upstream {self._where} answered request {request_id!r} with HTTP {status} "
                "and no response"
            )
        recognized = _media_type(response) == JSON and (
            _jsonrpc_response(body) is not None if status != 200 or not legacy else True
        )
        if not recognized:
            probing = self._up.transport == "auto" and shape.method == "initialize" and legacy
            if probing and status in PROBE_STATUSES:
                raise NotStreamableHttpError(
                    f"upstream {self._where} answered initialize with {status}"
                )
            raise status_failure(response, self._where, f"request {request_id!r}")
        self._up.learned("streamable")
        if status == 200:
            self._learn_version(body, shape)
        return UpstreamMessage(body, final=True, status=None if status == 200 else status)

    async def _stream(
        self, response: httpx.Response, request_id: JsonId, shape: _Shape
    ) -> AsyncIterator[UpstreamMessage]:
        """The messages of an SSE answer, resuming with GET + Last-Event-ID (handshake era)
        when the stream ends before the response and the server gave event ids."""
        last_id: str | None = None
        retry_ms: int | None = None
        current = response
        attempts = 0
        while True:
            broken: Exception | None = None
            try:
                async for event in aiter_events(current.aiter_bytes(), self._up.max_event_bytes):
                    last_id = event.id if event.id is not None else last_id
                    retry_ms = event.retry if event.retry is not None else retry_ms
                    if not event.data:
                        continue  # a priming event: only its id matters
                    attempts = 0
                    final = answers(event.data, request_id)
                    if final:
                        self._learn_version(event.data, shape)
                    yield UpstreamMessage(event.data, final=final, event_id=event.id)
                    if final:
                        return
            except (httpx.HTTPError, SseError) as exc:
                broken = exc
            finally:
                if current is not response:
                    await current.aclose()
            if shape.modern_version is not None or last_id is None or attempts >= MAX_RESUMES:
                if broken is not None:
                    raise transport_failure(broken, self._where, self._up.timeout)
                raise UpstreamError(
                    f"upstream {self._where} ended the response stream of request "
                    f"{request_id!r} before answering it"
                )
            attempts += 1
            await anyio.sleep(min((retry_ms or 0) / 1000, MAX_RETRY_WAIT))
            current = await self._resume(last_id, request_id)

    async def _resume(self, last_id: str, request_id: JsonId) -> httpx.Response:
        headers = {"Accept": EVENT_STREAM, "Last-Event-ID": last_id, **self._session_headers()}
        response = await self._send("GET", headers)
        if response.status_code == 200 and _media_type(response) == EVENT_STREAM:
            return response
        await response.aclose()
        raise status_failure(response, self._where, f"resuming request {request_id!r}")

    # --- notifications, the GET stream, the end ----------------------------------------------

    async def notify(self, data: bytes) -> None:
        if self._closed:
            raise UpstreamError(f"the session with upstream {self._where} is closed")
        shape = _shape(data)
        response = await self._send("POST", self._headers(shape, None), data)
        try:
            status = response.status_code
            if status == 404 and self._session_id is not None and shape.modern_version is None:
                raise UpstreamError(f"the session with upstream {self._where} has expired (404)")
            if status not in (200, 202, 204):
                raise status_failure(response, self._where, "a notification")
        finally:
            await response.aclose()

    async def server_messages(
        self, last_event_id: str | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        if self._closed:
            return
        headers = {"Accept": EVENT_STREAM, **self._session_headers()}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        response = await self._send("GET", headers, idle=True)
        try:
            status = response.status_code
            if status == 405 or (status in (400, 404) and self._session_id is None):
                return  # no standalone stream (none at all, or none without a session)
            if response.status_code != 200 or _media_type(response) != EVENT_STREAM:
                raise status_failure(response, self._where, "the server-message GET")
            async for event in aiter_events(response.aiter_bytes(), self._up.max_event_bytes):
                if event.data:
                    yield UpstreamMessage(event.data, event_id=event.id)
        except (httpx.HTTPError, SseError) as exc:
            raise transport_failure(exc, self._where, None) from None
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """End the upstream session with DELETE when it has an id (best effort: a 405 or a
        failure changes nothing for the client). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._session_id is None:
            return
        with anyio.move_on_after(self._up.connect_timeout, shield=True):
            with contextlib.suppress(httpx.HTTPError):
                await self._up.client.delete(self._up.url, headers=self._session_headers())


class _ProbingSession:
    """A session on a URL whose transport is not known yet: Streamable HTTP first, and
    HTTP+SSE at the same URL if its `initialize` is answered the way old servers answer."""

    def __init__(self, upstream: HttpUpstream, first: StreamableHttpSession) -> None:
        self._up = upstream
        self._inner: UpstreamSession = first

    async def request(
        self, data: bytes, request_id: JsonId, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        try:
            async with _closing(self._inner.request(data, request_id, headers)) as it:
                async for message in it:
                    yield message
            return
        except NotStreamableHttpError as exc:
            probe = str(exc)
        self._inner = self._up.sse_session()
        try:
            async with _closing(self._inner.request(data, request_id, headers)) as it:
                async for message in it:
                    self._up.learned("sse", "legacy")
                    yield message
        except UpstreamError as exc:
            if self._up.transport != "sse":
                raise UpstreamError(f"{probe}; as legacy HTTP+SSE: {exc}") from None
            raise

    async def notify(self, data: bytes) -> None:
        await self._inner.notify(data)

    def server_messages(self, last_event_id: str | None = None) -> AsyncIterator[UpstreamMessage]:
        return self._inner.server_messages(last_event_id)

    async def aclose(self) -> None:
        await self._inner.aclose()
