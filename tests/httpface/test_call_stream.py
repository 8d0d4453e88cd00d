"""CallStream and CallStreams: a streamed answer kept for its followers and for resumption."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from toolgate.httpface import call_stream
from toolgate.httpface.call_stream import CallStream, CallStreams, start
from toolgate.transports.upstream import UpstreamMessage

pytestmark = pytest.mark.anyio


async def collect(stream: CallStream, after: int = 0) -> list[tuple[int, bytes]]:
    with anyio.fail_after(5):
        return [item async for item in stream.follow(after)]


async def test_a_follower_gets_every_message_after_the_number_it_names() -> None:
    stream = CallStream("1")
    for data in (b"a", b"b", b"c"):
        stream.append(data)
    stream.finish()
    assert await collect(stream) == [(1, b"a"), (2, b"b"), (3, b"c")]
    assert await collect(stream, 2) == [(3, b"c")]
    assert await collect(stream, 3) == []


async def test_a_follower_waits_for_messages_until_the_call_is_done() -> None:
    stream = CallStream("1")
    seen: list[tuple[int, bytes]] = []

    async def follow() -> None:
        seen.extend(await collect(stream))

    async with anyio.create_task_group() as tg:
        tg.start_soon(follow)
        stream.append(b"a")
        await anyio.lowlevel.checkpoint()
        stream.append(b"b")
        stream.finish()
    assert seen == [(1, b"a"), (2, b"b")]


async def test_two_followers_each_get_the_whole_answer() -> None:
    stream = CallStream("1")
    results: list[list[tuple[int, bytes]]] = []

    async def follow() -> None:
        results.append(await collect(stream))

    async with anyio.create_task_group() as tg:
        tg.start_soon(follow)
        tg.start_soon(follow)
        stream.append(b"x")
        stream.append(b"y")
        stream.finish()
    assert results == [[(1, b"x"), (2, b"y")]] * 2


async def test_messages_beyond_the_limit_drop_the_oldest_and_numbers_stay_true(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_stream, "MAX_EVENTS", 3)
    stream = CallStream("1")
    for n in range(1, 6):
        stream.append(str(n).encode())
    stream.finish()
    assert await collect(stream) == [(3, b"3"), (4, b"4"), (5, b"5")]
    assert await collect(stream, 4) == [(5, b"5")]


async def test_event_ids_name_the_call_and_the_message() -> None:
    streams = CallStreams()
    first, second = streams.open(), streams.open()
    assert first.event_id(1) == "c1-1"
    assert second.event_id(7) == "c2-7"
    assert streams.resume("c2-7") == (second, 7)
    assert streams.resume(" c1-0 ") == (first, 0)


@pytest.mark.parametrize(
    "garbage", [None, "", "7", "c3-1", "c1", "c1-", "c-1", "c1-1-1", "C1-1", "c1-" + "9" * 13]
)
async def test_ids_that_name_no_kept_call_resume_nothing(garbage: str | None) -> None:
    streams = CallStreams()
    streams.open()
    assert streams.resume(garbage) is None


async def test_only_the_newest_finished_calls_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_stream, "KEPT_CALLS", 2)
    streams = CallStreams()
    opened = [streams.open() for _ in range(4)]
    for stream in opened[:3]:
        stream.finish()
    streams.open()  # pruning happens as calls are opened
    kept = [s.key for s in opened if streams.resume(s.event_id(1)) is not None]
    assert kept == ["2", "3", "4"]  # the unfinished call is never dropped


async def test_finished_calls_are_forgotten_after_the_retention_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_stream, "RETAIN_SECONDS", -1.0)
    streams = CallStreams()
    old, running = streams.open(), streams.open()
    old.finish()
    streams.open()
    assert streams.resume("c1-1") is None
    assert streams.resume("c2-1") == (running, 1)


async def answers(*items: UpstreamMessage) -> AsyncIterator[UpstreamMessage]:
    for item in items:
        yield item


async def test_started_calls_are_pumped_to_the_end_without_any_follower() -> None:
    closed = anyio.Event()

    async def upstream() -> AsyncIterator[UpstreamMessage]:
        try:
            yield UpstreamMessage(b"progress")
            yield UpstreamMessage(b"result", final=True)
            yield UpstreamMessage(b"never read")
        finally:
            closed.set()

    items = upstream()
    async with anyio.create_task_group() as tg:
        first = await anext(items)
        stream = start(first, items, tg.start_soon, CallStreams())
    assert stream.done
    assert closed.is_set()
    assert await collect(stream) == [(1, b"progress"), (2, b"result")]


async def test_a_cancelled_call_stops_its_pump_and_ends_its_followers() -> None:
    release = anyio.Event()

    async def endless() -> AsyncIterator[UpstreamMessage]:
        yield UpstreamMessage(b"first")
        await release.wait()
        yield UpstreamMessage(b"late", final=True)  # pragma: no cover - cancelled before

    items = endless()
    async with anyio.create_task_group() as tg:
        stream = start(await anext(items), items, tg.start_soon, None)
        await anyio.lowlevel.checkpoint()
        stream.cancel()
    assert stream.done
    assert await collect(stream) == [(1, b"first")]


async def test_a_pump_that_fails_still_ends_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> AsyncIterator[UpstreamMessage]:
        yield UpstreamMessage(b"first")
        raise RuntimeError("boom")

    items = broken()
    async with anyio.create_task_group() as tg:
        stream = start(await anext(items), items, tg.start_soon, None)
    assert stream.done
    assert await collect(stream) == [(1, b"first")]
    assert "failed while its answer was being relayed" in caplog.text
