"""Turning what an exchange yields into the HTTP answer: one JSON body when the response is all
there is, else an SSE stream that carries each message as the bytes it arrived as. A streamed
answer is driven to its end by a server task (see call_stream), not by the client's connection."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import orjson
from starlette.responses import Response, StreamingResponse

from toolgate.httpface.call_stream import CallStream, CallStreams, Spawn, start
from toolgate.jsonrpc.message import JsonId, error_response
from toolgate.mcp.http_headers import http_status
from toolgate.transports.sse import encode_event
from toolgate.transports.upstream import UpstreamMessage

log = logging.getLogger("toolgate.http")

JSON = "application/json"
EVENT_STREAM = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SERVER_ERROR = -32000  # implementation-defined: the transport-level refusals below


def refusal(
    status: int,
    message: str,
    *,
    msg_id: JsonId | None = None,
    code: int = SERVER_ERROR,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON-RPC error body with an HTTP status: what every refusal of this face looks like."""
    return Response(error_response(msg_id, code, message), status, headers, JSON)


async def reply(
    items: AsyncIterator[UpstreamMessage],
    *,
    modern: bool,
    spawn: Spawn,
    stream_ok: bool = True,
    headers: Mapping[str, str] | None = None,
    streams: CallStreams | None = None,
    ends_with_client: bool = False,
) -> Response:
    """`spawn` runs the rest of a streamed answer in the server's task group; with `streams`
    (a handshake session's) its events carry ids the client can resume from. An answer that
    `ends_with_client` (a subscription) stops when its client leaves."""
    first = await anext(items, None)
    if first is None:
        return refusal(502, "the upstream ended the exchange without answering")
    if first.final:
        await _close(items)
        status = first.status or (_modern_status(first.data) if modern else 200)
        return Response(first.data, status, headers, JSON)
    if not stream_ok:
        return await _last_only(first, items, headers)
    call = start(first, items, spawn, streams)
    return stream_reply(
        call, 0, with_ids=streams is not None, headers=headers, ends_with_client=ends_with_client
    )


def stream_reply(
    call: CallStream,
    after: int,
    *,
    with_ids: bool,
    headers: Mapping[str, str] | None = None,
    ends_with_client: bool = False,
) -> StreamingResponse:
    """The SSE response following `call` from after its message number `after`."""
    events = _events(call, after, with_ids, ends_with_client)
    return StreamingResponse(events, 200, {**STREAM_HEADERS, **(headers or {})}, EVENT_STREAM)


async def _events(
    call: CallStream, after: int, with_ids: bool, ends_with_client: bool
) -> AsyncIterator[bytes]:
    try:
        async for number, data in call.follow(after):
            yield encode_event(data, event_id=call.event_id(number) if with_ids else None)
    finally:
        if ends_with_client:
            call.cancel()


async def _last_only(
    first: UpstreamMessage, items: AsyncIterator[UpstreamMessage], headers: Mapping[str, str] | None
) -> Response:
    """A client that accepts no event stream gets the response alone."""
    dropped, last = 1, first
    async with contextlib.aclosing(items):  # type: ignore[type-var]
        async for item in items:
            if item.final:
                last = item
                break
            dropped += 1
    if not last.final:
        return refusal(502, "the upstream ended the exchange without answering")
    log.info("dropped %d message(s) a client accepting only JSON could not receive", dropped)
    return Response(last.data, last.status or 200, headers, JSON)


async def _close(items: AsyncIterator[UpstreamMessage]) -> None:
    closer = getattr(items, "aclose", None)
    if closer is not None:
        await closer()


def _modern_status(data: bytes) -> int:
    if b'"error"' not in data:
        return 200
    try:
        error = orjson.loads(data).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return 200
    return http_status(error.get("code")) if isinstance(error, dict) else 200
