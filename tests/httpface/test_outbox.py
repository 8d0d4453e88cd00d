"""The standalone stream of a session: numbered events, a bounded backlog while nobody reads,
and replay after `Last-Event-ID` — in the outbox itself and through GET on the endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from tests.httpface.fakes import Rig, notification, running_face, streaming
from toolgate.httpface.outbox import BACKLOG, REPLAY, Outbox

pytestmark = pytest.mark.anyio

WAIT = 5.0


async def take(
    outbox: Outbox, count: int, last_event_id: str | None = None
) -> list[tuple[str, bytes]]:
    """The first `count` events a reader gets (it detaches afterwards)."""
    taken: list[tuple[str, bytes]] = []
    if count == 0:
        return taken
    with anyio.fail_after(WAIT):
        async for event in outbox.stream(last_event_id):
            taken.append(event)
            if len(taken) == count:
                break
    return taken


async def filled(count: int) -> Outbox:
    outbox = Outbox()
    for number in range(1, count + 1):
        await outbox.send(f"m{number}".encode())
    return outbox


async def test_messages_are_numbered_from_one_and_kept_until_read() -> None:
    outbox = await filled(3)
    assert await take(outbox, 3) == [("1", b"m1"), ("2", b"m2"), ("3", b"m3")]


async def test_a_reader_waiting_receives_what_is_sent_later() -> None:
    outbox = Outbox()
    received: list[tuple[str, bytes]] = []

    async def read() -> None:
        received.extend(await take(outbox, 2))

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        await outbox.send(b"later-1")
        await outbox.send(b"later-2")
    assert received == [("1", b"later-1"), ("2", b"later-2")]


async def test_a_reconnecting_reader_is_replayed_what_followed_its_last_event() -> None:
    outbox = await filled(4)
    assert [event_id for event_id, _ in await take(outbox, 4)] == ["1", "2", "3", "4"]
    await outbox.send(b"m5")
    assert await take(outbox, 3, last_event_id="2") == [("3", b"m3"), ("4", b"m4"), ("5", b"m5")]


async def test_without_last_event_id_nothing_is_replayed() -> None:
    outbox = await filled(2)
    await take(outbox, 2)
    await outbox.send(b"m3")
    assert await take(outbox, 1) == [("3", b"m3")]


@pytest.mark.parametrize("garbage", ["", "abc", "-1", "1.5", " 1", "0x1", "9" * 50])
async def test_a_garbage_last_event_id_replays_nothing_and_breaks_nothing(garbage: str) -> None:
    outbox = await filled(2)
    await take(outbox, 2)
    await outbox.send(b"m3")
    assert await take(outbox, 1, last_event_id=garbage) == [("3", b"m3")]


SUPERSCRIPT_BUG = (
    "Outbox.stream tests Last-Event-ID with str.isdigit(), which is true for characters int() "
    "refuses (superscripts such as '²', which a latin-1 header byte 0xB2 decodes to): "
    "int() raises ValueError inside the stream, so a GET with such a Last-Event-ID crashes "
    "the response instead of replaying nothing"
)


@pytest.mark.parametrize("garbage", ["²", "1²", "①"])
async def test_a_last_event_id_of_digit_like_characters_replays_nothing(garbage: str) -> None:
    outbox = await filled(2)
    await take(outbox, 2)
    await outbox.send(b"m3")
    assert await take(outbox, 1, last_event_id=garbage) == [("3", b"m3")]


async def test_replay_keeps_only_the_most_recent_messages() -> None:
    outbox = await filled(REPLAY + 10)
    await take(outbox, REPLAY + 10)
    replayed = await take(outbox, REPLAY, last_event_id="0")
    assert replayed[0][0] == "11"
    assert replayed[-1][0] == str(REPLAY + 10)


async def test_an_unread_backlog_is_bounded_dropping_the_oldest() -> None:
    outbox = await filled(BACKLOG + 5)
    first = await take(outbox, 1)
    assert first == [("6", b"m6")]


async def test_closing_ends_the_stream_after_what_was_pending() -> None:
    outbox = await filled(1)
    outbox.close()
    await outbox.send(b"after-close")
    with anyio.fail_after(WAIT):
        assert [event async for event in outbox.stream()] == [("1", b"m1")]


async def test_closing_wakes_a_waiting_reader() -> None:
    outbox = Outbox()
    ended = anyio.Event()

    async def read() -> None:
        async for _ in outbox.stream():
            raise AssertionError("nothing was sent")
        ended.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        await anyio.lowlevel.checkpoint()
        outbox.close()
        with anyio.fail_after(WAIT):
            await ended.wait()


# through GET on the endpoint ---------------------------------------------------------------------


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with running_face() as rig:
        yield rig


async def test_last_event_id_replays_the_standalone_stream_over_http(rig: Rig) -> None:
    session_id = await rig.open_session()
    upstream = rig.upstreams.sessions[0]
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session_id}
    async with streaming(rig.app, "GET", rig.path, headers) as stream:
        for number in (1, 2, 3):
            upstream.push(notification("notifications/message", {"data": number}))
        seen = [await stream.event() for _ in range(3)]
    assert [event.id for event in seen] == ["1", "2", "3"]
    upstream.push(notification("notifications/message", {"data": 4}))
    resumed = {**headers, "Last-Event-ID": "1"}
    async with streaming(rig.app, "GET", rig.path, resumed) as stream:
        assert stream.status == 200
        replay = [await stream.event() for _ in range(3)]
    assert [event.id for event in replay] == ["2", "3", "4"]
    assert [event.data for event in replay[:2]] == [event.data for event in seen[1:]]


async def test_a_last_event_id_header_byte_0xb2_does_not_crash_the_stream(rig: Rig) -> None:
    session_id = await rig.open_session()
    rig.upstreams.sessions[0].push(notification("notifications/message"))
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session_id}
    async with streaming(rig.app, "GET", rig.path, {**headers, "Last-Event-ID": "\xb2"}) as stream:
        assert stream.status == 200
        event = await stream.event()
    assert event.id == "1"


async def test_server_messages_wait_for_the_client_to_open_the_stream(rig: Rig) -> None:
    session_id = await rig.open_session()
    rig.upstreams.sessions[0].push(notification("notifications/tools/list_changed"))
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session_id}
    async with streaming(rig.app, "GET", rig.path, headers) as stream:
        event = await stream.event()
    assert (event.id, event.event) == ("1", "message")
    assert b"notifications/tools/list_changed" in event.data


async def test_deleting_the_session_ends_its_open_stream(rig: Rig) -> None:
    session_id = await rig.open_session()
    headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session_id}
    async with streaming(rig.app, "GET", rig.path, headers) as stream:
        rig.upstreams.sessions[0].push(notification("notifications/message"))
        await stream.event()
        deleted = await rig.client.delete(rig.path, headers={"Mcp-Session-Id": session_id})
        assert deleted.status_code == 200
        assert await stream.body() == b""  # the stream ends by itself
