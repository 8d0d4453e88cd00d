from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import orjson
import pytest

from toolgate.jsonrpc.message import Message, error_response, result_response
from toolgate.pipeline.relay import Relay, RelayLimits
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Forward, Interceptor, Next, Outcome, Respond
from toolgate.transports.memory import MemoryEndpoint, memory_pair

pytestmark = pytest.mark.anyio


@dataclass
class Harness:
    client: MemoryEndpoint  # the test plays the MCP client here
    server: MemoryEndpoint  # ... and the upstream server here
    relay: Relay

    async def client_gets(self) -> dict[str, object]:
        with anyio.fail_after(5):
            return orjson.loads(await self.client.receive())

    async def server_gets(self) -> bytes:
        with anyio.fail_after(5):
            return (await self.server.receive()).rstrip(b"\n")


@asynccontextmanager
async def relay_running(
    *interceptors: Interceptor, advertise: bool = False, max_line: int = 1 << 20
) -> AsyncIterator[Harness]:
    client_side, relay_client = memory_pair()
    server_side, relay_upstream = memory_pair()
    relay = Relay(
        relay_client,
        relay_upstream,
        interceptors,
        limits=RelayLimits(max_line=max_line),
        advertise_tools_list_changed=advertise,
    )
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(relay.run)
            yield Harness(client_side, server_side, relay)
            tg.cancel_scope.cancel()
    finally:
        for endpoint in (client_side, relay_client, server_side, relay_upstream):
            await endpoint.aclose()


class AnswerEverything:
    methods = frozenset({"tools/call"})

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome:
        assert request.id is not None
        return Respond(result_response(request.id, {"local": True}))


class Exploding:
    methods = frozenset({"tools/call"})

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome:
        raise RuntimeError("boom")


class RewriteResponses:
    methods = frozenset({"tools/list"})

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome:
        async def hook(response: Message) -> bytes | None:
            return b'{"jsonrpc":"2.0","id":1,"result":{"rewritten":true}}'

        return Forward(None, hook)


CALL = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{}}}'


async def test_requests_and_responses_pass_as_their_original_bytes() -> None:
    odd = (
        b'{ "jsonrpc" : "2.0", "id": "a", "method": "custom/thing", "params": {"z": 1, "a": [2]} }'
    )
    async with relay_running() as h:
        await h.client.send(odd)
        assert await h.server_gets() == odd
        reply = b'{"result":{"unknown":{"deep":[1,2]}},"jsonrpc":"2.0","id":"a"}'
        await h.server.send(reply)
        with anyio.fail_after(5):
            assert (await h.client.receive()).rstrip(b"\n") == reply


async def test_invalid_json_is_answered_and_never_forwarded_and_the_relay_keeps_serving() -> None:
    async with relay_running() as h:
        await h.client.send(b'{"jsonrpc":"2.0","id":1,"method":')
        answer = await h.client_gets()
        assert answer["error"]["code"] == -32700  # type: ignore[index]
        await h.client.send(b'{"jsonrpc":"2.0","id":2,"method":"ping"}')
        assert await h.server_gets() == b'{"jsonrpc":"2.0","id":2,"method":"ping"}'
        assert h.relay.stats.forwarded == 1


async def test_an_oversized_line_is_refused_with_its_id_and_the_relay_keeps_serving() -> None:
    async with relay_running(max_line=2048) as h:
        big = (
            b'{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"x":"' + b"a" * 5000 + b'"}}'
        )
        await h.client.send_raw(big[:1000])
        await h.client.send_raw(big[1000:] + b"\n")
        answer = await h.client_gets()
        assert answer["id"] == 77
        assert answer["error"]["code"] == -32600  # type: ignore[index]
        assert "exceeds the limit of 2048 bytes" in answer["error"]["message"]  # type: ignore[index]
        await h.client.send(b'{"jsonrpc":"2.0","id":2,"method":"ping"}')
        assert await h.server_gets() == b'{"jsonrpc":"2.0","id":2,"method":"ping"}'


async def test_a_batch_array_is_refused_and_nothing_is_forwarded() -> None:
    async with relay_running() as h:
        await h.client.send(b"[" + CALL + b"]")
        answer = await h.client_gets()
        assert answer["error"]["code"] == -32600  # type: ignore[index]
        assert h.relay.stats.forwarded == 0


async def test_a_locally_answered_call_never_reaches_the_upstream_nor_does_its_cancel() -> None:
    async with relay_running(AnswerEverything()) as h:
        await h.client.send(CALL)
        assert await h.client_gets() == {"jsonrpc": "2.0", "id": 1, "result": {"local": True}}
        cancel = b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}'
        await h.client.send(cancel)
        await h.client.send(b'{"jsonrpc":"2.0","method":"notifications/other"}')
        assert await h.server_gets() == b'{"jsonrpc":"2.0","method":"notifications/other"}'


