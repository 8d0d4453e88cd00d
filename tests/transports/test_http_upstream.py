"""HTTP upstream sessions against real servers: the npm everything server (legacy era, both
HTTP transports), a dual-era `mcp` SDK server that records headers, and small scripted servers
that misbehave on purpose."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
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
    free_port,
    recording_server,
)

from toolgate.errors import ConfigError, UpstreamError
from toolgate.transports.http_upstream import HttpUpstream
from toolgate.transports.upstream import UpstreamMessage, UpstreamSession

pytestmark = pytest.mark.anyio
WAIT = 20.0
MODERN = "2026-07-28"
CLIENT_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def message(msg_id: Any, method: str, params: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        body["params"] = params
    return orjson.dumps(body)


INITIALIZE = message(
    0,
    "initialize",
    {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "toolgate-tests", "version": "1"},
    },
)
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'


async def collect(
    session: UpstreamSession, data: bytes, msg_id: Any, headers: dict[str, str] | None = None
) -> list[UpstreamMessage]:
    with anyio.fail_after(WAIT):
        return [m async for m in session.request(data, msg_id, headers)]


async def handshake(session: UpstreamSession) -> dict[str, Any]:
    [answer] = await collect(session, INITIALIZE, 0)
    assert answer.final
    await session.notify(INITIALIZED)
    result: dict[str, Any] = orjson.loads(answer.data)["result"]
    return result


def tool_text(final: UpstreamMessage) -> str:
    text: str = orjson.loads(final.data)["result"]["content"][0]["text"]
    return text


# --- the everything server (legacy era) ----------------------------------------------------


@pytest.mark.e2e
async def test_legacy_session_initializes_lists_and_calls_echo_on_the_everything_server() -> None:
    async with everything_http("streamableHttp") as url, HttpUpstream(url) as upstream:
        session = upstream.open_session()
        result = await handshake(session)
        assert result["protocolVersion"] == "2025-11-25"
        [listing] = await collect(session, message(1, "tools/list"), 1)
        names = {tool["name"] for tool in orjson.loads(listing.data)["result"]["tools"]}
        assert "echo" in names
        call = message(2, "tools/call", {"name": "echo", "arguments": {"message": "hi"}})
        [answer] = await collect(session, call, 2)
        assert (answer.final, answer.status, tool_text(answer)) == (True, None, "Echo: hi")
        assert answer.event_id  # the everything server stores events for resumption
        assert (upstream.transport, upstream.era) == ("streamable", "legacy")
        await session.aclose()
        await session.aclose()  # idempotent
        with pytest.raises(UpstreamError, match="closed"):
            await collect(session, message(3, "tools/list"), 3)


@pytest.mark.e2e
async def test_progress_arrives_before_the_final_answer_on_the_everything_server() -> None:
    async with everything_http("streamableHttp") as url, HttpUpstream(url) as upstream:
        session = upstream.open_session()
        await handshake(session)
        call = message(
            5,
            "tools/call",
            {
                "name": "trigger-long-running-operation",
                "arguments": {"duration": 0.2, "steps": 2},
                "_meta": {"progressToken": "tok"},
            },
        )
        messages = await collect(session, call, 5)
        progress = [orjson.loads(m.data) for m in messages if not m.final]
        assert [p["params"]["progress"] for p in progress] == [1, 2]
        assert messages[-1].final and "completed" in tool_text(messages[-1])
        await session.aclose()


@pytest.mark.e2e
async def test_a_session_the_everything_server_forgot_is_answered_with_its_own_400() -> None:
    async with everything_http("streamableHttp") as url, HttpUpstream(url) as upstream:
        first = upstream.open_session()
        await handshake(first)
        await first.aclose()  # DELETE: the server forgets the session
        second = upstream.open_session()
        await handshake(second)
        forgotten = getattr(first, "_inner", first)._session_id
        second._session_id = forgotten  # type: ignore[attr-defined]
        [answer] = await collect(second, message(1, "tools/list"), 1)
        assert (answer.final, answer.status) == (True, 400)
        assert orjson.loads(answer.data)["error"]["code"] == -32000


@pytest.mark.e2e
async def test_the_everything_sse_server_is_reached_over_legacy_http_sse() -> None:
    async with everything_http("sse") as url, HttpUpstream(url) as upstream:
        assert upstream.transport == "sse"  # forced by the /sse suffix
        session = upstream.open_session()
        await handshake(session)
        call = message("c1", "tools/call", {"name": "echo", "arguments": {"message": "sse"}})
        [answer] = await collect(session, call, "c1")
        assert tool_text(answer) == "Echo: sse"
        await session.aclose()


# --- the dual-era Python server ------------------------------------------------------------


@pytest.mark.e2e
async def test_modern_requests_carry_their_routing_headers_and_no_session() -> None:
    async with recording_server() as (url, seen), HttpUpstream(url) as upstream:
        session = upstream.open_session()
        [discover] = await collect(
            session, message("d", "server/discover", {"_meta": CLIENT_META}), "d"
        )
        assert MODERN in orjson.loads(discover.data)["result"]["supportedVersions"]
        params = {"name": "add", "arguments": {"a": 1, "b": 2}, "_meta": CLIENT_META}
        [answer] = await collect(session, message(2, "tools/call", params), 2)
        assert (answer.status, tool_text(answer)) == (None, "3")
        last = seen.requests()[-1]["headers"]
        assert (last["mcp-method"], last["mcp-name"], last["mcp-protocol-version"]) == (
            "tools/call",
            "add",
            MODERN,
        )
        assert "mcp-session-id" not in last
        assert upstream.era == "modern"


@pytest.mark.e2e
async def test_a_header_the_upstream_rejects_comes_back_as_a_400_final_message() -> None:
    async with recording_server() as (url, _), HttpUpstream(url) as upstream:
        session = upstream.open_session()
        params = {"name": 7, "arguments": {}, "_meta": CLIENT_META}  # no string name: no Mcp-Name
        [answer] = await collect(session, message(3, "tools/call", params), 3)
        assert answer.final and answer.status == 400
        assert orjson.loads(answer.data)["error"]["code"] in (-32020, -32602)
        bad = {**CLIENT_META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
        [refused] = await collect(session, message(4, "tools/list", {"_meta": bad}), 4)
        assert refused.status == 400 and orjson.loads(refused.data)["error"]["code"] == -32022


@pytest.mark.e2e
async def test_the_upstream_sees_only_the_configured_credentials() -> None:
    static = {"Authorization": "Bearer upstream-secret"}
    client_headers = {
        "Authorization": "Bearer client-token",
        "Cookie": "sid=client",
        "Mcp-Param-Region": "eu",
    }
    async with recording_server() as (url, seen), HttpUpstream(url, headers=static) as upstream:
        session = upstream.open_session()
        await handshake(session)
        call = message(1, "tools/call", {"name": "echo", "arguments": {"message": "x"}})
        [answer] = await collect(session, call, 1, client_headers)
        assert tool_text(answer) == "x"
        await session.aclose()
        assert set(seen.header_values("authorization")) == {"Bearer upstream-secret"}
        assert seen.header_values("cookie") == []
        assert seen.header_values("mcp-param-region") == ["eu"]
        requests = seen.requests()
        session_ids = {r["headers"].get("mcp-session-id") for r in requests[1:]}
        assert len(session_ids) == 1 and None not in session_ids  # echoed after initialize
        assert requests[-1]["method"] == "DELETE"
        assert requests[-1]["headers"]["mcp-protocol-version"] == "2025-11-25"


@pytest.mark.e2e
async def test_a_server_without_a_standalone_stream_ends_server_messages_at_once() -> None:
    async with recording_server() as (url, _), HttpUpstream(url) as upstream:
        session = upstream.open_session()
        with anyio.fail_after(WAIT):
            assert [m async for m in session.server_messages()] == []


@pytest.mark.e2e
async def test_an_initialize_refused_like_an_old_server_falls_back_to_http_sse() -> None:
    async with (
        recording_server("sse", path="/legacy") as (url, seen),
        HttpUpstream(url) as upstream,
    ):
        assert upstream.transport == "auto"
        session = upstream.open_session()
        await handshake(session)
        [answer] = await collect(
            session, message(1, "tools/call", {"name": "add", "arguments": {"a": 2, "b": 2}}), 1
        )
        assert tool_text(answer) == "4"
        assert upstream.transport == "sse"
        methods = [r["method"] for r in seen.requests()]
        assert methods[:2] == ["POST", "GET"]  # the probe, then the event stream
        later = upstream.open_session()
        await handshake(later)
        assert seen.requests()[len(methods)]["method"] == "GET"  # no second probe


# --- upstreams that are not MCP --------------------------------------------------------------

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


async def reply(send: Send, status: int, body: bytes = b"", kind: str = "", **extra: str) -> None:
    headers = [(b"content-type", kind.encode())] if kind else []
    headers += [(k.replace("_", "-").encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Scripted:
    """An ASGI app that answers each path with a scripted handler and records each request."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.release = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.seen.append((scope["method"], scope["path"], headers))
        while (await receive()).get("more_body"):
            pass
        await self.routes[scope["path"]](scope, receive, send)


