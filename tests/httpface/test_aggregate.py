"""The aggregated endpoint: several served servers' tools behind one URL, renamed
`<server>__<tool>`, each call decided by its own server's chain, dead or slow members reported
and retried."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import orjson
import pytest

from tests.httpface.fakes import (
    BASE_URL,
    HOST,
    DenyTool,
    FakeUpstreams,
    Rig,
    assert_refused,
    default_answer,
    initialize,
    modern,
    modern_headers,
    notification,
    request,
    result_of,
    single_server_interceptors,
    streaming,
    tool_call,
    wait_until,
)
from toolgate.errors import UpstreamError
from toolgate.httpface.aggregate import (
    UNAVAILABLE_META_KEY,
    AggregateRouter,
    Member,
    NoUpstream,
)
from toolgate.httpface.app import build_app
from toolgate.httpface.guard import FaceLimits
from toolgate.httpface.served import Face, ServedServer
from toolgate.httpface.sessions import SessionTable
from toolgate.identity.principal import Principal
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import Message
from toolgate.pipeline.types import Interceptor
from toolgate.transports.upstream import UpstreamMessage

pytestmark = pytest.mark.anyio

PATH = "/mcp"
SLOW = 0.2  # a member's timeout in the tests that wait it out


@dataclass
class Aggregate:
    rig: Rig  # the aggregated endpoint (its `upstreams` is unused: NoUpstream)
    members: dict[str, FakeUpstreams]
    denies: dict[str, DenyTool]

    async def session(self) -> str:
        return await self.rig.open_session()

    async def call(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.rig.post(body, session=session_id)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


@contextlib.asynccontextmanager
async def aggregate(
    answers: dict[str, Any] | None = None, timeouts: dict[str, float] | None = None
) -> AsyncIterator[Aggregate]:
    limits = FaceLimits(hosts=frozenset({HOST}))
    members: dict[str, FakeUpstreams] = {}
    denies: dict[str, DenyTool] = {}
    served: dict[str, ServedServer] = {}
    roster: dict[str, Member] = {}
    for name in ("a", "b"):
        members[name] = FakeUpstreams((answers or {}).get(name, default_answer))
        denies[name] = DenyTool("secret")
        interceptors = single_server_interceptors(denies[name], [])
        member_table = SessionTable(
            members[name],
            interceptors,
            max_sessions=10,
            idle_seconds=60,
            advertise_tools_list_changed=True,
        )
        served[name] = ServedServer(name, members[name], interceptors, member_table)
        roster[name] = Member(name, members[name], interceptors, (timeouts or {}).get(name, 5.0))
    table: SessionTable

    def router(principal: Principal | None) -> tuple[Interceptor, ...]:
        return (AggregateRouter(roster, "__", principal, table.spawn),)

    nobody = NoUpstream()
    table = SessionTable(
        nobody, router, max_sessions=10, idle_seconds=60, advertise_tools_list_changed=False
    )
    endpoint = ServedServer("aggregate", nobody, router, table)
    app = build_app(served, Face(limits), aggregate=(PATH, endpoint))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            unused = FakeUpstreams()  # the endpoint's own upstream is NoUpstream
            rig = Rig(app, "aggregate", unused, endpoint, DenyTool("none"), client, route=PATH)
            yield Aggregate(rig, members, denies)


def tool_names(answer: dict[str, Any]) -> list[str]:
    return [tool["name"] for tool in answer["result"]["tools"]]


def text_of(answer: dict[str, Any]) -> str:
    return str(answer["result"]["content"][0]["text"])


# initialize and the small methods ----------------------------------------------------------------


async def test_initialize_is_answered_by_the_gateway_without_asking_any_member() -> None:
    async with aggregate() as agg:
        response = await agg.rig.post(initialize(1, "2025-06-18"))
        assert response.status_code == 200
        assert response.headers["mcp-session-id"]
        result = response.json()["result"]
        assert result["protocolVersion"] == "2025-06-18"
        assert result["serverInfo"]["name"] == "toolgate-aggregate"
        assert result["capabilities"]["tools"]["listChanged"] is True
        assert "a__" in result["instructions"] or "<server>__<tool>" in result["instructions"]
        assert all(member.sent == [] for member in agg.members.values())
        assert all(member.sessions == [] for member in agg.members.values())


@pytest.mark.parametrize("version", ["2099-01-01", "", None, 7])
async def test_an_unknown_requested_version_is_answered_with_the_latest(version: object) -> None:
    async with aggregate() as agg:
        body = initialize(1)
        body["params"]["protocolVersion"] = version
        response = await agg.rig.post(body)
        assert response.json()["result"]["protocolVersion"] == "2025-11-25"


@pytest.mark.parametrize(
    ("method", "result"),
    [
        ("ping", {}),
        ("resources/list", {"resources": []}),
        ("resources/templates/list", {"resourceTemplates": []}),
        ("prompts/list", {"prompts": []}),
    ],
)
async def test_the_small_methods_are_answered_locally(method: str, result: object) -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        assert (await agg.call(session_id, request(4, method)))["result"] == result
        assert all(member.sent == [] for member in agg.members.values())


@pytest.mark.parametrize("method", ["server/discover", "completion/complete", "no/such"])
async def test_other_methods_are_method_not_found(method: str) -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        answer = await agg.call(session_id, request(4, method))
        assert answer["error"]["code"] == codes.METHOD_NOT_FOUND
        assert all(member.sent == [] for member in agg.members.values())


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # see test_streamable's modern leak test
async def test_a_modern_request_is_told_the_endpoint_speaks_only_the_handshake_era() -> None:
    async with aggregate() as agg:
        body = modern(request(5, "tools/list"))
        response = await agg.rig.post(body, headers=modern_headers(body))
        error = assert_refused(response, 400, code=codes.UNSUPPORTED_PROTOCOL_VERSION)
        assert error["data"]["requested"] == "2026-07-28"
        assert "2025-11-25" in error["data"]["supported"]
        assert all(member.sent == [] for member in agg.members.values())


async def test_notifications_to_the_aggregate_reach_no_member() -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        await agg.call(session_id, request(1, "tools/list"))
        before = {name: list(member.sent) for name, member in agg.members.items()}
        cancel = notification("notifications/cancelled", {"requestId": 1})
        assert (await agg.rig.post(cancel, session=session_id)).status_code == 202
        assert {name: member.sent for name, member in agg.members.items()} == before


# tools/list --------------------------------------------------------------------------------------


async def test_tools_list_fans_out_and_renames_each_members_tools() -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        answer = await agg.call(session_id, request(2, "tools/list"))
        assert tool_names(answer) == ["a__echo", "a__secret", "b__echo", "b__secret"]
        assert "_meta" not in answer["result"]
        for member in agg.members.values():
            assert member.methods() == ["initialize", "notifications/initialized", "tools/list"]
            sent_initialize = orjson.loads(member.sent[0].data)
            assert sent_initialize["params"]["clientInfo"]["name"] == "test-client"
            assert sent_initialize["params"]["protocolVersion"] == "2025-11-25"


async def test_a_members_second_page_is_read_too() -> None:
    async def paged(message: Message) -> AsyncIterator[UpstreamMessage]:
        assert message.id is not None
        if message.method == "tools/list":
            params = message.params if isinstance(message.params, dict) else {}
            if params.get("cursor") == "page-2":
                yield result_of(message.id, {"tools": [{"name": "later"}]})
            else:
                yield result_of(message.id, {"tools": [{"name": "first"}], "nextCursor": "page-2"})
            return
        async for item in default_answer(message):
            yield item

    async with aggregate(answers={"a": paged}) as agg:
        session_id = await agg.session()
        answer = await agg.call(session_id, request(2, "tools/list"))
    assert tool_names(answer) == ["a__first", "a__later", "b__echo", "b__secret"]


async def test_a_dead_member_drops_out_of_the_list_and_is_named() -> None:
    async with aggregate() as agg:
        agg.members["b"].refuse = UpstreamError("cannot start upstream server `b`: gone")
        session_id = await agg.session()
        answer = await agg.call(session_id, request(2, "tools/list"))
    assert tool_names(answer) == ["a__echo", "a__secret"]
    unavailable = answer["result"]["_meta"][UNAVAILABLE_META_KEY]
    assert unavailable == {"b": "cannot start upstream server `b`: gone"}


async def test_a_member_that_refuses_initialize_is_named_unavailable() -> None:
    async def refusing(message: Message) -> AsyncIterator[UpstreamMessage]:
        assert message.id is not None
        yield UpstreamMessage(
            orjson.dumps(
                {"jsonrpc": "2.0", "id": message.id, "error": {"code": -1, "message": "nope"}}
            ),
            final=True,
        )

    async with aggregate(answers={"a": refusing}) as agg:
        session_id = await agg.session()
        answer = await agg.call(session_id, request(2, "tools/list"))
        assert tool_names(answer) == ["b__echo", "b__secret"]
        assert answer["result"]["_meta"][UNAVAILABLE_META_KEY] == {"a": "a refused: nope"}
        await wait_until(lambda: agg.members["a"].sessions[0].closed, "a's session closed")


async def test_a_slow_member_drops_out_of_the_list_within_its_timeout() -> None:
    never = anyio.Event()

    async def slow(message: Message) -> AsyncIterator[UpstreamMessage]:
        if message.method == "tools/list":
            await never.wait()
        async for item in default_answer(message):
            yield item

    async with aggregate(answers={"b": slow}, timeouts={"b": SLOW}) as agg:
        session_id = await agg.session()
        with anyio.fail_after(SLOW + 3):
            answer = await agg.call(session_id, request(2, "tools/list"))
        assert tool_names(answer) == ["a__echo", "a__secret"]
        reason = answer["result"]["_meta"][UNAVAILABLE_META_KEY]["b"]
        assert reason == f"no answer within {SLOW:g} s"
        await wait_until(lambda: agg.members["b"].sessions[0].closed, "b's session dropped")


async def test_a_member_comes_back_on_the_next_request_once_it_recovers() -> None:
    async with aggregate() as agg:
        agg.members["b"].refuse = UpstreamError("cannot start upstream server `b`")
        session_id = await agg.session()
        first = await agg.call(session_id, request(2, "tools/list"))
        assert "b" in first["result"]["_meta"][UNAVAILABLE_META_KEY]
        agg.members["b"].refuse = None
        second = await agg.call(session_id, request(3, "tools/list"))
    assert tool_names(second) == ["a__echo", "a__secret", "b__echo", "b__secret"]
    assert "_meta" not in second["result"]


async def test_a_member_session_that_broke_is_replaced_on_the_next_list() -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        await agg.call(session_id, request(2, "tools/list"))
        agg.members["b"].sessions[0].broken = UpstreamError("upstream server `b` has exited")
        broken = await agg.call(session_id, request(3, "tools/list"))
        assert "has exited" in broken["result"]["_meta"][UNAVAILABLE_META_KEY]["b"]
        again = await agg.call(session_id, request(4, "tools/list"))
        assert tool_names(again)[-2:] == ["b__echo", "b__secret"]
        assert len(agg.members["b"].sessions) == 2


# tools/call --------------------------------------------------------------------------------------


async def test_a_call_is_routed_to_its_member_under_the_tools_own_name() -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        answer = await agg.call(session_id, tool_call(7, "b__echo", text="hi"))
        assert answer["id"] == 7
        assert text_of(answer) == "called echo"
        calls = [orjson.loads(s.data) for s in agg.members["b"].sent if s.method == "tools/call"]
        assert calls == [
            {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "hi"}},
            }
        ]
        assert agg.members["a"].sent == []  # a member is reached only when needed


async def test_a_call_is_decided_by_its_own_members_policy() -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        answer = await agg.call(session_id, tool_call(8, "a__secret"))
        assert answer["result"]["isError"] is True
        assert "secret is not allowed here" in text_of(answer)
        assert "tools/call" not in agg.members["a"].methods()
        assert [m.obj["params"]["name"] for m in agg.denies["a"].decided] == ["secret"]
        assert agg.denies["b"].decided == []


@pytest.mark.parametrize("name", ["nope", "a__", "zz__echo", "a_echo", "__echo", 42, None])
async def test_a_call_to_a_name_no_member_has_is_invalid_params(name: object) -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        answer = await agg.call(session_id, request(9, "tools/call", {"name": name}))
        assert answer["error"]["code"] == codes.INVALID_PARAMS
        assert answer["error"]["message"] == f"Unknown tool: {name}"
        assert all(member.sent == [] for member in agg.members.values())


async def test_a_call_to_a_dead_member_is_an_error_result_naming_it_then_recovers() -> None:
    async with aggregate() as agg:
        agg.members["b"].refuse = UpstreamError("cannot start upstream server `b`")
        session_id = await agg.session()
        dead = await agg.call(session_id, tool_call(10, "b__echo"))
        assert dead["result"]["isError"] is True
        assert "server b is unavailable, so b__echo was not called" in text_of(dead)
        assert "cannot start upstream server `b`" in text_of(dead)
        agg.members["b"].refuse = None
        alive = await agg.call(session_id, tool_call(11, "b__echo"))
        assert text_of(alive) == "called echo"


async def test_a_call_to_a_slow_member_is_an_error_result_within_its_timeout() -> None:
    never = anyio.Event()

    async def slow(message: Message) -> AsyncIterator[UpstreamMessage]:
        if message.method == "tools/call":
            await never.wait()
        async for item in default_answer(message):
            yield item

    async with aggregate(answers={"b": slow}, timeouts={"b": SLOW}) as agg:
        session_id = await agg.session()
        with anyio.fail_after(SLOW + 3):
            answer = await agg.call(session_id, tool_call(12, "b__echo"))
        assert answer["result"]["isError"] is True
        assert (
            f"server b is unavailable, so b__echo was not called: no answer within {SLOW:g} s"
            in (text_of(answer))
        )


async def test_a_call_to_a_member_whose_session_broke_names_it_and_recovers() -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        assert text_of(await agg.call(session_id, tool_call(1, "b__echo"))) == "called echo"
        agg.members["b"].sessions[0].broken = UpstreamError("upstream server `b` has exited")
        broken = await agg.call(session_id, tool_call(2, "b__echo"))
        assert broken["result"]["isError"] is True
        assert "server b is unavailable" in text_of(broken)
        recovered = await agg.call(session_id, tool_call(3, "b__echo"))
        assert text_of(recovered) == "called echo"


async def test_concurrent_first_calls_to_a_member_share_one_member_session() -> None:
    gate = anyio.Event()

    async def gated(message: Message) -> AsyncIterator[UpstreamMessage]:
        if message.method == "initialize":
            await gate.wait()
        async for item in default_answer(message):
            yield item

    async with aggregate(answers={"b": gated}) as agg:
        session_id = await agg.session()
        async with anyio.create_task_group() as tg:
            tg.start_soon(agg.call, session_id, tool_call(1, "b__echo"))
            tg.start_soon(agg.call, session_id, tool_call(2, "b__echo"))
            await wait_until(lambda: len(agg.members["b"].sent) >= 1, "an initialize sent")
            gate.set()
        opened = agg.members["b"].sessions
        assert len(opened) == 1  # the second call waited for the first one's session
        await agg.rig.client.delete(PATH, headers={"Mcp-Session-Id": session_id})
        await wait_until(lambda: opened[0].closed, "the link closed")


# the aggregate session ---------------------------------------------------------------------------


async def test_ending_the_aggregate_session_ends_every_member_session() -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        await agg.call(session_id, request(2, "tools/list"))
        response = await agg.rig.client.delete(PATH, headers={"Mcp-Session-Id": session_id})
        assert response.status_code == 200
        members = [session for m in agg.members.values() for session in m.sessions]
        await wait_until(lambda: all(s.closed for s in members), "every member session closed")
        assert len(members) == 2


async def test_the_aggregate_speaks_legacy_sse_at_its_own_path() -> None:
    async with aggregate() as agg:
        headers = {"Accept": "text/event-stream"}
        async with streaming(agg.rig.app, "GET", f"{PATH}/sse", headers) as stream:
            endpoint = (await stream.event()).data.decode()
            assert endpoint.startswith(f"{PATH}/messages?session_id=")
            assert (await agg.rig.post(initialize(1), path=endpoint)).status_code == 202
            assert (await stream.message())["result"]["serverInfo"]["name"] == (
                "toolgate-aggregate"
            )
            await agg.rig.post(request(2, "tools/list"), path=endpoint)
            assert tool_names(await stream.message())[0] == "a__echo"


async def test_a_served_server_is_still_reached_beside_the_aggregate() -> None:
    async with aggregate() as agg:
        response = await agg.rig.post(initialize(1), path="/mcp/a")
        assert response.status_code == 200
        assert response.json()["result"]["serverInfo"]["name"] == "fake-upstream"
        assert agg.members["a"].methods() == ["initialize"]


# tool-list changes -------------------------------------------------------------------------------

LIST_CHANGED = "notifications/tools/list_changed"


def standalone_headers(session_id: str) -> dict[str, str]:
    return {"Accept": "text/event-stream", "Mcp-Session-Id": session_id}


async def test_the_aggregate_advertises_tool_list_changes() -> None:
    async with aggregate() as agg:
        response = await agg.rig.post(initialize())
    assert response.json()["result"]["capabilities"]["tools"] == {"listChanged": True}


async def test_a_members_tool_list_change_reaches_the_aggregates_client() -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        await agg.call(session_id, request(2, "tools/list"))
        headers = standalone_headers(session_id)
        async with streaming(agg.rig.app, "GET", PATH, headers) as stream:
            member = agg.members["b"].sessions[0]
            member.push(notification("notifications/message", {"level": "info", "data": "x"}))
            member.push(notification(LIST_CHANGED))
            assert (await stream.message())["method"] == LIST_CHANGED  # the log line stayed


async def test_a_member_dropping_out_and_coming_back_is_announced_each_time() -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        await agg.call(session_id, request(2, "tools/list"))
        headers = standalone_headers(session_id)
        async with streaming(agg.rig.app, "GET", PATH, headers) as stream:
            agg.members["b"].sessions[0].broken = UpstreamError("upstream server `b` has exited")
            gone = await agg.call(session_id, request(3, "tools/list"))
            assert tool_names(gone) == ["a__echo", "a__secret"]
            assert (await stream.message())["method"] == LIST_CHANGED
            still_gone = await agg.call(session_id, request(4, "tools/call", {"name": "x"}))
            assert "error" in still_gone
            back = await agg.call(session_id, request(5, "tools/list"))
            assert tool_names(back)[-2:] == ["b__echo", "b__secret"]
            assert (await stream.message())["method"] == LIST_CHANGED


async def test_an_unchanged_member_set_announces_nothing() -> None:
    async with aggregate() as agg:
        session_id = await agg.session()
        headers = standalone_headers(session_id)
        async with streaming(agg.rig.app, "GET", PATH, headers) as stream:
            for n in range(2, 5):
                assert len(tool_names(await agg.call(session_id, request(n, "tools/list")))) == 4
            agg.members["a"].sessions[0].push(notification(LIST_CHANGED))
            assert (await stream.message())["method"] == LIST_CHANGED  # the first thing said
