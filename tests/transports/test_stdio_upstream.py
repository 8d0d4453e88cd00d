"""StdioUpstream and StdioUpstreams against a real (tiny, scripted) Python child process."""

from __future__ import annotations

import contextlib
import gc
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from toolgate.errors import UpstreamError
from toolgate.transports.stdio_child import StdioChild
from toolgate.transports.stdio_upstream import StdioUpstream, StdioUpstreams
from toolgate.transports.upstream import JsonId, UpstreamMessage

pytestmark = pytest.mark.anyio

WAIT = 10.0
SCRIPT = Path(__file__).with_name("stdio_script_server.py")
COMMAND = (sys.executable, str(SCRIPT))


def request(msg_id: JsonId, method: str, **params: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})


def notification(method: str) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": method})


@contextlib.asynccontextmanager
async def started(
    *, remap_ids: bool = False, silence: float | None = None
) -> AsyncIterator[StdioUpstream]:
    child = await StdioChild.start(COMMAND)
    upstream = StdioUpstream(child, remap_ids=remap_ids, timeout=silence)
    async with anyio.create_task_group() as tg:
        tg.start_soon(upstream.run)
        try:
            yield upstream
        finally:
            with anyio.fail_after(WAIT), anyio.CancelScope(shield=True):
                await upstream.aclose()
            tg.cancel_scope.cancel()


async def collect(messages: AsyncIterator[UpstreamMessage]) -> list[UpstreamMessage]:
    with anyio.fail_after(WAIT):
        return [message async for message in messages]


def decoded(messages: list[UpstreamMessage]) -> list[dict[str, Any]]:
    return [orjson.loads(message.data) for message in messages]


async def first_server_message(upstream: StdioUpstream) -> bytes:
    with anyio.fail_after(WAIT):
        async for message in upstream.server_messages():
            return message.data
    raise AssertionError("the standalone stream ended without a message")


async def drain_together(*exchanges: AsyncIterator[UpstreamMessage]) -> list[list[UpstreamMessage]]:
    """Read every exchange concurrently (each sends its request when first read)."""
    results: list[list[UpstreamMessage]] = [[] for _ in exchanges]

    async def drain(index: int) -> None:
        results[index] = await collect(exchanges[index])

    async with anyio.create_task_group() as tg:
        for index in range(len(exchanges)):
            tg.start_soon(drain, index)
    return results


async def run_all(upstream: StdioUpstream, *requests: bytes) -> list[list[UpstreamMessage]]:
    """Send every request at once (registered in order, answered whenever the child likes)."""
    ids = [orjson.loads(data)["id"] for data in requests]
    return await drain_together(
        *(upstream.request(data, msg_id) for data, msg_id in zip(requests, ids, strict=True))
    )


# one request -------------------------------------------------------------------------------------


async def test_an_answer_keeps_the_clients_id_when_ids_are_not_remapped() -> None:
    async with started() as upstream:
        messages = await collect(upstream.request(request(7, "echo", who="a"), 7))
    assert [message.final for message in messages] == [True]
    answer = decoded(messages)[0]
    assert answer["id"] == 7
    assert answer["result"]["seen_id"] == 7


async def test_a_single_request_in_flight_receives_the_notifications_it_caused() -> None:
    async with started() as upstream:
        messages = await collect(upstream.request(request(1, "chatty", who="talk"), 1))
    assert [message.final for message in messages] == [False, True]
    note, answer = decoded(messages)
    assert note["method"] == "notifications/message"
    assert note["params"]["data"] == "talk"
    assert answer["id"] == 1


async def test_a_notification_from_the_client_reaches_the_child() -> None:
    async with started() as upstream:
        await upstream.notify(notification("notifications/initialized"))
        answer = decoded(await collect(upstream.request(request(2, "echo"), 2)))[-1]
    assert answer["result"]["notes"] == ["notifications/initialized"]


