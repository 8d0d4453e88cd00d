"""Grants against a running `toolgate serve`: per-identity limits, revocation by another process,
missing and misplaced tokens, Origin checks, and which headers reach the upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.http_gateway import (
    HandshakeSession,
    answer,
    create_grant,
    echo_outcome,
    opened,
    revoke_grant,
    running_gateway,
    write_gateway,
)
from tests.e2e.http_servers import Recorded, recording_server
from tests.e2e.support import time_server

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

LIMIT_TEXT = "[POLICY DENIED] five echoes a minute per agent"
RECORDING_POLICY = """
version: "1"
tools:
  echo:
    rules:
      - rate_limit: {max: 5, window: minute, scope: identity}
        name: five per agent
        on_deny: "five echoes a minute per agent"
"""
TIME_POLICY = """
version: "1"
tools: {}
"""
API_KEY = "k-3c1f0e-static-upstream-key"
ALLOWED_ORIGIN = "http://tools.example"


@dataclass(frozen=True)
class Setup:
    url: str  # /mcp/rec
    time_url: str  # /mcp/time
    home: Path
    seen: Recorded


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    tmp = tmp_path_factory.mktemp("http-grants")
    async with AsyncExitStack() as stack:
        upstream, seen = await stack.enter_async_context(recording_server())
        config = write_gateway(
            tmp,
            {
                "rec": {
                    "url": upstream,
                    "headers": {"X-Api-Key": {"env": "TG_TEST_UPSTREAM_KEY"}},
                    "policy": RECORDING_POLICY,
                },
                "time": {"command": time_server(), "policy": TIME_POLICY},
            },
            auth={"grants": True},
            http={"allowed_origins": [ALLOWED_ORIGIN]},
        )
        home = tmp / "home"
        home.mkdir()
        env = {"TG_TEST_UPSTREAM_KEY": API_KEY}
        gateway = await stack.enter_async_context(running_gateway(config, home, env))
        yield Setup(gateway.urls["rec"], gateway.urls["time"], home, seen)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


async def test_each_grant_gets_exactly_five_calls_a_minute_of_its_own(
    setup: Setup, http: httpx.AsyncClient
) -> None:
    alice = await opened(http, setup.url, create_grant(setup.home, "rec", "alice"))
    bob = await opened(http, setup.url, create_grant(setup.home, "rec", "bob"))
    outcomes: dict[str, list[str]] = {"alice": [], "bob": []}
    for who, session, count in [("alice", alice, 3), ("bob", bob, 7), ("alice", alice, 4)]:
        for i in range(count):
            outcomes[who].append(await echo_outcome(session, f"{who} {i}"))
    assert outcomes["alice"] == ["ok"] * 5 + [LIMIT_TEXT] * 2
    assert outcomes["bob"] == ["ok"] * 5 + [LIMIT_TEXT] * 2


async def test_revoked_grant_is_refused_on_its_next_call(
    setup: Setup, http: httpx.AsyncClient
) -> None:
    grant = create_grant(setup.home, "rec", "carol")
    session = await opened(http, setup.url, grant)
    before = await session.call_tool("add", {"a": 2, "b": 3})
    assert before.status_code == 200
    assert answer(before)["result"]["content"][0]["text"] == "5"
    revoke_grant(setup.home, grant.id)  # another process, while the gateway runs
    after = await session.call_tool("add", {"a": 2, "b": 3})
    assert after.status_code == 401, after.text
    challenge = after.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge


async def test_request_without_a_token_gets_401_with_a_bearer_challenge(
    setup: Setup, http: httpx.AsyncClient
) -> None:
    response = await HandshakeSession(http, setup.url, {}).open()
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert answer(response)["error"]["message"]


async def test_grant_for_one_server_is_forbidden_on_another(
    setup: Setup, http: httpx.AsyncClient
) -> None:
    grant = create_grant(setup.home, "rec", "erin")
    response = await HandshakeSession(http, setup.time_url, grant.headers).open()
    assert response.status_code == 403, response.text
    assert 'error="insufficient_scope"' in response.headers.get("www-authenticate", "")


async def test_request_from_a_foreign_origin_is_forbidden_and_an_allowed_one_is_served(
    setup: Setup, http: httpx.AsyncClient
) -> None:
    grant = create_grant(setup.home, "rec", "frank")
    foreign = {**grant.headers, "Origin": "http://evil.example"}
    refused = await HandshakeSession(http, setup.url, foreign).open()
    assert refused.status_code == 403, refused.text
    assert "Origin" in answer(refused)["error"]["message"]
    allowed = {**grant.headers, "Origin": ALLOWED_ORIGIN}
    served = await HandshakeSession(http, setup.url, allowed).open()
    assert served.status_code == 200, served.text


async def test_session_of_one_grant_is_forbidden_to_another(
    setup: Setup, http: httpx.AsyncClient
) -> None:
    owner = await opened(http, setup.url, create_grant(setup.home, "rec", "gina"))
    thief = create_grant(setup.home, "rec", "hank")
    stolen = HandshakeSession(http, setup.url, thief.headers)
    stolen.session_id = owner.session_id
    response = await stolen.call_tool("add", {"a": 1, "b": 1})
    assert response.status_code == 403, response.text


async def test_upstream_never_sees_client_credentials_but_gets_the_configured_header(
    setup: Setup, http: httpx.AsyncClient
) -> None:
    grant = create_grant(setup.home, "rec", "ivan")
    headers = {**grant.headers, "Cookie": "session=secret-cookie"}
    session = HandshakeSession(http, setup.url, headers)
    assert (await session.open()).status_code == 200
    assert (await session.call_tool("add", {"a": 1, "b": 2})).status_code == 200
    requests = setup.seen.requests()
    assert requests, "the upstream saw no request at all"
    assert setup.seen.header_values("authorization") == []
    assert setup.seen.header_values("cookie") == []
    assert setup.seen.header_values("x-api-key") == [API_KEY] * len(requests)
