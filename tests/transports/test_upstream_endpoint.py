"""UpstreamEndpoint: an UpstreamSession driven like the byte-stream endpoint of the relay."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import orjson
import pytest
from tests.e2e.http_servers import everything_http

from toolgate.errors import UpstreamError
from toolgate.transports.http_upstream import HttpUpstream
from toolgate.transports.upstream import JsonId, UpstreamMessage
from toolgate.transports.upstream_endpoint import UpstreamEndpoint

pytestmark = pytest.mark.anyio
WAIT = 20.0


class FakeSession:
    """Answers each request with the messages scripted for its method; records the rest."""

    def __init__(self, script: dict[str, list[UpstreamMessage] | UpstreamError]) -> None:
        self.script = script
        self.notified: list[bytes] = []
        self.closed = 0
        self.server = anyio.Event()
        self.server_sent = False

    async def request(
        self, data: bytes, request_id: JsonId, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        answer = self.script[orjson.loads(data)["method"]]
        if isinstance(answer, UpstreamError):
            raise answer
        for message in answer:
            yield message

    async def notify(self, data: bytes) -> None:
        self.notified.append(data)

    async def server_messages(
        self, last_event_id: str | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        self.server_sent = True
        yield UpstreamMessage(b'{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}')
        await self.server.wait()

    async def aclose(self) -> None:
        self.closed += 1


def request(msg_id: Any, method: str) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method})


async def lines(endpoint: UpstreamEndpoint, count: int) -> list[dict[str, Any]]:
    out = []
    with anyio.fail_after(WAIT):
        for _ in range(count):
            data = await endpoint.receive()
            assert data.endswith(b"\n")
            out.append(orjson.loads(data))
    return out


INIT_RESULT = b'{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25"}}'


async def test_a_request_relays_every_message_then_the_final_answer_with_newlines() -> None:
    progress = b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}'
    answer = b'{"jsonrpc":"2.0","id":"a","result":{"x":1}}'
    session = FakeSession(
        {"tools/call": [UpstreamMessage(progress), UpstreamMessage(answer, final=True)]}
    )
    async with UpstreamEndpoint(session) as endpoint:
        await endpoint.send(request("a", "tools/call"))
        with anyio.fail_after(WAIT):
            assert await endpoint.receive() == progress + b"\n"
            assert await endpoint.receive() == answer + b"\n"
    assert session.closed == 1


async def test_an_upstream_failure_becomes_an_internal_error_for_that_request() -> None:
    session = FakeSession({"tools/list": UpstreamError("upstream http://x/mcp is down")})
    async with UpstreamEndpoint(session) as endpoint:
        await endpoint.send(request(7, "tools/list"))
        [reply] = await lines(endpoint, 1)
    assert reply == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32603, "message": "upstream http://x/mcp is down"},
    }


async def test_an_error_status_answer_without_the_id_is_given_the_request_id() -> None:
    body = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request"}}'
    session = FakeSession({"tools/list": [UpstreamMessage(body, final=True, status=400)]})
    async with UpstreamEndpoint(session) as endpoint:
        await endpoint.send(request(3, "tools/list"))
        [reply] = await lines(endpoint, 1)
    assert reply["id"] == 3 and reply["error"]["code"] == -32000


async def test_notifications_and_responses_go_to_notify() -> None:
    session = FakeSession({})
    note = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
    response = b'{"jsonrpc":"2.0","id":"s1","result":{}}'
    async with UpstreamEndpoint(session) as endpoint:
        await endpoint.send(note)
        await endpoint.send(response)
    assert session.notified == [note, response]


async def test_server_messages_are_relayed_once_initialize_is_answered() -> None:
    session = FakeSession({"initialize": [UpstreamMessage(INIT_RESULT, final=True)]})
    async with UpstreamEndpoint(session) as endpoint:
        assert not session.server_sent
        await endpoint.send(request(0, "initialize"))
        answer, pushed = await lines(endpoint, 2)
    assert answer["result"]["protocolVersion"] == "2025-11-25"
    assert pushed["method"] == "notifications/tools/list_changed"


async def test_without_a_handshake_server_messages_are_relayed_at_once() -> None:
    session = FakeSession({})
    async with UpstreamEndpoint(session, handshake=False) as endpoint:
        [pushed] = await lines(endpoint, 1)
    assert pushed["method"] == "notifications/tools/list_changed"


@pytest.mark.parametrize(
    ("garbage", "expected"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"jsonrpc":"2.0","id":true,"method":"x"}', "id that is not a string or an integer"),
    ],
)
async def test_garbage_is_refused_with_a_clear_error(garbage: bytes, expected: str) -> None:
    async with UpstreamEndpoint(FakeSession({})) as endpoint:
        with pytest.raises(UpstreamError, match=expected):
            await endpoint.send(garbage)


async def test_closing_ends_receive_and_the_session_and_refuses_more() -> None:
    session = FakeSession({})
    async with UpstreamEndpoint(session) as endpoint:
        await endpoint.aclose()
        await endpoint.aclose()
        with anyio.fail_after(WAIT):
            assert await endpoint.receive() == b""
        with pytest.raises(UpstreamError, match="closed"):
            await endpoint.send(request(1, "ping"))
    assert session.closed == 1


@pytest.mark.e2e
async def test_the_everything_server_over_http_behaves_like_a_stdio_upstream() -> None:
    init = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
    )
    call = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "relay"}},
        }
    )
    async with (
        everything_http("streamableHttp") as url,
        HttpUpstream(url) as upstream,
        UpstreamEndpoint(upstream.open_session()) as endpoint,
    ):
        await endpoint.send(init)
        [answer] = await lines(endpoint, 1)
        assert answer["id"] == 0 and "serverInfo" in answer["result"]
        await endpoint.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        await endpoint.send(call)
        with anyio.fail_after(WAIT):
            while True:
                reply = orjson.loads(await endpoint.receive())
                if reply.get("id") == 1:
                    break
        assert reply["result"]["content"][0]["text"] == "Echo: relay"
