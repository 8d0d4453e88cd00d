"""The byte-transparent relay between one client and one upstream.

Every message is forwarded as the bytes it arrived as, except what an interceptor answers or
rewrites. Client lines are parsed (a line that is not valid JSON-RPC is answered with an error
and never forwarded); upstream lines are parsed only while some forwarded request awaits a
response hook. Requests are handled in arrival order, so an interceptor's decisions and counter
reservations happen in the order the client sent them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup

from toolgate.errors import UpstreamError
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import Invalid, JsonId, Kind, Message, error_response, id_key, parse
from toolgate.pipeline.dispatch import Dispatcher, apply_hook
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Deferred, Endpoint, Forward, Interceptor, Respond, ResponseHook
from toolgate.transports.lines import Oversized, iter_lines

log = logging.getLogger("toolgate.relay")

DEFAULT_MAX_LINE = 10 * 1024 * 1024
DEFAULT_MAX_UPSTREAM_LINE = 256 * 1024 * 1024
_ID_PATTERN = re.compile(rb'"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\]|\\.){0,200}")\s*[,}]')


@dataclass(slots=True)
class RelayLimits:
    max_line: int = DEFAULT_MAX_LINE  # client → upstream
    max_upstream_line: int = DEFAULT_MAX_UPSTREAM_LINE


@dataclass(slots=True)
class _Stats:
    forwarded: int = 0
    answered: int = 0
    rejected: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Relay:
    """Relays one client session to one upstream through a chain of interceptors."""

    def __init__(
        self,
        client: Endpoint,
        upstream: Endpoint,
        interceptors: Sequence[Interceptor] = (),
        *,
        limits: RelayLimits | None = None,
        session: Session | None = None,
        advertise_tools_list_changed: bool = False,
    ) -> None:
        self.client = client
        self.upstream = upstream
        self.session = session or Session(client)
        self.limits = limits or RelayLimits()
        self.stats = _Stats()
        self._pending: dict[tuple[bool, JsonId], ResponseHook] = {}
        self._dispatcher = Dispatcher(
            self.session,
            interceptors,
            advertise_tools_list_changed=advertise_tools_list_changed,
        )
        self._tasks: TaskGroup | None = None
        self._link = _StreamLink(self)

    async def run(self, on_client_eof: Callable[[], Any] | None = None) -> None:
        """Relay until the upstream's output ends. When the client's input ends,
        `on_client_eof` is awaited (it should close the upstream's input)."""
        async with anyio.create_task_group() as tg:
            self._tasks = tg
            tg.start_soon(self._client_loop, on_client_eof)
            await self._upstream_loop()
            tg.cancel_scope.cancel()

    # client → upstream ---------------------------------------------------------------------

    async def _client_loop(self, on_client_eof: Callable[[], Any] | None) -> None:
        async for line in iter_lines(self.client.receive, self.limits.max_line):
            if isinstance(line, Oversized):
                await self._reject_oversized(line)
                continue
            message = parse(line)
            if isinstance(message, Invalid):
                await self._reject(message)
            else:
                await self._from_client(message)
        self.session.questions.close()
        if on_client_eof is not None:
            await on_client_eof()

    async def _from_client(self, message: Message) -> None:
        if message.kind is Kind.REQUEST:
            await self._request(message)
        elif message.kind is Kind.NOTIFICATION and message.method == "notifications/cancelled":
            params = message.params
            request_id = params.get("requestId") if isinstance(params, dict) else None
            if self.session.was_answered_locally(request_id):
                return  # toolgate answered that call itself; the upstream never saw it
            await self._to_upstream(message.raw)
        elif not self.session.questions.answer(message):  # toolgate's own questions stay here
            await self._to_upstream(message.raw)

    async def _request(self, message: Message) -> None:
        assert message.id is not None and message.method is not None
        if not self._dispatcher.intercepts(message.method):
            await self._to_upstream(message.raw, message.id)
            return
        outcome = await self._dispatcher.decide(message)
        if isinstance(outcome, Deferred):
            # a human's answer may take minutes: the client's other messages go on meanwhile
            assert self._tasks is not None
            self._tasks.start_soon(self._deferred, message, outcome)
            return
        await self._carry_out(message, outcome)

    async def _deferred(self, message: Message, deferred: Deferred) -> None:
        await self._carry_out(message, await deferred.resolve(self._link))

    async def _carry_out(self, message: Message, outcome: Forward | Respond) -> None:
        assert message.id is not None
        if isinstance(outcome, Forward):
            if outcome.on_response is not None:
                self._pending[id_key(message.id)] = outcome.on_response
            sent = await self._to_upstream(outcome.data or message.raw, message.id)
            if not sent:
                self._pending.pop(id_key(message.id), None)
        else:
            self.stats.answered += 1
            await self.client.send(outcome.data)

    async def _to_upstream(self, data: bytes, request_id: JsonId | None = None) -> bool:
        try:
            await self.upstream.send(data)
        except UpstreamError as exc:
            if request_id is not None:
                await self.client.send(error_response(request_id, codes.INTERNAL_ERROR, str(exc)))
            return False
        self.stats.forwarded += 1
        return True

    async def _reject(self, invalid: Invalid) -> None:
        self.stats.rejected += 1
        log.warning("refused a client message: %s", invalid.reason)
        await self.client.send(error_response(invalid.id, invalid.code, invalid.reason))

    async def _reject_oversized(self, line: Oversized) -> None:
        reason = (
            f"Invalid Request: message of {line.size} bytes exceeds the limit of "
            f"{self.limits.max_line} bytes"
        )
        await self._reject(Invalid(codes.INVALID_REQUEST, reason, _sniff_id(line.prefix)))

    # upstream → client ---------------------------------------------------------------------

    async def _upstream_loop(self) -> None:
        async for line in iter_lines(self.upstream.receive, self.limits.max_upstream_line):
            if isinstance(line, Oversized):
                log.error("dropped an upstream message of %d bytes (over the limit)", line.size)
                continue
            if not self._pending:
                await self.client.send(line)
                continue
            await self._from_upstream(line)

    async def _from_upstream(self, line: bytes) -> None:
        message = parse(line)
        if (
            isinstance(message, Message)
            and message.kind is Kind.RESPONSE
            and message.id is not None
        ):
            hook = self._pending.pop(id_key(message.id), None)
            if hook is not None:
                await self.client.send(await apply_hook(hook, message))
                return
        await self.client.send(line)


class _StreamLink:
    """A deferred decision's way to the client of a stdio session: the client's own stream."""

    can_ask = True

    def __init__(self, relay: Relay) -> None:
        self._relay = relay

    async def ask(self, method: str, params: dict[str, Any]) -> Message | None:
        return await self._relay.session.questions.ask(self._relay.client.send, method, params)

    async def notify(self, data: bytes) -> None:
        await self._relay.client.send(data)


def _sniff_id(prefix: bytes) -> JsonId | None:
    """Best effort: read a leading `"id": <int or string>` from the start of an oversized line."""
    found = _ID_PATTERN.search(prefix)
    if found is None:
        return None
    token = found.group(1)
    if token.startswith(b'"'):
        parsed = parse(b'{"jsonrpc":"2.0","id":' + token + b',"result":0}')
        return parsed.id if isinstance(parsed, Message) else None
    return int(token)
