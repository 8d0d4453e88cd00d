"""The Streamable HTTP endpoint of one server, for both protocol eras on one URL.

POST carries one JSON-RPC message. A 2026-07-28 request (its `_meta` names the protocol version)
is stateless: its headers must mirror its body, and it shares the server's stateless upstream
channel. Anything else is the handshake era: `initialize` opens a session (the gateway's own
`Mcp-Session-Id`), every later message must carry it, GET opens the session's standalone stream
and DELETE ends it. Nothing is forwarded before the Host, Origin, credentials, content type,
size and headers have been checked and the message parsed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from toolgate.errors import UpstreamError
from toolgate.httpface.exchange import exchange
from toolgate.httpface.guard import accepts_stream, header_problem, post_problem, read_body
from toolgate.httpface.replica import misrouted_message
from toolgate.httpface.replies import EVENT_STREAM, STREAM_HEADERS, refusal, reply, stream_reply
from toolgate.httpface.served import Face, ServedServer
from toolgate.httpface.sessions import HttpSession, SessionLimitError
from toolgate.identity.principal import Principal
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import Invalid, Kind, Message, parse
from toolgate.mcp.eras import is_modern_request
from toolgate.mcp.http_headers import handshake_version_problem, modern_header_problem
from toolgate.mcp.listing import mark_private
from toolgate.pipeline.dispatch import Dispatcher
from toolgate.pipeline.session import Session
from toolgate.transports.sse import encode_event
from toolgate.transports.upstream import UpstreamMessage

log = logging.getLogger("toolgate.http")

SESSION_HEADER = "Mcp-Session-Id"
PARAM_HEADER_PREFIX = "mcp-param-"


async def post(request: Request, server: ServedServer, face: Face) -> Response:
    problem = header_problem(request, face.limits) or post_problem(request)
    if problem is not None:
        return problem
    principal = await face.principal(request, server.name)
    if isinstance(principal, Response):
        return principal
    body = await read_body(request, face.limits.max_body_bytes)
    if isinstance(body, Response):
        return body
    message = parse(body)
    if isinstance(message, Invalid):
        return refusal(400, message.reason, msg_id=message.id, code=message.code)
    if message.kind is Kind.REQUEST:
        if message.method == "initialize":
            return await _initialize(request, message, server, principal)
        if is_modern_request(message.params):
            return await _modern(request, message, server, principal)
    entry = _session(request, server, principal)
    if isinstance(entry, Response):
        return entry
    version = handshake_version_problem(request.headers)
    if version is not None:
        return refusal(400, f"Bad Request: {version}", msg_id=message.id)
    if message.kind is Kind.REQUEST:
        if entry.in_flight >= face.limits.max_in_flight:
            return refusal(
                429,
                f"Too Many Requests: {entry.in_flight} requests of this session are in flight",
                msg_id=message.id,
            )
        stream_ok = accepts_stream(request)
        answers = exchange(
            message,
            entry.dispatcher,
            entry.upstream,
            spawn=server.table.spawn,
            interactive=stream_ok,
        )
        return await reply(
            _counted(entry, answers),
            modern=False,
            spawn=server.table.spawn,
            stream_ok=stream_ok,
            streams=entry.calls,
        )
    return await deliver_one_way(message, entry)


async def get(request: Request, server: ServedServer, face: Face) -> Response:
    problem = header_problem(request, face.limits)
    if problem is not None:
        return problem
    if SESSION_HEADER.lower() not in request.headers:
        return refusal(405, "Method Not Allowed: GET needs a session", headers={"Allow": "POST"})
    principal = await face.principal(request, server.name)
    if isinstance(principal, Response):
        return principal
    entry = _session(request, server, principal)
    if isinstance(entry, Response):
        return entry
    if not accepts_stream(request):
        return refusal(406, "Not Acceptable: the standalone stream is text/event-stream")
    last_event_id = request.headers.get("last-event-id")
    resumed = entry.calls.resume(last_event_id)
    if resumed is not None:  # the client lost a POST's stream: the rest of that call
        return stream_reply(*resumed, with_ids=True)
    if entry.outbox.attached:
        return refusal(409, "Conflict: this session's standalone stream is already open")
    entry.outbox.attached = True  # now, so a second GET arriving meanwhile gets 409
    stream = _standalone(entry, last_event_id)
    return StreamingResponse(stream, 200, STREAM_HEADERS, EVENT_STREAM)


async def delete(request: Request, server: ServedServer, face: Face) -> Response:
    problem = header_problem(request, face.limits)
    if problem is not None:
        return problem
    if SESSION_HEADER.lower() not in request.headers:
        return refusal(405, "Method Not Allowed: DELETE needs a session", headers={"Allow": "POST"})
    principal = await face.principal(request, server.name)
    if isinstance(principal, Response):
        return principal
    entry = _session(request, server, principal)
    if isinstance(entry, Response):
        return entry
    await server.table.close(entry.id)
    return Response(status_code=200)


# the 2026-07-28 era ------------------------------------------------------------------------------


async def _modern(
    request: Request, message: Message, server: ServedServer, principal: Principal | None
) -> Response:
    assert message.method is not None
    params = message.params if isinstance(message.params, dict) else {}
    problem = modern_header_problem(message.method, params, request.headers)
    if problem is not None:
        return refusal(400, problem, msg_id=message.id, code=codes.HEADER_MISMATCH)
    listening = message.method == "subscriptions/listen"
    stream = _Stream() if listening else None
    session = Session(
        stream or _NOWHERE,
        identity=principal.name if principal else None,
        identity_attributes=principal.attributes if principal else None,
        stateless=True,
    )
    dispatcher = Dispatcher(session, server.interceptors(principal))
    try:
        upstream = await server.upstreams.stateless()
    except UpstreamError as exc:
        return refusal(502, str(exc), msg_id=message.id, code=codes.INTERNAL_ERROR)
    params_headers = {
        name: value
        for name, value in request.headers.items()
        if name.startswith(PARAM_HEADER_PREFIX)
    }
    items = exchange(message, dispatcher, upstream, params_headers, spawn=server.table.spawn)
    if message.method == "tools/list" and principal is not None:
        items = _private(items)
    if stream is not None:
        items = _listening(items, server, session, stream)
    return await reply(
        items,
        modern=True,
        spawn=server.table.spawn,
        stream_ok=accepts_stream(request),
        ends_with_client=listening,
    )


async def _private(items: AsyncIterator[UpstreamMessage]) -> AsyncIterator[UpstreamMessage]:
    """A list answered to an identity may differ per identity: no shared cache may keep it."""
    async with contextlib.aclosing(items):  # type: ignore[type-var]
        async for item in items:
            parsed = parse(item.data) if item.final else None
            marked = mark_private(parsed.obj) if isinstance(parsed, Message) else None
            yield (
                item
                if marked is None
                else UpstreamMessage(marked, True, item.status, item.event_id)
            )


async def _listening(
    items: AsyncIterator[UpstreamMessage],
    server: ServedServer,
    session: Session,
    stream: _Stream,
) -> AsyncIterator[UpstreamMessage]:
    """While a subscription is open, the gateway's own list-change notices for it (sent to the
    session's endpoint, `stream`) join the upstream's messages on the same response stream.
    The upstream side is pumped by a task of the server's task group, cancelled when the
    client's stream ends."""
    scope = anyio.CancelScope()

    async def pump() -> None:
        with scope:
            async with contextlib.aclosing(items):  # type: ignore[type-var]
                async for item in items:
                    await stream.deliver(item)
        stream.close_sending()

    server.listeners.add(session)
    server.table.spawn(pump)
    try:
        async for item in stream:
            yield item
            if item.final:
                break
    finally:
        server.listeners.discard(session)
        scope.cancel()
        stream.close()


