"""Garbage over HTTP, sent with httpx to a running `toolgate serve`: each is refused with a clear
4xx (or, for a well-formed message with bad params, toolgate's own JSON-RPC error) and a JSON-RPC
error body, and none of it reaches the upstream (the recording server's log
of every request it received does not grow)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.http_gateway import (
    HANDSHAKE_VERSION,
    JSON_ACCEPT,
    HandshakeSession,
    modern_request,
    rpc,
    running_gateway,
    write_gateway,
)
from tests.e2e.http_servers import Recorded, recording_server

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

MAX_BODY = 2048
MAX_HEADERS = 4096
POLICY = """
version: "1"
tools: {}
"""
HEADER_MISMATCH = -32020
PARSE_ERROR = -32700


@dataclass(frozen=True)
class Setup:
    url: str  # /mcp/rec
    seen: Recorded
    session_id: str  # a live handshake-era session of /mcp/rec


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    tmp = tmp_path_factory.mktemp("http-bad-input")
    async with AsyncExitStack() as stack:
        upstream, seen = await stack.enter_async_context(recording_server())
        config = write_gateway(
            tmp,
            {"rec": {"url": upstream, "policy": POLICY}},
            http={"max_body_bytes": MAX_BODY, "max_header_bytes": MAX_HEADERS},
        )
        home = tmp / "home"
        home.mkdir()
        gateway = await stack.enter_async_context(running_gateway(config, home))
        async with httpx.AsyncClient(timeout=20) as client:
            session = HandshakeSession(client, gateway.urls["rec"], {})
            assert (await session.open()).status_code == 200
            assert (await session.request("tools/list")).status_code == 200
        assert session.session_id is not None
        yield Setup(gateway.urls["rec"], seen, session.session_id)


@dataclass(frozen=True)
class Bad:
    """One bad request: what to send (`{session}` in a header or path is the live session's
    id) and the HTTP status and, when it matters, the JSON-RPC code it must be refused with."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""  # appended to /mcp/rec
    method: str = "POST"
    code: int | None = None


def body(message: Any) -> bytes:
    return orjson.dumps(message)


LIST = body(rpc(7, "tools/list"))
IN_SESSION = {"Mcp-Session-Id": "{session}", "MCP-Protocol-Version": HANDSHAKE_VERSION}
_modern_call, _modern_headers = modern_request(
    8, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}
)

