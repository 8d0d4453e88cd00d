"""The streamed answer to one POST, produced by a task of the server rather than by the client's
connection, so a client that leaves mid-stream never leaves a call half-done.

Once an answer turns into an event stream (the upstream sent progress, or toolgate asks the
client something), the rest of the exchange is driven to its end by a server task (`pump`) that
appends every message to a `CallStream`; the HTTP response only follows it. When the client
disconnects, the response stops following but the exchange still reaches its final message, so
the decision's response hook runs: counters reserved for the call are settled against the real
outcome and its audit event ends.

Messages on a handshake-era session's POST stream carry event ids `c<call>-<n>` (the session's
standalone stream uses plain numbers), and the session keeps its recent calls (`CallStreams`):
a client that lost the stream reconnects with `GET` and `Last-Event-ID: c<call>-<n>` and is sent
what followed message `n` of that call, then the rest as it comes — whatever the upstream is.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable

import anyio

from toolgate.transports.upstream import UpstreamMessage

log = logging.getLogger("toolgate.http")

Spawn = Callable[..., object]  # start a coroutine function (with args) in a long-lived task group
MAX_EVENTS = 1000  # messages of one call kept for followers; older ones are dropped first
KEPT_CALLS = 32  # finished calls of one session kept for resumption
RETAIN_SECONDS = 300.0  # how long a finished call can still be resumed
_EVENT_ID = re.compile(r"c([0-9]{1,12})-([0-9]{1,12})")


class CallStream:
    """Every message of one call's answer, in order, for the response and for resumers."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._events: deque[bytes] = deque(maxlen=MAX_EVENTS)
        self._dropped = 0  # messages that fell off the front of `_events`
        self._done = False
        self._wake = anyio.Event()
        self._scope = anyio.CancelScope()  # the pump's, for answers that end with their client
        self.finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self._done

    def event_id(self, number: int) -> str:
        return f"c{self.key}-{number}"

    def append(self, data: bytes) -> None:
        if len(self._events) == self._events.maxlen:
            self._dropped += 1
        self._events.append(data)
        self._wake.set()
        self._wake = anyio.Event()

    def cancel(self) -> None:
        """Stop pumping: for an answer that has no meaning without its client (a
        subscription's stream)."""
        self._scope.cancel()

    def finish(self) -> None:
        if not self._done:
            self._done = True
            self.finished_at = anyio.current_time()
            self._wake.set()

    async def follow(self, after: int = 0) -> AsyncIterator[tuple[int, bytes]]:
        """(number, message) for every message after number `after` (numbers start at 1), live,
        until the call is done. Messages dropped for space are skipped."""
        number = after
        while True:
            total = self._dropped + len(self._events)
            if number < self._dropped:
                log.info(
                    "call stream %s: %d early message(s) were no longer kept",
                    self.key,
                    self._dropped - number,
                )
                number = self._dropped
            while number < total:
                data = self._events[number - self._dropped]
                number += 1
                yield number, data
                total = self._dropped + len(self._events)
            if self._done:
                return
            await self._wake.wait()


class CallStreams:
    """The recent streamed calls of one session, by key, for `Last-Event-ID` resumption."""

    def __init__(self) -> None:
        self._calls: OrderedDict[str, CallStream] = OrderedDict()
        self._next = 1

    def open(self) -> CallStream:
        self._prune()
        stream = CallStream(str(self._next))
        self._next += 1
        self._calls[stream.key] = stream
        return stream

    def resume(self, last_event_id: str | None) -> tuple[CallStream, int] | None:
        """The call a `Last-Event-ID` of ours names, and the message number it names; None when
        the id is not a call stream's or the call is no longer kept."""
        if last_event_id is None:
            return None
        match = _EVENT_ID.fullmatch(last_event_id.strip())
        if match is None:
            return None
        stream = self._calls.get(match.group(1))
        return None if stream is None else (stream, int(match.group(2)))

    def _prune(self) -> None:
        now = anyio.current_time()
        for stream in list(self._calls.values()):
            if stream.finished_at is not None and now - stream.finished_at > RETAIN_SECONDS:
                del self._calls[stream.key]
        done = [s for s in self._calls.values() if s.done]
        for stream in done[: max(0, len(done) - KEPT_CALLS)]:
            del self._calls[stream.key]


def start(
    first: UpstreamMessage,
    items: AsyncIterator[UpstreamMessage],
    spawn: Spawn,
    streams: CallStreams | None,
) -> CallStream:
    """A call stream holding `first`, the rest of `items` pumped into it by a server task."""
    stream = streams.open() if streams is not None else CallStream("0")
    stream.append(first.data)
    spawn(_pump, items, stream)
    return stream


async def _pump(items: AsyncIterator[UpstreamMessage], stream: CallStream) -> None:
    try:
        with stream._scope:
            async with contextlib.aclosing(items):  # type: ignore[type-var]
                async for item in items:
                    stream.append(item.data)
                    if item.final:
                        break
    except Exception:
        log.exception("a streamed call failed while its answer was being relayed")
    finally:
        stream.finish()