class _Nowhere:
    """The endpoint of a one-request session: nothing is ever sent to it but by a listener."""

    async def send(self, data: bytes) -> None:
        return None

    async def receive(self) -> bytes:  # pragma: no cover - the Endpoint shape; never read so
        return b""


_NOWHERE = _Nowhere()


class _Stream:
    """The endpoint of a 2026 subscription's session: what is sent to it joins the stream."""

    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[UpstreamMessage](64)

    async def send(self, data: bytes) -> None:
        await self.deliver(UpstreamMessage(data))

    async def receive(self) -> bytes:  # pragma: no cover - the Endpoint shape; never read so
        return b""

    async def deliver(self, item: UpstreamMessage) -> None:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await self._send.send(item)

    def close_sending(self) -> None:
        self._send.close()

    def close(self) -> None:
        self._send.close()
        self._receive.close()

    def __aiter__(self) -> AsyncIterator[UpstreamMessage]:
        return self._receive.__aiter__()


# the handshake era -------------------------------------------------------------------------------


async def _initialize(
    request: Request, message: Message, server: ServedServer, principal: Principal | None
) -> Response:
    try:
        entry = await server.table.open(principal)
    except SessionLimitError as exc:
        return refusal(503, f"Service Unavailable: {exc}", msg_id=message.id)
    except UpstreamError as exc:
        return refusal(502, str(exc), msg_id=message.id, code=codes.INTERNAL_ERROR)
    items = _counted(entry, exchange(message, entry.dispatcher, entry.upstream))
    return await reply(
        _close_on_error(items, server, entry),
        modern=False,
        spawn=server.table.spawn,
        stream_ok=accepts_stream(request),
        headers={SESSION_HEADER: entry.id},
    )


