"""Concurrent load over Streamable HTTP with the raw client: throughput bursts (N workers, each
its own connection and session, all calls in flight at once) and opening many sessions.

Each async function runs in its own event loop (uvloop) via `run`, so the sequential latency
client and this one never share a loop.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import httpx

from tgbench.http_client import (
    Calls,
    Era,
    RawHttpError,
    answer_in,
    answer_of,
    checked_echo,
    served,
)
from tgbench.http_wire import Connection, Endpoint, Response, WireError

T = TypeVar("T")
OPEN_CONCURRENCY = 32


def run(func: Callable[..., Awaitable[T]], *args: Any) -> T:
    return anyio.run(func, *args, backend_options={"use_uvloop": True})


def async_client(connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=60.0, limits=limits)


async def open_session(http: httpx.AsyncClient, calls: Calls) -> None:
    """initialize + notifications/initialized (handshake era); nothing for the modern era."""
    if calls.era == "modern":
        return
    msg_id = calls.new_id()
    response = await http.post(
        calls.url, content=calls.initialize_body(msg_id), headers=calls.headers
    )
    session = response.headers.get("mcp-session-id")
    note = calls.opened(answer_of(response, msg_id), session)
    done = await http.post(calls.url, content=note, headers=calls.headers)
    if done.status_code != 202:
        raise RawHttpError(f"notifications/initialized got HTTP {done.status_code}")


async def close_session(http: httpx.AsyncClient, calls: Calls) -> int | None:
    if calls.session is None:
        return None
    response = await http.delete(calls.url, headers=calls.headers)
    return response.status_code


@dataclass
class Burst:
    calls: int
    elapsed_ns: int
    errors: int
    first_error: str | None


class WireSession:
    """One connection and one session on it, driven with pre-framed requests."""

    def __init__(self, endpoint: Endpoint, calls: Calls, conn: Connection) -> None:
        self.endpoint = endpoint
        self.calls = calls
        self.conn = conn

    @classmethod
    async def open(cls, url: str, era: Era, tool: str, args: dict[str, Any]) -> WireSession:
        endpoint = Endpoint(url)
        calls = Calls(url, era, tool, args)
        self = cls(endpoint, calls, await endpoint.connect())
        if era == "handshake":
            msg_id = calls.new_id()
            answer = await self.post(calls.initialize_body(msg_id))
            kind = answer.headers.get(b"content-type", b"").decode()
            session = answer.headers.get(b"mcp-session-id")
            note = calls.opened(
                answer_in(answer.status, kind, answer.body, msg_id),
                session.decode() if session is not None else None,
            )
            done = await self.post(note)
            if done.status != 202:
                raise RawHttpError(f"notifications/initialized got HTTP {done.status}")
        return self

    async def post(self, body: bytes) -> Response:
        if (
            self.conn.closed
        ):  # the server closed an idle keep-alive connection: the session lives on
            self.conn = await self.endpoint.connect()
        return await self.conn.request(self.endpoint.frame(b"POST", self.calls.headers, body))

    async def call(self, text: str) -> None:
        msg_id = self.calls.new_id()
        answer = await self.post(self.calls.call_body(msg_id))
        if not served(answer.status, answer.body):
            kind = answer.headers.get(b"content-type", b"").decode()
            checked_echo(answer_in(answer.status, kind, answer.body, msg_id), text)

    async def close(self) -> None:
        if self.calls.session is not None:
            with contextlib.suppress(WireError, OSError):
                await self.conn.request(self.endpoint.frame(b"DELETE", self.calls.headers))
        self.conn.close()


async def burst(
    url: str, era: Era, workers: int, per_worker: int, tool: str, args: dict[str, Any], text: str
) -> Burst:
    """`workers` sessions on as many connections; each sends `per_worker` calls back to back
    once all are open (and warmed by one call); wall time from the start signal to the last."""
    sessions = [await WireSession.open(url, era, tool, args) for _ in range(workers)]
    for session in sessions:
        await session.call(text)
    errors: list[str] = []
    go = anyio.Event()

    async def worker(session: WireSession) -> None:
        await go.wait()
        for _ in range(per_worker):
            try:
                await session.call(text)
            except (RawHttpError, WireError, OSError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                return

    async with anyio.create_task_group() as tg:
        for session in sessions:
            tg.start_soon(worker, session)
        await anyio.lowlevel.checkpoint()  # let every worker reach the start line
        start = time.perf_counter_ns()
        go.set()
    elapsed = time.perf_counter_ns() - start
    for session in sessions:
        await session.close()
    done = workers * per_worker
    return Burst(done, elapsed, len(errors), errors[0] if errors else None)


@dataclass
class Opened:
    sessions: list[Calls]
    elapsed_ns: int
    failures: int
    first_failure: str | None


async def open_many(url: str, count: int, tool: str, args: dict[str, Any]) -> Opened:
    """Open `count` handshake-era sessions, OPEN_CONCURRENCY at a time, and keep them."""
    opened: list[Calls] = []
    failures: list[str] = []
    limiter = anyio.Semaphore(OPEN_CONCURRENCY)

    async def one(http: httpx.AsyncClient) -> None:
        async with limiter:
            calls = Calls(url, "handshake", tool, args)
            try:
                await open_session(http, calls)
                opened.append(calls)
            except (RawHttpError, httpx.HTTPError, ValueError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}"[:300])

    start = time.perf_counter_ns()
    async with async_client(OPEN_CONCURRENCY) as http, anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(one, http)
    return Opened(
        opened,
        time.perf_counter_ns() - start,
        len(failures),
        (failures[:1] and failures[0]) or None,
    )


async def close_many(sessions: list[Calls]) -> dict[int, int]:
    """DELETE every session; how many answers had each status."""
    statuses: dict[int, int] = {}
    limiter = anyio.Semaphore(OPEN_CONCURRENCY)

    async def one(http: httpx.AsyncClient, calls: Calls) -> None:
        async with limiter:
            try:
                status = await close_session(http, calls) or 0
            except httpx.HTTPError:
                status = -1
            statuses[status] = statuses.get(status, 0) + 1

    async with async_client(OPEN_CONCURRENCY) as http, anyio.create_task_group() as tg:
        for calls in sessions:
            tg.start_soon(one, http, calls)
    return statuses
