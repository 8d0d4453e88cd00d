"""The deprecated HTTP+SSE transport: `GET /mcp/<name>/sse` opens a session whose answers all
travel on that stream; messages are POSTed to the endpoint its first event names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from tests.httpface.fakes import (
    ALICE,
    BOB,
    OpenStream,
    Rig,
    TokenAuthenticator,
    assert_refused,
    bearer,
    default_answer,
    initialize,
    notification,
    request,
    running_face,
    streaming,
    tool_call,
    wait_until,
)
from toolgate.errors import UpstreamError
from toolgate.httpface.guard import FaceLimits
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import Message
from toolgate.transports.upstream import UpstreamMessage

pytestmark = pytest.mark.anyio

SSE = {"Accept": "text/event-stream"}


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with running_face() as rig:
        yield rig


async def endpoint_of(stream: OpenStream) -> str:
    event = await stream.event()
    assert event.event == "endpoint"
    return event.data.decode()


def session_of(endpoint: str) -> str:
    return parse_qs(urlsplit(endpoint).query)["session_id"][0]


async def test_the_stream_opens_a_session_and_names_its_message_endpoint(rig: Rig) -> None:
    async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        endpoint = await endpoint_of(stream)
        assert endpoint.startswith("/mcp/files/messages?session_id=")
        assert rig.served.table.get(session_of(endpoint)) is not None
        assert len(rig.upstreams.sessions) == 1


async def test_every_answer_arrives_on_the_stream_and_the_post_is_202(rig: Rig) -> None:
    async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
        endpoint = await endpoint_of(stream)
        posted = await rig.post(initialize(1), path=endpoint)
        assert posted.status_code == 202
        answer = await stream.message()
        assert answer["id"] == 1
        assert answer["result"]["serverInfo"]["name"] == "fake-upstream"
        done = await rig.post(notification("notifications/initialized"), path=endpoint)
        assert done.status_code == 202
        await rig.post(tool_call(2, "echo"), path=endpoint)
        called = await stream.message()
    assert called["result"]["content"][0]["text"] == "called echo"
    assert rig.upstreams.methods() == ["initialize", "notifications/initialized", "tools/call"]


async def test_a_denied_call_is_injected_into_the_stream_and_never_forwarded(rig: Rig) -> None:
    async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
        endpoint = await endpoint_of(stream)
        posted = await rig.post(tool_call(5, "secret"), path=endpoint)
        assert posted.status_code == 202
        denial = await stream.message()
    assert denial["id"] == 5
    assert denial["result"]["isError"] is True
    assert "secret is not allowed here" in denial["result"]["content"][0]["text"]
    assert rig.upstreams.sent == []


async def test_a_cancellation_of_a_locally_answered_request_is_not_forwarded(rig: Rig) -> None:
    async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
        endpoint = await endpoint_of(stream)
        await rig.post(tool_call(5, "secret"), path=endpoint)
        await stream.message()
        cancel = notification("notifications/cancelled", {"requestId": 5})
        response = await rig.post(cancel, path=endpoint)
    assert response.status_code == 202
    assert rig.upstreams.sent == []


async def test_an_upstream_failure_arrives_on_the_stream_as_a_jsonrpc_error(rig: Rig) -> None:
    async def failing(message: Message) -> AsyncIterator[UpstreamMessage]:
        if message.method == "tools/call":
            raise UpstreamError("upstream server `fake` is gone")
        async for item in default_answer(message):
            yield item

    rig.upstreams.answer = failing
    async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
        endpoint = await endpoint_of(stream)
        await rig.post(tool_call(6, "echo"), path=endpoint)
        failure = await stream.message()
    assert failure["id"] == 6
    assert failure["error"] == {
        "code": codes.INTERNAL_ERROR,
        "message": "upstream server `fake` is gone",
    }
    assert [hooked.obj for hooked in rig.deny.hooked] == [failure]


async def test_server_messages_of_the_upstream_join_the_stream(rig: Rig) -> None:
    async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
        await endpoint_of(stream)
        rig.upstreams.sessions[0].push(notification("notifications/tools/list_changed"))
        pushed = await stream.message()
    assert pushed["method"] == "notifications/tools/list_changed"


async def test_the_session_ends_when_its_stream_closes(rig: Rig) -> None:
    async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
        endpoint = await endpoint_of(stream)
    await wait_until(lambda: rig.upstreams.sessions[0].closed, "the upstream session closed")
    assert len(rig.served.table) == 0
    response = await rig.post(tool_call(1, "echo"), path=endpoint)
    assert_refused(response, 404, says="Session not found")
    assert rig.upstreams.sent == []


async def test_the_sessionid_spelling_of_the_query_parameter_is_accepted(rig: Rig) -> None:
    async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
        session_id = session_of(await endpoint_of(stream))
        path = f"{rig.path}/messages?sessionId={session_id}"
        assert (await rig.post(request(3, "ping"), path=path)).status_code == 202
        assert (await stream.message())["id"] == 3


# garbage -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?session_id=", "?other=1"])
async def test_a_message_without_a_session_id_is_400(rig: Rig, query: str) -> None:
    response = await rig.post(tool_call(1, "echo"), path=f"{rig.path}/messages{query}")
    assert_refused(response, 400, says="session_id query parameter is required")
    assert rig.upstreams.sent == []


async def test_a_message_for_an_unknown_session_is_404(rig: Rig) -> None:
    response = await rig.post(tool_call(1, "echo"), path=f"{rig.path}/messages?session_id=nope")
    assert_refused(response, 404, says="Session not found")
    assert rig.upstreams.sent == []


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {}, 400, codes.PARSE_ERROR),
        (b"[]", {}, 400, codes.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping"}', {"Content-Type": "text/plain"}, 415, -32000),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping"}', {"Accept": "text/html"}, 406, -32000),
        (b" " * 5000, {}, 413, -32000),
    ],
)
async def test_a_garbage_message_is_refused_on_the_post_and_not_forwarded(
    body: bytes, headers: dict[str, str], status: int, code: int
) -> None:
    async with running_face(limits=FaceLimits(max_body_bytes=2048)) as rig:
        async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
            endpoint = await endpoint_of(stream)
            response = await rig.post(body, path=endpoint, headers=headers)
            assert_refused(response, status, code=code)
        assert rig.upstreams.sent == []


async def test_a_message_for_another_identitys_session_is_403() -> None:
    authenticator = TokenAuthenticator({"alice": ALICE, "bob": BOB})
    async with running_face(authenticator=authenticator) as rig:
        headers = {**SSE, **bearer("alice")}
        async with streaming(rig.app, "GET", f"{rig.path}/sse", headers) as stream:
            endpoint = await endpoint_of(stream)
            response = await rig.post(tool_call(1, "echo"), path=endpoint, headers=bearer("bob"))
            assert_refused(response, 403, says="belongs to another identity")
            mine = await rig.post(tool_call(2, "echo"), path=endpoint, headers=bearer("alice"))
            assert mine.status_code == 202
            assert (await stream.message())["id"] == 2
        assert rig.upstreams.methods() == ["tools/call"]


async def test_a_stream_whose_upstream_cannot_start_is_502(rig: Rig) -> None:
    rig.upstreams.refuse = UpstreamError("cannot start upstream server `fake`: No such file")
    response = await rig.client.get(f"{rig.path}/sse", headers=SSE)
    assert_refused(response, 502, says="cannot start upstream server")
    assert len(rig.served.table) == 0


async def test_a_stream_beyond_the_session_limit_is_503() -> None:
    async with running_face(limits=FaceLimits(max_sessions=1)) as rig:
        async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
            await endpoint_of(stream)
            response = await rig.client.get(f"{rig.path}/sse", headers=SSE)
            assert_refused(response, 503, says="already has 1 sessions")
        assert len(rig.upstreams.sessions) == 1


async def test_too_many_requests_in_flight_on_one_session_is_429() -> None:
    release = anyio.Event()

    async def slow(message: Message) -> AsyncIterator[UpstreamMessage]:
        if message.method == "tools/call":
            await release.wait()
        async for item in default_answer(message):
            yield item

    async with running_face(limits=FaceLimits(max_in_flight=1), answer=slow) as rig:
        async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
            endpoint = await endpoint_of(stream)
            assert (await rig.post(tool_call(1, "echo"), path=endpoint)).status_code == 202
            await wait_until(lambda: rig.upstreams.methods() == ["tools/call"], "forwarded")
            response = await rig.post(tool_call(2, "echo"), path=endpoint)
            assert_refused(response, 429, says="Too Many Requests")
            release.set()
            assert (await stream.message())["id"] == 1
        assert rig.upstreams.methods() == ["tools/call"]
