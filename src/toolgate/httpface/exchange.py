"""One client request through the policy chain and, when allowed, to the upstream and back.

Yields what the client is to receive for the request: a local answer, or every message the
upstream sends about it, the last being the response (with the response hook of the decision
applied to it). An upstream that fails is answered with a JSON-RPC error, and the hook still
sees that error, so counters reserved for the call are rolled back and its audit event ends.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace

from toolgate.errors import UpstreamError
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import Message, error_response, parse
from toolgate.pipeline.dispatch import Dispatcher, apply_hook
from toolgate.pipeline.types import Respond, ResponseHook
from toolgate.transports.upstream import UpstreamMessage, UpstreamSession

log = logging.getLogger("toolgate.http")


async def exchange(
    request: Message,
    dispatcher: Dispatcher,
    upstream: UpstreamSession,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[UpstreamMessage]:
    assert request.id is not None and request.method is not None
    outcome = await dispatcher.decide(request)
    if isinstance(outcome, Respond):
        yield UpstreamMessage(outcome.data, final=True)
        return
    hook = outcome.on_response
    try:
        answers = upstream.request(outcome.data or request.raw, request.id, headers)
        async with contextlib.aclosing(answers):  # type: ignore[type-var]
            async for received in answers:
                item = received
                if item.final and hook is not None:
                    item = replace(item, data=await _apply(hook, item.data))
                    hook = None
                yield item
                if item.final:
                    return
    except UpstreamError as exc:
        log.warning("upstream failed on %s: %s", request.method, exc)
        failure = error_response(request.id, codes.INTERNAL_ERROR, str(exc))
        if hook is not None:
            await _apply(hook, failure)
        yield UpstreamMessage(failure, final=True, status=502)


async def _apply(hook: ResponseHook, data: bytes) -> bytes:
    message = parse(data)
    return await apply_hook(hook, message) if isinstance(message, Message) else data