@asynccontextmanager
async def scripted(routes: dict[str, Handler]) -> AsyncIterator[tuple[str, Scripted]]:
    app = Scripted(routes)
    async with asgi_server(app) as base:
        yield base, app
        app.release.set()


RESPONSE_1 = b'{"jsonrpc":"2.0","id":1,"result":{}}'
PROGRESS = b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1}}'


async def html(scope: Scope, receive: Receive, send: Send) -> None:
    await reply(send, 200, b"<html>hello</html>", "text/html")


async def crash(scope: Scope, receive: Receive, send: Send) -> None:
    await reply(send, 500, b"Internal Server Error", "text/plain")


async def accepted(scope: Scope, receive: Receive, send: Send) -> None:
    await reply(send, 202)


async def unanswered_stream(scope: Scope, receive: Receive, send: Send) -> None:
    note = b'data: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\n'
    await reply(send, 200, note, "text/event-stream")


async def rpc_error_500(scope: Scope, receive: Receive, send: Send) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"boom"}}'
    await reply(send, 500, body, "application/json")


async def away(scope: Scope, receive: Receive, send: Send) -> None:
    await reply(send, 307, location="http://elsewhere.example/mcp")


async def moved_here(scope: Scope, receive: Receive, send: Send) -> None:
    await reply(send, 308, location="/json")


