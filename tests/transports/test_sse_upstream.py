"""Legacy HTTP+SSE upstream sessions: the everything server and the SDK server over real
sockets, and a scripted server for the ways an event stream can go wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
import pytest
from tests.e2e.http_servers import (
    Receive,
    Scope,
    Send,
    asgi_server,
    everything_http,
    recording_server,
)
from tests.transports.test_http_upstream import collect, handshake, message, tool_text

from toolgate.errors import UpstreamError
from toolgate.transports.http_upstream import HttpUpstream
from toolgate.transports.upstream import UpstreamMessage

pytestmark = pytest.mark.anyio
WAIT = 20.0


@pytest.mark.e2e
async def test_progress_for_a_request_reaches_that_request_not_the_server_stream() -> None:
    async with everything_http("sse") as url, HttpUpstream(url) as upstream:
        session = upstream.open_session()
        await handshake(session)
        call = message(
            9,
            "tools/call",
            {
                "name": "trigger-long-running-operation",
                "arguments": {"duration": 0.2, "steps": 2},
                "_meta": {"progressToken": 42},
            },
        )
        messages = await collect(session, call, 9)
        progress = [orjson.loads(m.data)["params"] for m in messages if not m.final]
        assert [(p["progressToken"], p["progress"]) for p in progress] == [(42, 1), (42, 2)]
        assert "completed" in tool_text(messages[-1])
        await session.aclose()


@pytest.mark.e2e
async def test_the_sdk_server_answers_over_http_sse_with_static_credentials_only() -> None:
    headers = {"Authorization": "Bearer upstream-secret"}
    async with (
        recording_server("sse") as (url, seen),
        HttpUpstream(url, headers=headers) as upstream,
    ):
        session = upstream.open_session()
        await handshake(session)
        call = message(1, "tools/call", {"name": "echo", "arguments": {"message": "old"}})
        [answer] = await collect(session, call, 1, {"Authorization": "Bearer client"})
        assert tool_text(answer) == "old"
        await session.aclose()
        assert set(seen.header_values("authorization")) == {"Bearer upstream-secret"}


# --- a scripted legacy server ----------------------------------------------------------------


class LegacyServer:
    """GET /sse sends `endpoint` then whatever the test queues; POST /msg answers 202 and, for
    requests, queues a log notification and the response on the stream."""

    def __init__(self, endpoint: bytes = b"/msg?session=1", post_status: int = 202) -> None:
        self.endpoint = endpoint
        self.post_status = post_status
        self.events_in, self.events_out = anyio.create_memory_object_stream[bytes | None](100)
        self.answer = True
        self.cut = False  # end the stream when a request arrives, without answering it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            part = await receive()
            body += part.get("body", b"")
            if not part.get("more_body"):
                break
        if scope["method"] == "GET":
            await self.stream(send)
            return
        await send({"type": "http.response.start", "status": self.post_status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        request = orjson.loads(body)
        if self.cut:
            await self.events_in.send(None)
        elif "id" in request and "method" in request and self.answer:
            note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": 1}}
            await self.events_in.send(b"event: message\ndata: " + orjson.dumps(note) + b"\n\n")
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": {"ok": True}}
            await self.events_in.send(b"event: message\ndata: " + orjson.dumps(reply) + b"\n\n")

    async def stream(self, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        first = b"event: endpoint\ndata: " + self.endpoint + b"\n\n" if self.endpoint else b""
        await send({"type": "http.response.body", "body": first, "more_body": True})
        async for chunk in self.events_out:
            if chunk is None:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


@asynccontextmanager
async def legacy(server: LegacyServer, **options: Any) -> AsyncIterator[HttpUpstream]:
    async with asgi_server(server) as base, HttpUpstream(f"{base}/sse", **options) as upstream:
        try:
            yield upstream
        finally:
            server.events_in.close()
            server.events_out.close()


async def test_a_response_ends_its_request_and_other_messages_go_to_the_server_stream() -> None:
    server = LegacyServer()
    async with legacy(server) as upstream:
        session = upstream.open_session()
        [answer] = await collect(session, message("r", "tools/list"), "r")
        assert answer.final and orjson.loads(answer.data)["result"] == {"ok": True}
        received: list[UpstreamMessage] = []
        with anyio.fail_after(WAIT):
            async for note in session.server_messages():
                received.append(note)
                break
        assert orjson.loads(received[0].data)["method"] == "notifications/message"
        await session.aclose()


async def test_an_endpoint_on_another_origin_is_refused() -> None:
    async with legacy(LegacyServer(b"http://evil.example/steal")) as upstream:
        with pytest.raises(UpstreamError, match=r"another origin \(http://evil.example/steal\)"):
            await collect(upstream.open_session(), message(1, "ping"), 1)


async def test_a_stream_that_ends_before_the_endpoint_is_an_error() -> None:
    server = LegacyServer(b"")
    async with legacy(server) as upstream:
        server.events_in.send_nowait(None)
        with pytest.raises(UpstreamError, match="ended its event stream before an endpoint"):
            await collect(upstream.open_session(), message(1, "ping"), 1)


async def test_a_silent_stream_without_an_endpoint_times_out() -> None:
    async with legacy(LegacyServer(b""), timeout=0.3) as upstream:
        with pytest.raises(UpstreamError, match=r"no endpoint event within 0.3 s"):
            await collect(upstream.open_session(), message(1, "ping"), 1)


async def test_a_refused_post_is_a_clear_error() -> None:
    async with legacy(LegacyServer(post_status=500)) as upstream:
        with pytest.raises(UpstreamError, match=r"answered a request with HTTP 500"):
            await collect(upstream.open_session(), message(1, "ping"), 1)


async def test_a_stream_that_ends_mid_request_fails_that_request() -> None:
    server = LegacyServer()
    server.cut = True
    async with legacy(server) as upstream:
        with pytest.raises(UpstreamError, match="ended its event stream"):
            await collect(upstream.open_session(), message(1, "tools/list"), 1)


async def test_an_unanswered_request_times_out() -> None:
    server = LegacyServer()
    server.answer = False
    async with legacy(server, timeout=0.3) as upstream:
        with pytest.raises(UpstreamError, match=r"did not answer request 1 within 0.3 s"):
            await collect(upstream.open_session(), message(1, "tools/list"), 1)


async def test_a_get_answered_with_html_is_a_clear_error() -> None:
    async def html(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"<html></html>"})

    async with asgi_server(html) as base, HttpUpstream(f"{base}/sse") as upstream:
        with pytest.raises(UpstreamError, match=r"event-stream GET with HTTP 200 OK \(text/html\)"):
            await collect(upstream.open_session(), message(1, "ping"), 1)
