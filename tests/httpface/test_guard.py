"""The checks every request passes before anything reaches an upstream: unknown server, Host,
Origin, credentials, header size, content type, Accept, body size and the JSON-RPC message
itself. Each refusal is a JSON-RPC error body with the right status, and nothing is forwarded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from tests.httpface.fakes import (
    ALICE,
    BOB,
    HOST,
    RESOURCE_METADATA,
    Rig,
    TokenAuthenticator,
    assert_refused,
    bearer,
    initialize,
    running_face,
    streaming,
    tool_call,
)
from toolgate.httpface.guard import FaceLimits

pytestmark = pytest.mark.anyio

LIMITS = FaceLimits(
    hosts=frozenset({HOST}),
    origins=frozenset({"https://trusted.example"}),
    max_body_bytes=2048,
    max_header_bytes=4096,
)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with running_face(limits=LIMITS) as rig:
        yield rig


def nothing_reached_the_upstream(rig: Rig) -> None:
    assert rig.upstreams.sent == []
    assert rig.upstreams.sessions == []
    assert rig.upstreams.shared is None
    assert rig.deny.decided == []


# where the request goes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/mcp/nope"),
        ("GET", "/mcp/nope"),
        ("DELETE", "/mcp/nope"),
        ("GET", "/mcp/nope/sse"),
        ("POST", "/mcp/nope/messages?session_id=x"),
    ],
)
async def test_an_unknown_server_name_is_404_with_a_jsonrpc_error(
    rig: Rig, method: str, path: str
) -> None:
    headers = {"Content-Type": "application/json", "Mcp-Session-Id": "x"}
    response = await rig.client.request(
        method, path, content=orjson.dumps(initialize()), headers=headers
    )
    assert_refused(response, 404, says="no such server")
    nothing_reached_the_upstream(rig)


async def test_head_on_the_streamable_endpoint_is_refused_not_crashed() -> None:
    async with running_face(limits=LIMITS) as rig:
        transport = httpx.ASGITransport(rig.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}") as client:
            response = await client.head(rig.path)
    assert response.status_code == 405
    nothing_reached_the_upstream(rig)


# Host and Origin ---------------------------------------------------------------------------------


async def test_a_host_that_is_not_served_here_is_403(rig: Rig) -> None:
    response = await rig.post(initialize(), headers={"Host": "evil.example:8123"})
    assert_refused(response, 403, says="Host")
    nothing_reached_the_upstream(rig)


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1:9999", "127.0.0.1:8123", ""]
)
async def test_a_foreign_origin_is_403(rig: Rig, origin: str) -> None:
    response = await rig.post(initialize(), headers={"Origin": origin})
    assert_refused(response, 403, says="Origin")
    nothing_reached_the_upstream(rig)


@pytest.mark.parametrize("origin", [f"http://{HOST}", f"https://{HOST}", "https://trusted.example"])
async def test_the_gateways_own_and_trusted_origins_are_let_in(rig: Rig, origin: str) -> None:
    response = await rig.post(initialize(), headers={"Origin": origin})
    assert response.status_code == 200, response.text
    assert rig.upstreams.methods() == ["initialize"]


async def test_the_legacy_stream_checks_host_and_origin_too(rig: Rig) -> None:
    response = await rig.client.get(f"{rig.path}/sse", headers={"Origin": "https://evil.example"})
    assert_refused(response, 403, says="Origin")
    nothing_reached_the_upstream(rig)


# headers, content type, Accept -------------------------------------------------------------------


async def test_oversized_headers_are_431(rig: Rig) -> None:
    response = await rig.post(initialize(), headers={"X-Padding": "x" * 5000})
    assert_refused(response, 431, says="4096 bytes")
    nothing_reached_the_upstream(rig)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_oversized_headers_are_431_on_get_and_delete_too(rig: Rig, method: str) -> None:
    headers = {"Mcp-Session-Id": "x", "X-Padding": "x" * 5000}
    response = await rig.client.request(method, rig.path, headers=headers)
    assert_refused(response, 431)
    nothing_reached_the_upstream(rig)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", ""]
)
async def test_a_body_that_is_not_declared_json_is_415(rig: Rig, content_type: str) -> None:
    response = await rig.post(initialize(), headers={"Content-Type": content_type})
    assert_refused(response, 415, says="application/json")
    nothing_reached_the_upstream(rig)


async def test_json_with_a_charset_parameter_is_accepted(rig: Rig) -> None:
    response = await rig.post(
        initialize(), headers={"Content-Type": "Application/JSON; charset=utf-8"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("accept", ["text/html", "application/xml, image/*"])
async def test_a_client_accepting_neither_json_nor_sse_is_406(rig: Rig, accept: str) -> None:
    response = await rig.post(initialize(), headers={"Accept": accept})
    assert_refused(response, 406, says="Not Acceptable")
    nothing_reached_the_upstream(rig)


async def test_a_legacy_stream_for_a_client_that_does_not_accept_sse_is_406(rig: Rig) -> None:
    response = await rig.client.get(f"{rig.path}/sse", headers={"Accept": "application/json"})
    assert_refused(response, 406, says="text/event-stream")
    nothing_reached_the_upstream(rig)


# the body ----------------------------------------------------------------------------------------


async def test_a_declared_body_over_the_limit_is_413_before_it_is_read(rig: Rig) -> None:
    body = orjson.dumps(tool_call(1, "echo", text="x" * 4000))
    response = await rig.post(body, headers={"Content-Length": str(len(body))})
    assert_refused(response, 413, says="2048 bytes")
    nothing_reached_the_upstream(rig)


async def test_a_chunked_body_over_the_limit_is_413(rig: Rig) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    response = await rig.client.post(
        rig.path, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_refused(response, 413, says="Payload Too Large")
    nothing_reached_the_upstream(rig)


@pytest.mark.parametrize("declared", ["12abc", "-1", "1e3", " "])
async def test_a_malformed_content_length_is_400(rig: Rig, declared: str) -> None:
    async with streaming(
        rig.app,
        "POST",
        rig.path,
        {"Content-Type": "application/json", "Content-Length": declared},
        orjson.dumps(initialize()),
    ) as answer:
        body = await answer.body()
    assert answer.status == 400
    assert orjson.loads(body)["error"]["message"] == "Bad Request: malformed Content-Length"
    nothing_reached_the_upstream(rig)


@pytest.mark.parametrize("declared", ["\xb2", "1\xb9"])
async def test_a_content_length_of_superscript_digits_is_400_not_a_crash(
    rig: Rig, declared: str
) -> None:
    async with streaming(
        rig.app,
        "POST",
        rig.path,
        {"Content-Type": "application/json", "Content-Length": declared},
        orjson.dumps(initialize()),
    ) as answer:
        body = await answer.body()
    assert answer.status == 400
    assert orjson.loads(body)["error"]["message"] == "Bad Request: malformed Content-Length"
    nothing_reached_the_upstream(rig)


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (b"{not json", -32700, "Parse error"),
        (b"", -32700, "Parse error"),
        (b"\xff\xfe", -32700, "Parse error"),
        (b"[" + orjson.dumps(initialize()) + b"]", -32600, "batches are not supported"),
        (b"42", -32600, "must be a JSON object"),
        (b'{"id": 1, "method": "initialize"}', -32600, '"jsonrpc" must be "2.0"'),
        (b'{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}', -32600, "id must be"),
        (b'{"jsonrpc": "2.0", "id": null, "method": "ping"}', -32600, "id must be"),
        (b'{"jsonrpc": "2.0", "id": 1, "method": 7}', -32600, "method must be a string"),
        (b'{"jsonrpc": "2.0"}', -32600, "not a request"),
    ],
)
async def test_a_body_that_is_not_one_jsonrpc_message_is_400(
    rig: Rig, body: bytes, code: int, says: str
) -> None:
    response = await rig.post(body)
    assert_refused(response, 400, code=code, says=says)
    nothing_reached_the_upstream(rig)


async def test_a_refusal_names_the_request_id_when_it_could_be_read(rig: Rig) -> None:
    response = await rig.post(b'{"id": "abc", "method": "ping"}')
    assert_refused(response, 400, code=-32600)
    assert response.json()["id"] == "abc"


# credentials -------------------------------------------------------------------------------------


@pytest.fixture
async def guarded() -> AsyncIterator[Rig]:
    authenticator = TokenAuthenticator(
        {"alice": ALICE, "bob": BOB}, {"bob": frozenset({"elsewhere"})}
    )
    async with running_face(limits=LIMITS, authenticator=authenticator) as rig:
        yield rig


async def test_a_request_without_credentials_is_401_with_the_metadata_challenge(
    guarded: Rig,
) -> None:
    response = await guarded.post(initialize())
    assert_refused(response, 401, says="bearer token is required")
    assert response.headers["www-authenticate"] == RESOURCE_METADATA
    nothing_reached_the_upstream(guarded)


@pytest.mark.parametrize("authorization", ["Bearer mallory", "Basic YWxpY2U6eA==", "alice"])
async def test_bad_credentials_are_401(guarded: Rig, authorization: str) -> None:
    response = await guarded.post(initialize(), headers={"Authorization": authorization})
    assert_refused(response, 401, says="not valid")
    nothing_reached_the_upstream(guarded)


async def test_credentials_for_another_server_are_403(guarded: Rig) -> None:
    response = await guarded.post(initialize(), headers=bearer("bob"))
    assert_refused(response, 403, says="not for files")
    nothing_reached_the_upstream(guarded)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/mcp/files"), ("DELETE", "/mcp/files"), ("GET", "/mcp/files/sse")],
)
async def test_every_entry_point_asks_for_credentials(guarded: Rig, method: str, path: str) -> None:
    response = await guarded.client.request(
        method, path, headers={"Mcp-Session-Id": "x", "Accept": "text/event-stream"}
    )
    assert_refused(response, 401)
    nothing_reached_the_upstream(guarded)


async def test_the_legacy_message_endpoint_asks_for_credentials(guarded: Rig) -> None:
    response = await guarded.post(tool_call(1, "echo"), path="/mcp/files/messages?session_id=x")
    assert_refused(response, 401)
    nothing_reached_the_upstream(guarded)


async def test_credentials_are_checked_before_the_body_is_read(guarded: Rig) -> None:
    response = await guarded.post(b"{not json")
    assert_refused(response, 401)
    nothing_reached_the_upstream(guarded)


async def test_valid_credentials_reach_the_upstream_under_that_identity(guarded: Rig) -> None:
    response = await guarded.post(initialize(), headers=bearer("alice"))
    assert response.status_code == 200, response.text
    assert guarded.upstreams.methods() == ["initialize"]
    assert guarded.interceptors_asked == [ALICE]
