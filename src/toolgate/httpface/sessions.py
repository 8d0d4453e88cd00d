"""The HTTP sessions of one served server: who owns each, what it is connected to, and when it
ends (DELETE, the legacy SSE stream closing, idleness, or shutdown).

A session id is the gateway's own (the upstream's, if any, never leaves the gateway), random and
bound to the identity that opened it: another identity presenting it is refused. A gateway replica
with a name tags the ids it issues with it (`<replica>.<random>`, see `toolgate.httpface.replica`)
so a load balancer can route every request of a session to the one process that holds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup

from toolgate.errors import UpstreamError
from toolgate.httpface.call_stream import CallStreams
from toolgate.httpface.outbox import Outbox
from toolgate.httpface.replica import MISROUTES, MisrouteLog, new_session_id, tag_of
from toolgate.identity.principal import Principal
from toolgate.pipeline.dispatch import Dispatcher
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Interceptor
from toolgate.transports.upstream import UpstreamFactory, UpstreamSession

log = logging.getLogger("toolgate.http")

InterceptorsFor = Callable[[Principal | None], Sequence[Interceptor]]


@dataclass(slots=True)
class HttpSession:
    id: str
    principal: Principal | None
    session: Session
    dispatcher: Dispatcher
    upstream: UpstreamSession
    outbox: Outbox
    last_used: float
    in_flight: int = 0
    closed: bool = False
    calls: CallStreams = field(default_factory=CallStreams)  # streamed answers, for resumption
    done: anyio.Event = field(default_factory=anyio.Event)  # set when the session ends

    def owned_by(self, principal: Principal | None) -> bool:
        mine, theirs = self.principal, principal
        if mine is None or theirs is None:
            return mine is theirs
        return (mine.name, mine.grant_id) == (theirs.name, theirs.grant_id)


def _end(entry: HttpSession) -> bool:
    """Mark a session ended and close its stream; False when it already was."""
    if entry.closed:
        return False
    entry.closed = True
    entry.session.questions.close()
    entry.outbox.close()
    entry.done.set()
    return True


class SessionLimitError(Exception):
    """The server has as many sessions as it may."""


class SessionTable:
    """The live handshake-era sessions of one server."""

    def __init__(
        self,
        upstreams: UpstreamFactory,
        interceptors: InterceptorsFor,
        *,
        max_sessions: int,
        idle_seconds: float,
        advertise_tools_list_changed: bool,
        replica: str | None = None,
        misroutes: MisrouteLog = MISROUTES,
    ) -> None:
        """`replica`: the name this gateway's session ids are tagged with (None: untagged);
        it must satisfy `replica_name_problem` (the configuration checks it)."""
        self._upstreams = upstreams
        self._interceptors = interceptors
        self._max = max_sessions
        self._idle = idle_seconds
        self._advertise = advertise_tools_list_changed
        self._sessions: dict[str, HttpSession] = {}
        self._tg: TaskGroup | None = None
        self._replica = replica
        self._misroutes = misroutes

    @property
    def replica(self) -> str | None:
        return self._replica

    def bind(self, tg: TaskGroup) -> None:
        """The task group session pumps run in (the application's lifespan)."""
        self._tg = tg

    @property
    def bound(self) -> bool:
        return self._tg is not None

    def spawn(self, func: Callable[..., Coroutine[Any, Any, None]], *args: object) -> None:
        """Run work that outlives the HTTP request that started it (legacy SSE answers)."""
        assert self._tg is not None, "SessionTable.bind() was not called"
        self._tg.start_soon(func, *args)

    def __len__(self) -> int:
        return len(self._sessions)

    def sessions(self) -> Iterator[Session]:
        return (entry.session for entry in self._sessions.values())

    def get(self, session_id: str) -> HttpSession | None:
        entry = self._sessions.get(session_id)
        if entry is not None:
            entry.last_used = anyio.current_time()
        return entry

    def owner_of(self, session_id: str) -> str | None:
        """The other replica a well-formed tagged `session_id` names; None when the id is
        untagged, malformed or this replica's own."""
        owner = tag_of(session_id)
        return None if owner is None or owner == self._replica else owner

    def misrouted(self, owner: str) -> None:
        """Note a request for `owner`'s session that reached this replica (logged, throttled)."""
        self._misroutes.note(owner, self._replica)

    async def open(self, principal: Principal | None) -> HttpSession:
        if len(self._sessions) >= self._max:
            self.reap()
            if len(self._sessions) >= self._max:
                raise SessionLimitError(f"this server already has {self._max} sessions")
        upstream = await self._upstreams.session()
        outbox = Outbox()
        session_id, token = new_session_id(self._replica)
        session = Session(
            outbox,
            f"ses_{token[:16]}",
            identity=principal.name if principal else None,
            identity_attributes=principal.attributes if principal else None,
        )
        dispatcher = Dispatcher(
            session, self._interceptors(principal), advertise_tools_list_changed=self._advertise
        )
        entry = HttpSession(
            session_id, principal, session, dispatcher, upstream, outbox, anyio.current_time()
        )
        self._sessions[session_id] = entry
        assert self._tg is not None, "SessionTable.bind() was not called"
        self._tg.start_soon(self._pump, entry)
        return entry

    async def _pump(self, entry: HttpSession) -> None:
        """Carry the upstream's standalone messages to the session's outbox until either ends."""
        try:
            async for item in entry.upstream.server_messages():
                await entry.outbox.send(item.data)
        except UpstreamError as exc:
            log.info("session %s: the upstream's standalone stream ended: %s", entry.id, exc)
        except Exception:
            log.exception("session %s: standalone stream failed", entry.id)

    async def close(self, session_id: str) -> bool:
        """End a session now; its upstream is closed in the background (a stdio child may take
        seconds to exit), so the client's DELETE is answered at once."""
        entry = self._sessions.pop(session_id, None)
        if entry is None or not _end(entry):
            return False
        if self._tg is not None:
            self._tg.start_soon(self._release, entry)
        else:
            await self._release(entry)
        return True

    async def _close(self, entry: HttpSession) -> None:
        if _end(entry):
            await self._release(entry)

    async def _release(self, entry: HttpSession) -> None:
        with anyio.CancelScope(shield=True):
            await entry.dispatcher.aclose()
            try:
                await entry.upstream.aclose()
            except UpstreamError as exc:
                log.info("session %s: closing the upstream session failed: %s", entry.id, exc)

    def reap(self) -> int:
        """End sessions idle for longer than allowed (none in flight, no stream attached)."""
        now = anyio.current_time()
        idle = [
            entry
            for entry in self._sessions.values()
            if entry.in_flight == 0
            and not entry.outbox.attached
            and now - entry.last_used > self._idle
        ]
        for entry in idle:
            del self._sessions[entry.id]
            assert self._tg is not None
            self._tg.start_soon(self._close, entry)
        return len(idle)

    async def run_reaper(self) -> None:
        while True:
            await anyio.sleep(max(1.0, min(self._idle / 4, 60.0)))
            if count := self.reap():
                log.info("ended %d idle session(s)", count)

    async def aclose(self) -> None:
        """End every session at once (concurrently: each stdio child may take its grace time)."""
        entries = list(self._sessions.values())
        self._sessions.clear()
        async with anyio.create_task_group() as tg:
            for entry in entries:
                tg.start_soon(self._close, entry)
