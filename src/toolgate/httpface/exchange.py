"""One client request through the policy chain and, when allowed, to the upstream and back.

Yields what the client is to receive for the request: a local answer, or every message the
upstream sends about it, the last being the response (with the response hook of the decision
applied to it). An upstream that fails is answered with a JSON-RPC error, and the hook still
sees that error, so counters reserved for the call are rolled back and its audit event ends.

A decision that needs time (a human's approval) runs as a task of the server (`spawn`) while
this request's response stream carries what it sends the client meanwhile: toolgate's own
question (`elicitation/create`) and progress notifications. The client's answer to such a
question arrives as a POST of its own and is routed by the session's `questions`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from toolgate.errors import UpstreamError
from toolgate.httpface.call_stream import Spawn
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import Message, error_response, parse
from toolgate.pipeline.dispatch import Dispatcher, apply_hook
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Deferred, Forward, Respond, ResponseHook
from toolgate.transports.upstream import UpstreamMessage, UpstreamSession

log = logging.getLogger("toolgate.http")


async def exchange(
    request: Message,
    dispatcher: Dispatcher,
    upstream: UpstreamSession,
    headers: Mapping[str, str] | None = None,
    *,
    spawn: Spawn | None = None,
    interactive: bool = False,
) -> AsyncIterator[UpstreamMessage]:
    """`interactive`: the client reads this request's answer as a stream that can carry a
    question of toolgate's (and answers it); without `spawn` a deferred decision runs in place
    and nothing reaches the client before its outcome."""
    assert request.id is not None and request.method is not None
    outcome = await dispatcher.decide(request)
    if isinstance(outcome, Deferred):
        waiting = _waiting(outcome, dispatcher.session, spawn, interactive)
        async with contextlib.aclosing(waiting):  # type: ignore[type-var]
            async for item in waiting:
                if isinstance(item, _Resolved):
                    outcome = item.outcome
                    break
                yield item
        if isinstance(outcome, Deferred):  # pragma: no cover - the decision always ends
            return
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


@dataclass(frozen=True, slots=True)
class _Resolved:
    outcome: Forward | Respond


async def _waiting(
    deferred: Deferred, session: Session, spawn: Spawn | None, interactive: bool
) -> AsyncIterator[UpstreamMessage | _Resolved]:
    """What the deferred decision sends the client while it runs, then its outcome. The
    decision runs as a task of the server's task group (a generator must not hold a task
    group across a yield); when the client goes away it is cancelled."""
    if spawn is None:
        yield _Resolved(await deferred.resolve(_QuietLink()))
        return
    send, receive = anyio.create_memory_object_stream[UpstreamMessage | _Resolved](16)
    scope = anyio.CancelScope()
    link = _ResponseStreamLink(session, send, interactive)

    async def decide() -> None:
        with scope:
            async with send:
                outcome = await deferred.resolve(link)
                await send.send(_Resolved(outcome))

    spawn(decide)
    try:
        async with receive:
            async for item in receive:
                yield item
    finally:
        scope.cancel()


class _ResponseStreamLink:
    """A deferred decision's way to an HTTP client: the request's own response stream."""

    def __init__(
        self,
        session: Session,
        send: MemoryObjectSendStream[UpstreamMessage | _Resolved],
        can_ask: bool,
    ) -> None:
        self._session = session
        self._send = send
        self.can_ask = can_ask

    async def ask(self, method: str, params: dict[str, Any]) -> Message | None:
        if not self.can_ask:
            return None
        return await self._session.questions.ask(self._deliver, method, params)

    async def notify(self, data: bytes) -> None:
        await self._deliver(data)

    async def _deliver(self, data: bytes) -> None:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await self._send.send(UpstreamMessage(data))


class _QuietLink:
    """For a request whose answer reaches the client all at once: nothing can be said before."""

    can_ask = False

    async def ask(self, method: str, params: dict[str, Any]) -> Message | None:
        return None

    async def notify(self, data: bytes) -> None:
        return None


async def _apply(hook: ResponseHook, data: bytes) -> bytes:
    message = parse(data)
    return await apply_hook(hook, message) if isinstance(message, Message) else data
