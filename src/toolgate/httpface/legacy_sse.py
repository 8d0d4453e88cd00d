"""The deprecated HTTP+SSE transport (2024-11-05): `GET …/sse` opens a session whose every
server message, answers included, travels on that one stream; the client POSTs each message to
the endpoint the stream's first event names, and gets 202. A request toolgate answers itself is
injected into the stream like any other answer. The session ends when the stream closes.

The session id in the endpoint's `session_id` query parameter comes from the server's session
table, so a named replica's ids carry its tag: behind a load balancer, these POSTs must be routed
by that parameter's prefix to the replica holding the stream (docs/deployment.md)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from toolgate.errors import UpstreamError
from toolgate.httpface.exchange import exchange
from toolgate.httpface.guard import accepts_stream, header_problem, post_problem, read_body
from toolgate.httpface.replies import EVENT_STREAM, STREAM_HEADERS, refusal
from toolgate.httpface.served import Face, ServedServer
from toolgate.httpface.sessions import HttpSession, SessionLimitError
from toolgate.httpface.streamable import deliver_one_way, find_session
from toolgate.jsonrpc.message import Invalid, Kind, Message, parse
from toolgate.transports.sse import encode_event

log = logging.getLogger("toolgate.http")


async def open_stream(request: Request, server: ServedServer, face: Face) -> Response:
    problem = header_problem(request, face.limits)
    if problem is not None:
        return problem
    principal = await face.principal(request, server.name)
    if isinstance(principal, Response):
        return principal
    if not accepts_stream(request):
        return refusal(406, "Not Acceptable: this endpoint is text/event-stream")
    try:
        entry = await server.table.open(principal)
    except SessionLimitError as exc:
        return refusal(503, f"Service Unavailable: {exc}")
    except UpstreamError as exc:
        return refusal(502, str(exc))
    base = request.url.path.removesuffix("/sse")
    endpoint = f"{base}/messages?session_id={entry.id}"
    return StreamingResponse(_stream(server, entry, endpoint), 200, STREAM_HEADERS, EVENT_STREAM)


async def _stream(server: ServedServer, entry: HttpSession, endpoint: str) -> AsyncIterator[bytes]:
    entry.outbox.attached = True
    try:
        yield encode_event(endpoint.encode(), event="endpoint")
        async for _, data in entry.outbox.stream():
            yield encode_event(data)
    finally:
        entry.outbox.attached = False
        await server.table.close(entry.id)


async def post_message(request: Request, server: ServedServer, face: Face) -> Response:
    problem = header_problem(request, face.limits) or post_problem(request)
    if problem is not None:
        return problem
    principal = await face.principal(request, server.name)
    if isinstance(principal, Response):
        return principal
    session_id = request.query_params.get("session_id") or request.query_params.get("sessionId")
    if not session_id:
        return refusal(400, "Bad Request: the session_id query parameter is required")
    entry = find_session(server, session_id, principal)
    if isinstance(entry, Response):
        return entry
    body = await read_body(request, face.limits.max_body_bytes)
    if isinstance(body, Response):
        return body
    message = parse(body)
    if isinstance(message, Invalid):
        return refusal(400, message.reason, msg_id=message.id, code=message.code)
    if message.kind is not Kind.REQUEST:
        return await deliver_one_way(message, entry)
    if entry.in_flight >= face.limits.max_in_flight:
        return refusal(429, "Too Many Requests: this session has too many requests in flight")
    entry.in_flight += 1
    server.table.spawn(_answer_on_stream, message, entry, server)
    return Response("Accepted", 202, media_type="text/plain")


async def _answer_on_stream(message: Message, entry: HttpSession, server: ServedServer) -> None:
    try:
        answers = exchange(
            message, entry.dispatcher, entry.upstream, spawn=server.table.spawn, interactive=True
        )
        async for item in answers:
            await entry.outbox.send(item.data)
    finally:
        entry.in_flight -= 1