async def json_answer(scope: Scope, receive: Receive, send: Send) -> None:
    await reply(send, 200, RESPONSE_1, "application/json", set_cookie="tracker=1; Path=/")


async def test_nothing_listening_is_a_clear_error_without_credentials() -> None:
    url = f"http://user:pw-secret@127.0.0.1:{free_port()}/mcp?key=q-secret"
    async with HttpUpstream(url, transport="streamable") as upstream:
        with pytest.raises(UpstreamError, match="cannot connect") as caught:
            await collect(upstream.open_session(), message(1, "ping"), 1)
    assert f"127.0.0.1:{upstream.url.port}/mcp" in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (html, r"HTTP 200 OK \(text/html\), not an MCP message"),
        (crash, r"HTTP 500"),
        (accepted, r"HTTP 202 and no response"),
        (unanswered_stream, r"ended the response stream of request 1 before answering"),
        (away, r"another origin \(http://elsewhere.example/mcp\)"),
    ],
)
async def test_answers_that_are_not_mcp_are_clear_upstream_errors(
    handler: Handler, expected: str
) -> None:
    async with scripted({"/mcp": handler}) as (base, _), HttpUpstream(f"{base}/mcp") as upstream:
        with pytest.raises(UpstreamError, match=expected) as caught:
            await collect(upstream.open_session(), message(1, "tools/list"), 1)
        assert f"{base}/mcp" in str(caught.value)


async def test_a_silent_upstream_times_out() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        await app.release.wait()  # released when the test ends
        await reply(send, 200, RESPONSE_1, "application/json")

    async with (
        scripted({"/mcp": silent}) as (base, app),
        HttpUpstream(f"{base}/mcp", timeout=0.3) as upstream,
    ):
        with pytest.raises(UpstreamError, match=r"did not answer within 0.3 s"):
            await collect(upstream.open_session(), message(1, "tools/list"), 1)


async def test_a_subscription_stream_may_stay_silent_longer_than_the_timeout() -> None:
    quiet = anyio.Event()  # never set: the stream is silent for three timeouts

    async def listen(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        with anyio.move_on_after(0.9):
            await quiet.wait()
        event = b'data: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n\n'
        await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"data: " + RESPONSE_1 + b"\n\n"})

    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
    params = {"_meta": meta, "notifications": {"toolsListChanged": True}}
    async with (
        scripted({"/mcp": listen}) as (base, _),
        HttpUpstream(f"{base}/mcp", timeout=0.3) as upstream,
    ):
        with anyio.fail_after(10):
            got = await collect(
                upstream.open_session(), message(1, "subscriptions/listen", params), 1
            )
    assert b"notifications/tools/list_changed" in got[0].data
    assert got[-1].final