CASES: dict[str, Bad] = {
    "malformed JSON": Bad(400, b'{"jsonrpc": "2.0", "id": 1, "method": ', code=PARSE_ERROR),
    "a JSON array (batch)": Bad(400, body([rpc(1, "tools/list"), rpc(2, "tools/list")])),
    "a JSON string": Bad(400, b'"tools/list"'),
    "invalid UTF-8": Bad(400, b'{"jsonrpc": "2.0", "id": 1, "method": "\xff\xfe"}'),
    "wrong content type": Bad(415, LIST, {"Content-Type": "text/plain", **IN_SESSION}),
    "no content type": Bad(415, LIST, {"Content-Type": "", **IN_SESSION}),
    "an unacceptable Accept": Bad(406, LIST, {"Accept": "text/html", **IN_SESSION}),
    "a body over max_body_bytes": Bad(
        413, body(rpc(9, "tools/call", {"name": "echo", "arguments": {"message": "x" * 4096}}))
    ),
    "an unknown Mcp-Session-Id": Bad(404, LIST, {"Mcp-Session-Id": "no-such-session"}),
    "no Mcp-Session-Id after initialize": Bad(400, LIST),
    "an unsupported MCP-Protocol-Version": Bad(
        400, LIST, {**IN_SESSION, "MCP-Protocol-Version": "1999-01-01"}
    ),
    "Mcp-Name naming another tool than the body": Bad(
        400, body(_modern_call), {**_modern_headers, "Mcp-Name": "echo"}, code=HEADER_MISMATCH
    ),
    "Mcp-Method naming another method than the body": Bad(
        400, body(_modern_call), {**_modern_headers, "Mcp-Method": "tools/list"}
    ),
    "a modern request without its version header": Bad(
        400,
        body(_modern_call),
        {k: v for k, v in _modern_headers.items() if k != "MCP-Protocol-Version"},
        code=HEADER_MISMATCH,
    ),
    "an unknown server name": Bad(404, LIST, IN_SESSION, path="/../nosuch"),
    "a foreign Host": Bad(403, LIST, {**IN_SESSION, "Host": "evil.example:80"}),
    "headers over max_header_bytes": Bad(
        431, LIST, {**IN_SESSION, "X-Padding": "p" * (MAX_HEADERS + 1)}
    ),
    "jsonrpc 1.0": Bad(400, body({"jsonrpc": "1.0", "id": 1, "method": "tools/list"}), IN_SESSION),
    "a null request id": Bad(
        400, body({"jsonrpc": "2.0", "id": None, "method": "tools/list"}), IN_SESSION
    ),
    "an object as request id": Bad(
        400, body({"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}), IN_SESSION
    ),
    "a number as method": Bad(400, body({"jsonrpc": "2.0", "id": 1, "method": 5}), IN_SESSION),
    # answered by toolgate itself, as a handshake-era JSON-RPC error (HTTP 200)
    "a list as params": Bad(
        200, body({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": [1]}), IN_SESSION
    ),
    "an empty body": Bad(400, b"", IN_SESSION),
    "a legacy message without session_id": Bad(400, LIST, path="/messages"),
    "a legacy message for an unknown session": Bad(
        404, LIST, path="/messages?session_id=no-such-session"
    ),
    "GET without a session": Bad(405, method="GET", headers={"Accept": "text/event-stream"}),
    "DELETE of an unknown session": Bad(
        404, method="DELETE", headers={"Mcp-Session-Id": "no-such-session"}
    ),
}


def url_of(setup: Setup, path: str) -> str:
    if path.startswith("/../"):
        return setup.url.rsplit("/", 1)[0] + "/" + path.removeprefix("/../")
    return setup.url + path


def assert_json_rpc_error(response: httpx.Response, code: int | None) -> None:
    assert response.headers.get("content-type", "").startswith("application/json"), response.text
    message = orjson.loads(response.content)
    assert message["jsonrpc"] == "2.0"
    error = message["error"]
    assert isinstance(error["code"], int)
    assert isinstance(error["message"], str) and error["message"].strip()
    if code is not None:
        assert error["code"] == code, error


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_request_is_refused_with_a_json_rpc_error_and_never_forwarded(
    setup: Setup, case: str
) -> None:
    bad = CASES[case]
    headers = {**JSON_ACCEPT, **bad.headers}
    headers = {k: v.replace("{session}", setup.session_id) for k, v in headers.items()}
    before = len(setup.seen.requests())
    async with httpx.AsyncClient(timeout=20) as client:
        request = client.build_request(
            bad.method, url_of(setup, bad.path), content=bad.body or None, headers=headers
        )
        if "Host" in bad.headers:
            request.headers["Host"] = bad.headers["Host"]
        if bad.headers.get("Content-Type") == "":
            del request.headers["Content-Type"]
        response = await client.send(request)
    assert response.status_code == bad.status, response.text
    assert_json_rpc_error(response, bad.code)
    assert len(setup.seen.requests()) == before, setup.seen.requests()[before:]


async def test_a_good_request_does_reach_the_upstream(setup: Setup) -> None:
    """The control for the test above: its check can see a forwarded request."""
    before = len(setup.seen.requests())
    headers = {**JSON_ACCEPT, **IN_SESSION, "Mcp-Session-Id": setup.session_id}
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(setup.url, content=LIST, headers=headers)
    assert response.status_code == 200, response.text
    assert len(setup.seen.requests()) > before
