"""The session table of one server: opening within a limit, ownership, idle reaping, closing;
and the same limits as the HTTP face reports them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from tests.httpface.fakes import (
    ALICE,
    BOB,
    DenyTool,
    FakeUpstreams,
    assert_refused,
    default_answer,
    initialize,
    progress,
    request,
    running_face,
    tool_call,
    wait_until,
)
from toolgate.errors import UpstreamError
from toolgate.httpface.guard import FaceLimits
from toolgate.httpface.sessions import SessionLimitError, SessionTable
from toolgate.identity.principal import Principal
from toolgate.jsonrpc.message import Message
from toolgate.pipeline.types import Interceptor
from toolgate.transports.upstream import UpstreamMessage

pytestmark = pytest.mark.anyio

IDLE = 60.0


class Tables:
    def __init__(self, tg: anyio.abc.TaskGroup, max_sessions: int = 3) -> None:
        self.upstreams = FakeUpstreams()
        self.asked: list[Principal | None] = []
        self.table = SessionTable(
            self.upstreams,
            self._interceptors,
            max_sessions=max_sessions,
            idle_seconds=IDLE,
            advertise_tools_list_changed=False,
        )
        self.table.bind(tg)

    def _interceptors(self, principal: Principal | None) -> tuple[Interceptor, ...]:
        self.asked.append(principal)
        return (DenyTool("secret"),)


@pytest.fixture
async def tables() -> AsyncIterator[Tables]:
    async with anyio.create_task_group() as tg:
        tables = Tables(tg)
        yield tables
        await tables.table.aclose()
        tg.cancel_scope.cancel()


async def test_an_opened_session_is_bound_to_its_identity(tables: Tables) -> None:
    entry = await tables.table.open(ALICE)
    assert tables.table.get(entry.id) is entry
    assert entry.session.identity == "alice"
    assert entry.session.identity_attributes == {"team": "a"}
    assert entry.session.id.startswith("ses_")
    assert entry.id not in entry.session.id  # the counter name is not the bearer session id
    assert tables.asked == [ALICE]
    assert entry.upstream is tables.upstreams.sessions[0]


@pytest.mark.parametrize(
    ("owner", "caller", "owned"),
    [
        (None, None, True),
        (ALICE, ALICE, True),
        (ALICE, Principal("alice", {"team": "other"}, grant_id="grant-alice"), True),
        (ALICE, BOB, False),
        (ALICE, None, False),
        (None, ALICE, False),
        (ALICE, Principal("alice", grant_id="another-grant"), False),
    ],
)
async def test_only_the_identity_that_opened_a_session_owns_it(
    tables: Tables, owner: Principal | None, caller: Principal | None, owned: bool
) -> None:
    entry = await tables.table.open(owner)
    assert entry.owned_by(caller) is owned


async def test_session_ids_are_unguessable_and_distinct(tables: Tables) -> None:
    ids = {(await tables.table.open(None)).id for _ in range(3)}
    assert len(ids) == 3
    assert all(len(session_id) >= 32 for session_id in ids)


async def test_the_session_limit_is_refused_without_opening_an_upstream(tables: Tables) -> None:
    for _ in range(3):
        await tables.table.open(None)
    with pytest.raises(SessionLimitError, match="already has 3 sessions"):
        await tables.table.open(None)
    assert len(tables.upstreams.sessions) == 3
    assert len(tables.table) == 3


async def test_an_idle_session_is_reaped_and_its_upstream_closed(tables: Tables) -> None:
    idle, busy = await tables.table.open(None), await tables.table.open(None)
    idle.last_used -= IDLE + 1
    assert tables.table.reap() == 1
    assert tables.table.get(idle.id) is None
    assert tables.table.get(busy.id) is busy
    await wait_until(lambda: tables.upstreams.sessions[0].closed, "the idle upstream closed")
    assert idle.closed and idle.done.is_set()
    assert not tables.upstreams.sessions[1].closed


async def test_a_session_in_flight_or_streaming_is_not_reaped(tables: Tables) -> None:
    working, streaming = await tables.table.open(None), await tables.table.open(None)
    working.in_flight = 1
    streaming.outbox.attached = True
    for entry in (working, streaming):
        entry.last_used -= IDLE + 1
    assert tables.table.reap() == 0
    assert len(tables.table) == 2


async def test_a_full_table_makes_room_by_reaping_idle_sessions(tables: Tables) -> None:
    entries = [await tables.table.open(None) for _ in range(3)]
    entries[1].last_used -= IDLE + 1
    fresh = await tables.table.open(None)
    assert tables.table.get(entries[1].id) is None
    assert tables.table.get(fresh.id) is fresh
    assert len(tables.table) == 3


async def test_using_a_session_keeps_it_alive(tables: Tables) -> None:
    entry = await tables.table.open(None)
    entry.last_used -= IDLE + 1
    assert tables.table.get(entry.id) is entry  # the lookup of a request refreshes it
    assert tables.table.reap() == 0


async def test_closing_a_session_closes_its_upstream_and_its_outbox(tables: Tables) -> None:
    entry = await tables.table.open(None)
    assert await tables.table.close(entry.id) is True
    assert entry.closed and entry.done.is_set()
    await wait_until(lambda: tables.upstreams.sessions[0].closed, "the upstream session closed")
    assert await tables.table.close(entry.id) is False
    assert await tables.table.close("never-existed") is False
    with anyio.fail_after(5):
        assert [item async for item in entry.outbox.stream()] == []


async def test_an_upstream_that_cannot_open_registers_no_session(tables: Tables) -> None:
    tables.upstreams.refuse = UpstreamError("cannot start upstream server `x`")
    with pytest.raises(UpstreamError, match="cannot start"):
        await tables.table.open(None)
    assert len(tables.table) == 0


async def test_the_upstreams_server_messages_are_pumped_into_the_outbox(tables: Tables) -> None:
    entry = await tables.table.open(None)
    tables.upstreams.sessions[0].push({"jsonrpc": "2.0", "method": "notifications/message"})
    with anyio.fail_after(5):
        async for event_id, data in entry.outbox.stream():
            assert event_id == "1"
            assert b"notifications/message" in data
            break


async def test_closing_the_table_closes_every_session(tables: Tables) -> None:
    entries = [await tables.table.open(None) for _ in range(3)]
    await tables.table.aclose()
    assert len(tables.table) == 0
    assert all(entry.closed for entry in entries)
    assert all(session.closed for session in tables.upstreams.sessions)


# through the HTTP face ---------------------------------------------------------------------------


async def test_initialize_beyond_the_session_limit_is_503_with_a_jsonrpc_error() -> None:
    async with running_face(limits=FaceLimits(max_sessions=2)) as rig:
        await rig.open_session()
        await rig.open_session()
        response = await rig.post(initialize(9))
        assert_refused(response, 503, says="Service Unavailable")
        assert response.json()["id"] == 9
        assert len(rig.upstreams.sessions) == 2


async def test_a_deleted_session_frees_its_place() -> None:
    async with running_face(limits=FaceLimits(max_sessions=1)) as rig:
        session_id = await rig.open_session()
        assert (
            await rig.client.delete(rig.path, headers={"Mcp-Session-Id": session_id})
        ).is_success
        assert (await rig.post(initialize())).status_code == 200


async def test_too_many_requests_in_flight_on_one_session_is_429() -> None:
    release = anyio.Event()

    async def slow(message: Message) -> AsyncIterator[UpstreamMessage]:
        if message.method == "tools/call":
            await release.wait()
        async for item in default_answer(message):
            yield item

    async with running_face(limits=FaceLimits(max_in_flight=1), answer=slow) as rig:
        session_id = await rig.open_session()
        entry = rig.served.table.get(session_id)
        assert entry is not None
        # initialize's count lingers until its generator is finalized (see the xfail below)
        await wait_until(lambda: entry.in_flight == 0, "the initialize is no longer in flight")
        statuses: list[int] = []

        async def call() -> None:
            statuses.append((await rig.post(tool_call(1, "echo"), session=session_id)).status_code)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await wait_until(lambda: rig.upstreams.methods()[-1] == "tools/call", "in flight")
            refused = await rig.post(tool_call(2, "echo"), session=session_id)
            assert_refused(refused, 429, says="Too Many Requests")
            assert refused.json()["id"] == 2
            release.set()
        assert statuses == [200]
        assert rig.upstreams.methods().count("tools/call") == 1


async def progress_first(message: Message) -> AsyncIterator[UpstreamMessage]:
    if message.method == "tools/call":
        yield progress("tok")
    async for item in default_answer(message):
        yield item


@pytest.mark.parametrize("first", ["initialize", "json-only-streamed-call"])
async def test_a_finished_request_no_longer_counts_as_in_flight(first: str) -> None:
    limits = FaceLimits(max_in_flight=1)
    async with running_face(limits=limits, answer=progress_first) as rig:
        answer = await rig.post(initialize())
        session_id = answer.headers["mcp-session-id"]
        entry = rig.served.table.get(session_id)
        assert entry is not None
        if first == "json-only-streamed-call":
            await wait_until(lambda: entry.in_flight == 0, "the initialize settled")
            done = await rig.post(
                tool_call(1, "echo"), session=session_id, headers={"Accept": "application/json"}
            )
            assert done.status_code == 200
        assert entry.in_flight == 0
        response = await rig.post(request(2, "ping"), session=session_id)
        assert response.status_code == 200, response.text