async def test_a_json_rpc_error_with_an_error_status_is_relayed_with_that_status() -> None:
    async with scripted({"/mcp": rpc_error_500}) as (base, _), HttpUpstream(f"{base}/mcp") as up:
        [answer] = await collect(up.open_session(), message(1, "tools/list"), 1)
        assert (answer.final, answer.status) == (True, 500)
        assert orjson.loads(answer.data)["error"]["message"] == "boom"


async def test_a_same_origin_redirect_is_followed_and_cookies_are_never_kept() -> None:
    routes = {"/mcp": moved_here, "/json": json_answer}
    async with scripted(routes) as (base, app), HttpUpstream(f"{base}/mcp") as upstream:
        session = upstream.open_session()
        for _ in range(2):
            [answer] = await collect(session, message(1, "tools/list"), 1)
            assert answer.data == RESPONSE_1
        assert [path for _, path, _ in app.seen] == ["/mcp", "/json"] * 2
        assert all("cookie" not in headers for _, _, headers in app.seen)


async def test_a_stream_cut_short_is_resumed_with_last_event_id() -> None:
    async def post(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST":
            body = b"id: e1\nretry: 1\ndata: \n\n" + b"id: e2\ndata: " + PROGRESS + b"\n\n"
            await reply(send, 200, body, "text/event-stream")
        else:
            await reply(send, 200, b"id: e3\ndata: " + RESPONSE_1 + b"\n\n", "text/event-stream")

    async with scripted({"/mcp": post}) as (base, app), HttpUpstream(f"{base}/mcp") as upstream:
        messages = await collect(upstream.open_session(), message(1, "tools/call"), 1)
        assert [(m.final, m.event_id) for m in messages] == [(False, "e2"), (True, "e3")]
        method, _, headers = app.seen[-1]
        assert (method, headers["last-event-id"]) == ("GET", "e2")


async def test_a_404_on_a_known_session_means_it_expired() -> None:
    async def expiring(scope: Scope, receive: Receive, send: Send) -> None:
        if len(app.seen) == 1:
            result = b'{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18"}}'
            await reply(send, 200, result, "application/json", mcp_session_id="s-1")
        else:
            await reply(send, 404, b"gone", "text/plain")

    async with scripted({"/mcp": expiring}) as (base, app), HttpUpstream(f"{base}/mcp") as up:
        session = up.open_session()
        await collect(session, INITIALIZE, 0)
        with pytest.raises(UpstreamError, match=r"session with upstream .* has expired \(404\)"):
            await collect(session, message(1, "tools/list"), 1)
        _, _, headers = app.seen[-1]
        assert (headers["mcp-session-id"], headers["mcp-protocol-version"]) == ("s-1", "2025-06-18")


async def test_a_url_that_is_neither_transport_says_what_was_tried() -> None:
    async def nothing(scope: Scope, receive: Receive, send: Send) -> None:
        await reply(send, 404, b"<h1>no</h1>", "text/html")

    async with scripted({"/mcp": nothing}) as (base, _), HttpUpstream(f"{base}/mcp") as upstream:
        with pytest.raises(UpstreamError, match=r"initialize with 404; as legacy HTTP\+SSE"):
            await collect(upstream.open_session(), INITIALIZE, 0)
        assert upstream.transport == "auto"


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("ftp://host/mcp", {}),
        ("not a url at all", {}),
        ("http://host/mcp", {"Bad Name": "x"}),
        ("http://host/mcp", {"X-Key": "a\r\nInjected: 1"}),
    ],
)
async def test_bad_upstream_configuration_is_refused(url: str, headers: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="upstream"):
        HttpUpstream(url, headers=headers)


async def test_sessions_need_the_upstream_entered() -> None:
    upstream = HttpUpstream("http://127.0.0.1:9/mcp")
    with pytest.raises(RuntimeError, match="async with"):
        upstream.open_session()
    await upstream.client.aclose()