async def test_a_cancel_for_a_forwarded_call_is_forwarded() -> None:
    async with relay_running() as h:
        await h.client.send(CALL)
        assert await h.server_gets() == CALL
        cancel = b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}'
        await h.client.send(cancel)
        assert await h.server_gets() == cancel


async def test_an_interceptor_failure_refuses_the_request_instead_of_forwarding_it() -> None:
    async with relay_running(Exploding()) as h:
        await h.client.send(CALL)
        answer = await h.client_gets()
        assert answer["error"]["code"] == -32603  # type: ignore[index]
        assert h.relay.stats.forwarded == 0


async def test_a_response_hook_can_rewrite_the_upstream_answer() -> None:
    async with relay_running(RewriteResponses()) as h:
        await h.client.send(b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
        await h.server_gets()
        await h.server.send(result_response(1, {"tools": []}))
        assert await h.client_gets() == {"jsonrpc": "2.0", "id": 1, "result": {"rewritten": True}}


async def test_server_requests_and_client_answers_pass_through_untouched() -> None:
    elicit = b'{"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{"message":"ok?"}}'
    answer = b'{"jsonrpc":"2.0","id":0,"result":{"action":"accept","content":{}}}'
    progress = b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t"}}'
    async with relay_running(RewriteResponses()) as h:
        await h.server.send(elicit)
        await h.server.send(progress)
        with anyio.fail_after(5):
            assert (await h.client.receive()).rstrip(b"\n") == elicit
            assert (await h.client.receive()).rstrip(b"\n") == progress
        await h.client.send(answer)
        assert await h.server_gets() == answer


INIT = (
    b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}}'
)


async def test_initialize_advertises_tool_list_changes_and_keeps_every_other_field() -> None:
    async with relay_running(advertise=True) as h:
        await h.client.send(INIT)
        await h.server_gets()
        result = {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {"x-extra": 1}, "logging": {}},
            "serverInfo": {"name": "s", "version": "1"},
            "unknownField": [1],
        }
        await h.server.send(result_response(0, result))
        answer = await h.client_gets()
        assert answer["result"]["capabilities"]["tools"] == {"x-extra": 1, "listChanged": True}  # type: ignore[index]
        assert answer["result"]["unknownField"] == [1]  # type: ignore[index]
        assert h.relay.session.client_capabilities == {"elicitation": {}}
        assert await h.relay.session.announce_tools_changed() == 1
        assert await h.client_gets() == {
            "jsonrpc": "2.0",
            "method": "notifications/tools/list_changed",
        }


async def test_initialize_answer_is_untouched_without_a_tools_capability() -> None:
    async with relay_running(advertise=True) as h:
        await h.client.send(INIT)
        await h.server_gets()
        reply = result_response(0, {"protocolVersion": "2025-11-25", "capabilities": {}})
        await h.server.send(reply)
        with anyio.fail_after(5):
            assert (await h.client.receive()).rstrip(b"\n") == reply
        assert await h.relay.session.announce_tools_changed() == 0


async def test_modern_listen_streams_hear_list_changes_until_they_end() -> None:
    listen = (
        b'{"jsonrpc":"2.0","id":"L1","method":"subscriptions/listen","params":{"_meta":'
        b'{"io.modelcontextprotocol/protocolVersion":"2026-07-28"},'
        b'"notifications":{"toolsListChanged":true}}}'
    )
    async with relay_running() as h:
        await h.client.send(listen)
        await h.server_gets()
        assert await h.relay.session.announce_tools_changed() == 1
        note = await h.client_gets()
        assert note["params"] == {"_meta": {"io.modelcontextprotocol/subscriptionId": "L1"}}
        await h.server.send(result_response("L1", {"resultType": "complete"}))
        await h.client_gets()
        assert await h.relay.session.announce_tools_changed() == 0


async def test_an_upstream_error_answer_passes_through() -> None:
    async with relay_running() as h:
        await h.client.send(CALL)
        await h.server_gets()
        err = error_response(1, -32602, "Unknown tool: x")
        await h.server.send(err)
        with anyio.fail_after(5):
            assert (await h.client.receive()).rstrip(b"\n") == err


class RecordingHook:
    methods = frozenset({"tools/call"})

    def __init__(self) -> None:
        self.settled: list[object] = []

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome:
        async def hook(response: Message) -> bytes | None:
            self.settled.append(response.id)
            return None

        return Forward(None, hook)


async def test_a_response_hook_finishes_before_the_client_sees_the_response() -> None:
    recorder = RecordingHook()
    async with relay_running(recorder) as h:
        await h.client.send(CALL)
        await h.server_gets()
        await h.server.send(result_response(1, {"content": []}))
        await h.client_gets()
        assert recorder.settled == [1]  # the audit event of a forwarded call is written first
