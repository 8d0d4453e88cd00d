"""A stdio child process as an `UpstreamSession`: one newline-delimited stream demultiplexed
into per-request exchanges.

Two uses. A handshake-era HTTP client gets a child of its own (the stdio server keeps one
session per process), and ids pass unchanged. Stateless 2026-07-28 requests share one child:
their ids are replaced by gateway-unique ones on the way in and restored on the way out (the
only re-encoding this module ever does), so two clients that both use id 1 cannot collide.

What is not a response is routed to the request it belongs to when that can be told (a progress
notification names its request's progress token; a 2026 subscription notification names its
listen request), else (a notification, a sampling or elicitation request) to the request in
flight when there is exactly one, else to the
standalone stream (`server_messages`), which buffers a bounded backlog until someone listens.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from toolgate.errors import UpstreamError
from toolgate.jsonrpc.message import Invalid, JsonId, Kind, Message, encode, id_key, parse
from toolgate.transports.lines import Oversized, iter_lines
from toolgate.transports.stdio_child import StdioChild, describe
from toolgate.transports.upstream import UpstreamMessage

log = logging.getLogger("toolgate.upstream")

MAX_LINE = 256 * 1024 * 1024
BACKLOG = 1000  # server-initiated messages kept while nobody listens
EXCHANGE_BUFFER = 256
SUBSCRIPTION_KEY = "io.modelcontextprotocol/subscriptionId"
SESSION_EXIT_GRACE = 1.0  # seconds a session's child gets to exit, then SIGTERM, then SIGKILL


@dataclass(slots=True)
class _Exchange:
    original_id: JsonId
    send: MemoryObjectSendStream[UpstreamMessage]
    progress_token: object = None  # the token as the child sees it
    original_token: object = None  # the client's own progress token, when remapped


@dataclass(slots=True)
class _Standalone:
    backlog: deque[bytes] = field(default_factory=lambda: deque(maxlen=BACKLOG))
    waiting: anyio.Event = field(default_factory=anyio.Event)
    ended: bool = False


class StdioUpstream:
    """Runs `run()` in a task group for as long as the child lives; `request()` and the rest
    may be used from any task meanwhile."""

    def __init__(
        self, child: StdioChild, *, remap_ids: bool = False, timeout: float | None = None
    ) -> None:
        self.child = child
        self._remap = remap_ids
        self._timeout = timeout  # the longest the child may stay silent during a request
        self._exchanges: dict[tuple[bool, JsonId], _Exchange] = {}
        self._ids = itertools.count(1)
        self._standalone = _Standalone()
        self._closed = False
        self._ended = anyio.Event()

    @property
    def alive(self) -> bool:
        return not self._ended.is_set()

    async def run(self) -> None:
        """Read the child's output until it ends; then every open exchange fails."""
        try:
            async for line in iter_lines(self.child.receive, MAX_LINE):
                if isinstance(line, Oversized):
                    log.error("dropped an upstream message of %d bytes (over the limit)", line.size)
                    continue
                await self._route(line)
        finally:
            self._ended.set()
            self._standalone.ended = True
            self._standalone.waiting.set()
            for exchange in list(self._exchanges.values()):
                exchange.send.close()
            self._exchanges.clear()

    def request(
        self, data: bytes, request_id: JsonId, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        wire_id: JsonId = request_id
        payload = data
        parsed = parse(data)
        token = original_token = _progress_token(parsed) if isinstance(parsed, Message) else None
        if self._remap:
            if not isinstance(parsed, Message):
                raise UpstreamError("cannot forward a request toolgate cannot read")
            wire_id = f"tg-{next(self._ids)}"
            obj = {**parsed.obj, "id": wire_id}
            if token is not None:  # another client may use the same token: make it unique
                token = f"{wire_id}-progress"
                params = dict(obj["params"])
                params["_meta"] = {**params["_meta"], "progressToken": token}
                obj["params"] = params
            payload = encode(obj)
        key = id_key(wire_id)
        if key in self._exchanges:
            raise UpstreamError(f"request id {request_id!r} is already in flight upstream")
        send, receive = anyio.create_memory_object_stream[UpstreamMessage](EXCHANGE_BUFFER)
        self._exchanges[key] = _Exchange(request_id, send, token, original_token)
        return self._exchange(key, payload, receive)

    async def _exchange(
        self,
        key: tuple[bool, JsonId],
        payload: bytes,
        receive: MemoryObjectReceiveStream[UpstreamMessage],
    ) -> AsyncIterator[UpstreamMessage]:
        try:
            with receive:
                if not self.alive:
                    raise UpstreamError(
                        f"upstream server `{describe(self.child.command)}` has exited"
                    )
                await self.child.send(payload)
                while True:
                    message: UpstreamMessage | None = None
                    with anyio.move_on_after(self._timeout):
                        message = await receive.receive()
                    if message is None:
                        raise UpstreamError(
                            f"upstream server `{describe(self.child.command)}` sent nothing "
                            f"for {self._timeout:g} s"
                        )
                    yield message
                    if message.final:
                        return
        except anyio.EndOfStream:
            raise UpstreamError(
                f"upstream server `{describe(self.child.command)}` exited before answering"
            ) from None
        finally:
            exchange = self._exchanges.pop(key, None)
            if exchange is not None:
                exchange.send.close()

    async def notify(self, data: bytes) -> None:
        await self.child.send(data)

    async def server_messages(
        self, last_event_id: str | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        """Not resumable: a stdio server keeps no event history (`last_event_id` is ignored)."""
        standalone = self._standalone
        while True:
            while standalone.backlog:
                yield UpstreamMessage(standalone.backlog.popleft())
            if standalone.ended:
                return
            standalone.waiting = anyio.Event()
            await standalone.waiting.wait()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.child.shutdown(SESSION_EXIT_GRACE)
        self.child.close()

    # routing ---------------------------------------------------------------------------------

    async def _route(self, line: bytes) -> None:
        message = parse(line)
        if isinstance(message, Invalid):
            await self._to_standalone(line)
            return
        if message.kind is Kind.RESPONSE and message.id is not None:
            exchange = self._exchanges.get(id_key(message.id))
            if exchange is not None:
                data = self._restore_id(message, exchange) if self._remap else line
                await _deliver(exchange, UpstreamMessage(data, final=True))
                return
        exchange = self._related(message)
        if exchange is None:
            await self._to_standalone(line)
            return
        data = self._restore_related(message, exchange) if self._remap else line
        await _deliver(exchange, UpstreamMessage(data))

    def _related(self, message: Message) -> _Exchange | None:
        params = message.params if isinstance(message.params, dict) else {}
        if message.method == "notifications/progress" and "progressToken" in params:
            for exchange in self._exchanges.values():
                if exchange.progress_token == params["progressToken"]:
                    return exchange
        meta = params.get("_meta")
        if isinstance(meta, dict) and SUBSCRIPTION_KEY in meta:
            subscription = meta[SUBSCRIPTION_KEY]
            if isinstance(subscription, str | int) and not isinstance(subscription, bool):
                return self._exchanges.get(id_key(subscription))
        if len(self._exchanges) == 1:  # the one request in flight: what it caused
            return next(iter(self._exchanges.values()))
        return None

    async def _to_standalone(self, line: bytes) -> None:
        standalone = self._standalone
        if len(standalone.backlog) == standalone.backlog.maxlen:
            log.warning("no client listens for server messages; dropping the oldest")
        standalone.backlog.append(line)
        standalone.waiting.set()

    @staticmethod
    def _restore_id(message: Message, exchange: _Exchange) -> bytes:
        return encode({**message.obj, "id": exchange.original_id})

    @staticmethod
    def _restore_related(message: Message, exchange: _Exchange) -> bytes:
        """Put the client's own subscription id or progress token back where the child saw
        the gateway's; anything else passes as it came."""
        raw: Any = message.obj.get("params")
        if not isinstance(raw, dict):
            return message.raw
        params: dict[str, Any] = dict(raw)
        meta = params.get("_meta")
        changed = False
        if isinstance(meta, dict) and SUBSCRIPTION_KEY in meta:
            params["_meta"] = {**meta, SUBSCRIPTION_KEY: exchange.original_id}
            changed = True
        token = params.get("progressToken")
        if exchange.original_token is not None and token == exchange.progress_token:
            params["progressToken"] = exchange.original_token
            changed = True
        return encode({**message.obj, "params": params}) if changed else message.raw


async def _deliver(exchange: _Exchange, message: UpstreamMessage) -> None:
    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
        await exchange.send.send(message)  # else the client went away; the exchange is over


def _progress_token(message: Message) -> object:
    params = message.params if isinstance(message.params, dict) else {}
    meta = params.get("_meta")
    return meta.get("progressToken") if isinstance(meta, dict) else None


class StdioUpstreams:
    """A configured stdio server as an `UpstreamFactory`: a child per handshake-era session,
    and one shared child (ids remapped) for 2026-07-28 requests, restarted if it exits."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.command = tuple(command)
        self._timeout = timeout
        self._env = dict(env or {})
        self._cwd = cwd
        self._tg: TaskGroup | None = None
        self._shared: StdioUpstream | None = None
        self._starting = anyio.Lock()
        self._open: set[StdioUpstream] = set()

    @property
    def description(self) -> str:
        return describe(self.command)

    def bind(self, tg: TaskGroup) -> None:
        self._tg = tg

    async def session(self) -> StdioUpstream:
        return await self._start(remap_ids=False)

    async def stateless(self) -> StdioUpstream:
        async with self._starting:
            if self._shared is None or not self._shared.alive:
                self._shared = await self._start(remap_ids=True)
            return self._shared

    async def _start(self, *, remap_ids: bool) -> StdioUpstream:
        assert self._tg is not None, "StdioUpstreams.bind() was not called"
        child = await StdioChild.start(self.command, env=self._env, cwd=self._cwd)
        upstream = StdioUpstream(child, remap_ids=remap_ids, timeout=self._timeout)
        self._open.add(upstream)
        self._tg.start_soon(self._run, upstream)
        return upstream

    async def _run(self, upstream: StdioUpstream) -> None:
        try:
            await upstream.run()
        finally:
            self._open.discard(upstream)
            with anyio.CancelScope(shield=True):
                await upstream.aclose()

    async def aclose(self) -> None:
        async with anyio.create_task_group() as tg:
            for upstream in list(self._open):
                tg.start_soon(upstream.aclose)