# several requests at once ------------------------------------------------------------------------


async def test_concurrent_answers_are_demultiplexed_by_id() -> None:
    async with started() as upstream:
        first, second, release = await run_all(
            upstream,
            request(1, "hold", who="first"),
            request("two", "hold", who="second"),
            request(3, "release", expect=2),
        )
    assert decoded(first)[-1]["result"] == {
        "method": "hold",
        "seen_id": 1,
        "who": "first",
        "notes": [],
    }
    assert decoded(second)[-1]["id"] == "two"
    assert decoded(second)[-1]["result"]["who"] == "second"
    assert decoded(release)[-1]["id"] == 3


async def test_progress_is_routed_to_the_request_whose_token_it_names() -> None:
    async with started() as upstream:
        first, second, _ = await run_all(
            upstream,
            request(1, "hold", who="first", _meta={"progressToken": "p-first"}),
            request(2, "hold", who="second", _meta={"progressToken": "p-second"}),
            request(3, "release", expect=2),
        )
    for messages, who in ((first, "first"), (second, "second")):
        progress, answer = decoded(messages)
        assert progress["method"] == "notifications/progress"
        assert progress["params"]["message"] == who
        assert answer["result"]["who"] == who


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # see the leak test below
async def test_a_duplicate_id_in_flight_is_refused_without_remapping() -> None:
    async with started() as upstream:
        held = upstream.request(request(1, "hold"), 1)
        with pytest.raises(UpstreamError) as caught:
            upstream.request(request(1, "echo"), 1)
        assert str(caught.value) == "request id 1 is already in flight upstream"
        del caught
        gc.collect()
        release = upstream.request(request(2, "release", expect=1), 2)
        answers = await drain_together(held, release)
    assert [[m["id"] for m in decoded(messages)] for messages in answers] == [[1], [2]]


@pytest.mark.parametrize(
    ("remap_ids", "data"),
    [(False, b'{"jsonrpc":"2.0","id":1,"method":"echo"}'), (True, b"{not json")],
    ids=["duplicate-id", "unreadable-request"],
)
async def test_a_refused_request_leaves_no_unclosed_stream_behind(
    remap_ids: bool, data: bytes
) -> None:
    async with started(remap_ids=remap_ids) as upstream:
        held = upstream.request(request(1, "hold"), 1)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with pytest.raises(UpstreamError) as caught:
                upstream.request(data, 1)
            del caught
            gc.collect()
        release = upstream.request(request(2, "release", expect=1), 2)
        await drain_together(held, release)
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []


# remapped ids (the shared stateless child) -------------------------------------------------------


async def test_remapped_ids_are_unique_upstream_and_restored_for_each_client() -> None:
    async with started(remap_ids=True) as upstream:
        first, second, release = await run_all(
            upstream,
            request(1, "hold", who="client-a"),
            request(1, "hold", who="client-b"),
            request(1, "release", expect=2),
        )
    answers = [decoded(messages)[-1] for messages in (first, second, release)]
    assert [answer["id"] for answer in answers] == [1, 1, 1]
    assert [answer["result"]["who"] for answer in answers[:2]] == ["client-a", "client-b"]
    seen = [answer["result"]["seen_id"] for answer in answers]
    assert len(set(seen)) == 3
    assert all(isinstance(wire, str) and wire.startswith("tg-") for wire in seen)