async def _close_on_error(
    items: AsyncIterator[UpstreamMessage], server: ServedServer, entry: HttpSession
) -> AsyncIterator[UpstreamMessage]:
    """A session whose initialize failed is no session."""
    async with contextlib.aclosing(items):  # type: ignore[type-var]
        async for item in items:
            if item.final and (item.status or b'"error"' in item.data):
                parsed = parse(item.data)
                if not isinstance(parsed, Message) or parsed.is_error:
                    await server.table.close(entry.id)
            yield item


def _session(
    request: Request, server: ServedServer, principal: Principal | None
) -> HttpSession | Response:
    session_id = request.headers.get(SESSION_HEADER.lower())
    if session_id is None:
        return refusal(400, "Bad Request: Mcp-Session-Id header is required")
    return find_session(server, session_id, principal)


def find_session(
    server: ServedServer, session_id: str, principal: Principal | None
) -> HttpSession | Response:
    """The live session `session_id` of `principal`: 404 when there is none (naming the replica
    that owns it when the id is another replica's: the load balancer sent it astray), 403 when
    it is another identity's."""
    entry = server.table.get(session_id)
    if entry is None:
        owner = server.table.owner_of(session_id)
        if owner is None:
            return refusal(404, "Session not found")
        server.table.misrouted(owner)
        return refusal(404, misrouted_message(owner, server.table.replica))
    if not entry.owned_by(principal):
        return refusal(403, "Forbidden: this session belongs to another identity")
    if principal is not None:  # each request is judged by what its own credential says
        entry.session.identity_attributes = principal.attributes
    return entry


async def _counted(
    entry: HttpSession, items: AsyncIterator[UpstreamMessage]
) -> AsyncIterator[UpstreamMessage]:
    """Keeps the session from being reaped while a request of it is in flight."""
    entry.in_flight += 1
    try:
        async with contextlib.aclosing(items):  # type: ignore[type-var]
            async for item in items:
                yield item
    finally:
        entry.in_flight -= 1


async def deliver_one_way(message: Message, entry: HttpSession) -> Response:
    """A notification, or the client's answer to a server request: 202, or why not. An
    answer to a question of toolgate's own stays in the gateway."""
    if entry.session.questions.answer(message):
        return Response(status_code=202)
    if message.kind is Kind.NOTIFICATION and message.method == "notifications/cancelled":
        params = message.params if isinstance(message.params, dict) else {}
        if entry.session.was_answered_locally(params.get("requestId")):
            return Response(status_code=202)  # toolgate answered that request itself
    try:
        await entry.upstream.notify(message.raw)
    except UpstreamError as exc:
        return refusal(502, str(exc))
    return Response(status_code=202)


async def _standalone(entry: HttpSession, last_event_id: str | None) -> AsyncIterator[bytes]:
    try:
        async for event_id, data in entry.outbox.stream(last_event_id):
            yield encode_event(data, event_id=event_id)
    finally:
        entry.outbox.attached = False
