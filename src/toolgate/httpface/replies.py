"""Turning what an exchange yields into the HTTP answer: one JSON body when the response is all
there is, else an SSE stream that carries each message as the bytes it arrived as."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import orjson
from starlette.responses import Response, StreamingResponse

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
    stream_ok: bool = True,
    headers: Mapping[str, str] | None = None,
) -> Response:
    first = await anext(items, None)
    if first is None:
        return refusal(502, "the upstream ended the exchange without answering")
    if first.final:
        await _close(items)
        status = first.status or (_modern_status(first.data) if modern else 200)
        return Response(first.data, status, headers, JSON)
    if not stream_ok:
        return await _last_only(first, items, headers)
    return StreamingResponse(
        _events(first, items), 200, {**STREAM_HEADERS, **(headers or {})}, EVENT_STREAM
    )


async def _events(
    first: UpstreamMessage, items: AsyncIterator[UpstreamMessage]
) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(items):  # type: ignore[type-var]
        yield encode_event(first.data)
        async for item in items:
            yield encode_event(item.data)


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