async def test_a_subscription_notification_is_restored_to_its_listen_requests_id() -> None:
    async with started(remap_ids=True) as upstream:
        held, listen, _ = await run_all(
            upstream,
            request("other", "hold"),
            request("sub-1", "listen"),
            request("rel", "release", expect=1),
        )
    tick, answer = decoded(listen)
    assert tick["method"] == "notifications/tick"
    assert tick["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"
    assert answer["id"] == "sub-1"
    assert [message["id"] for message in decoded(held)] == ["other"]


RESTORE_CRASH = (
    "StdioUpstream._route on a remapped (shared stateless) child passes every non-response it "
    "routes to an exchange through _restore_subscription, which indexes params['_meta'] "
    "unconditionally: a progress or log notification without _meta raises KeyError in run(), "
    "killing the reader (and the task group it runs in)"
)


async def test_a_log_notification_reaches_the_single_request_in_flight_on_the_shared_child() -> (
    None
):
    async with started(remap_ids=True) as upstream:
        messages = await collect(upstream.request(request(5, "chatty", who="talk"), 5))
    note, answer = decoded(messages)
    assert note == {
        "jsonrpc": "2.0",
        "method": "notifications/message",
        "params": {"level": "info", "data": "talk"},
    }
    assert answer["id"] == 5


async def test_progress_reaches_its_request_on_the_shared_child() -> None:
    async with started(remap_ids=True) as upstream:
        first, second, _ = await run_all(
            upstream,
            request(1, "hold", who="client-a", _meta={"progressToken": "pa"}),
            request(1, "hold", who="client-b", _meta={"progressToken": "pb"}),
            request(2, "release", expect=2),
        )
    assert [m.get("method") for m in decoded(first)] == ["notifications/progress", None]
    assert decoded(first)[0]["params"]["message"] == "client-a"
    assert decoded(second)[0]["params"]["message"] == "client-b"


async def test_equal_progress_tokens_of_two_clients_do_not_cross_on_the_shared_child() -> None:
    async with started(remap_ids=True) as upstream:
        first, second, _ = await run_all(
            upstream,
            request(1, "hold", who="client-a", _meta={"progressToken": 1}),
            request(1, "hold", who="client-b", _meta={"progressToken": 1}),
            request(2, "release", expect=2),
        )
    progress_a = [m["params"]["message"] for m in decoded(first) if "method" in m]
    progress_b = [m["params"]["message"] for m in decoded(second) if "method" in m]
    assert (progress_a, progress_b) == (["client-a"], ["client-b"])


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # see the leak test above
async def test_a_request_that_cannot_be_read_is_refused_when_ids_are_remapped() -> None:
    async with started(remap_ids=True) as upstream:
        with pytest.raises(UpstreamError) as caught:
            upstream.request(b"{not json", 1)
        assert str(caught.value) == "cannot forward a request toolgate cannot read"
        del caught
        gc.collect()


# the standalone stream ---------------------------------------------------------------------------


async def test_a_server_notification_with_nothing_in_flight_goes_to_server_messages() -> None:
    async with started() as upstream:
        await upstream.notify(notification("notifications/poke"))
        data = await first_server_message(upstream)
    assert orjson.loads(data)["params"]["data"] == "poked"


async def test_a_server_notification_with_several_in_flight_goes_to_server_messages() -> None:
    async with started() as upstream:
        first = upstream.request(request(1, "hold"), 1)
        second = upstream.request(request(2, "hold"), 2)
        await upstream.notify(notification("notifications/poke"))
        poked = await first_server_message(upstream)
        release = upstream.request(request(3, "release", expect=2), 3)
        answers = await drain_together(first, second, release)
    assert orjson.loads(poked)["method"] == "notifications/message"
    assert [[m["id"] for m in decoded(messages)] for messages in answers] == [[1], [2], [3]]


async def test_a_line_that_is_not_json_goes_to_server_messages_as_sent() -> None:
    async with started() as upstream:
        await upstream.notify(notification("notifications/garbage"))
        assert await first_server_message(upstream) == b"this line is not JSON"


async def test_a_response_to_an_id_nobody_asked_goes_to_server_messages() -> None:
    async with started() as upstream:
        await upstream.notify(notification("notifications/stray"))
        assert orjson.loads(await first_server_message(upstream))["id"] == "nobody-asked"


# the child exiting -------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # see the leak test below
async def test_a_child_that_exits_mid_request_fails_every_open_exchange() -> None:
    async with started() as upstream:
        held = upstream.request(request(1, "hold"), 1)
        exiting = upstream.request(request(2, "exit"), 2)
        failures: list[str] = []

        async def expect_failure(exchange: AsyncIterator[UpstreamMessage]) -> None:
            with pytest.raises(UpstreamError) as caught:
                await collect(exchange)
            failures.append(str(caught.value))

        async with anyio.create_task_group() as tg:
            tg.start_soon(expect_failure, held)
            tg.start_soon(expect_failure, exiting)
        assert not upstream.alive
        assert failures == [f"upstream server `{' '.join(COMMAND)}` exited before answering"] * 2
        with pytest.raises(UpstreamError, match="has exited"):
            await collect(upstream.request(request(3, "echo"), 3))
        gc.collect()
        with anyio.fail_after(WAIT):
            leftovers = [message async for message in upstream.server_messages()]
    assert leftovers == []


async def test_a_request_to_an_exited_child_leaves_no_unclosed_stream_behind() -> None:
    async with started() as upstream:
        with pytest.raises(UpstreamError, match="exited before answering"):
            await collect(upstream.request(request(1, "exit"), 1))
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with pytest.raises(UpstreamError, match="has exited") as caught:
                await collect(upstream.request(request(2, "echo"), 2))
            del caught
            gc.collect()
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []


async def test_a_child_silent_for_longer_than_the_timeout_fails_the_request() -> None:
    async with started(silence=0.2) as upstream:
        with pytest.raises(UpstreamError, match=r"sent nothing for 0\.2 s"):
            await collect(upstream.request(request(1, "hold"), 1))
        assert upstream.alive  # the child itself is fine: the next request is answered
        answer = decoded(await collect(upstream.request(request(2, "echo"), 2)))[-1]
    assert answer["id"] == 2


# the factory -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def factory(command: tuple[str, ...] = COMMAND) -> AsyncIterator[StdioUpstreams]:
    upstreams = StdioUpstreams(command)
    async with anyio.create_task_group() as tg:
        upstreams.bind(tg)
        try:
            yield upstreams
        finally:
            with anyio.fail_after(WAIT), anyio.CancelScope(shield=True):
                await upstreams.aclose()


async def test_each_handshake_session_gets_a_child_of_its_own() -> None:
    async with factory() as upstreams:
        first, second = await upstreams.session(), await upstreams.session()
        assert first.child.process.pid != second.child.process.pid
        answer = decoded(await collect(first.request(request(1, "echo"), 1)))[-1]
        assert answer["result"]["seen_id"] == 1  # a session's ids are not remapped
    assert first.child.process.returncode is not None
    assert second.child.process.returncode is not None


async def test_stateless_requests_share_one_remapped_child_restarted_after_it_exits() -> None:
    async with factory() as upstreams:
        shared = await upstreams.stateless()
        assert await upstreams.stateless() is shared
        answer = decoded(await collect(shared.request(request(1, "echo"), 1)))[-1]
        assert answer["id"] == 1
        assert str(answer["result"]["seen_id"]).startswith("tg-")
        with pytest.raises(UpstreamError, match="exited before answering"):
            await collect(shared.request(request(2, "exit"), 2))
        restarted = await upstreams.stateless()
        assert restarted is not shared
        assert restarted.child.process.pid != shared.child.process.pid
        answer = decoded(await collect(restarted.request(request(3, "echo"), 3)))[-1]
        assert answer["id"] == 3


async def test_a_command_that_cannot_start_is_an_upstream_error_naming_it() -> None:
    missing = ("/nonexistent/toolgate-test-server", "--flag")
    async with factory(missing) as upstreams:
        with pytest.raises(UpstreamError, match="cannot start upstream server `/nonexistent"):
            await upstreams.session()
        with pytest.raises(UpstreamError, match="cannot start upstream server"):
            await upstreams.stateless()
