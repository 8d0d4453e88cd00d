"""Two `toolgate serve` replicas sharing one redis-server (`state: {dsn: …}`): a grant made with
`toolgate grants create --state-dsn …` works on both, a revoke is refused by both on the next
call, and an identity's limit holds across the fleet, not per replica."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from tests.conftest import RedisServer
from tests.e2e.http_gateway import (
    HandshakeSession,
    IssuedGrant,
    echo_outcome,
    gateway_env,
    opened,
    running_gateway,
    write_gateway,
)
from tests.e2e.http_servers import recording_server
from tests.e2e.support import WAIT

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

LIMIT = 3
LIMIT_TEXT = "[POLICY DENIED] three echoes a minute per agent, fleet-wide"
POLICY = f"""
version: "1"
tools:
  echo:
    rules:
      # sliding: calls made a second apart can never straddle two windows
      - rate_limit: {{max: {LIMIT}, window: minute, scope: identity, algorithm: sliding}}
        name: three per agent
        on_deny: "three echoes a minute per agent, fleet-wide"
"""
PREFIX = "fleet"


@dataclass(frozen=True)
class Fleet:
    urls: tuple[str, str]  # /mcp/rec on each replica
    dsn: str
    cli_home: Path  # a home of its own: no grants file is shared with the replicas


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def fleet(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Fleet]:
    with redis_server.client() as client:
        client.flushall()
    tmp = tmp_path_factory.mktemp("redis-grants")
    async with AsyncExitStack() as stack:
        upstream, _ = await stack.enter_async_context(recording_server())
        urls: list[str] = []
        for name in ("a", "b"):
            directory = tmp / name
            home = directory / "home"
            home.mkdir(parents=True)
            config = write_gateway(
                directory, {"rec": {"url": upstream, "policy": POLICY}}, auth={"grants": True}
            )
            document = yaml.safe_load(config.read_text())
            document["state"] = {"dsn": redis_server.url, "prefix": PREFIX}
            config.write_text(yaml.safe_dump(document, sort_keys=False))
            gateway = await stack.enter_async_context(running_gateway(config, home))
            urls.append(gateway.urls["rec"])
        cli_home = tmp / "cli-home"
        cli_home.mkdir()
        yield Fleet((urls[0], urls[1]), redis_server.url, cli_home)
    for name in ("a", "b"):  # the replicas never fell back to a grants file
        assert not (tmp / name / "home" / "state" / "grants.sqlite3").exists()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


def grants_cli(fleet: Fleet, *args: str, through_env: bool = False) -> bytes:
    """`toolgate grants ARGS` against the fleet's Redis (by flag, or by $TOOLGATE_STATE_DSN)."""
    state = ["--state-prefix", PREFIX]
    extra = {"TOOLGATE_STATE_DSN": fleet.dsn} if through_env else {}
    if not through_env:
        state += ["--state-dsn", fleet.dsn]
    done = subprocess.run(
        [sys.executable, "-m", "toolgate", "grants", *args, *state],
        env=gateway_env(fleet.cli_home, extra),
        capture_output=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def create(fleet: Fleet, label: str) -> IssuedGrant:
    issued = orjson.loads(
        grants_cli(fleet, "create", "--server", "rec", "--label", label, "--json")
    )
    return IssuedGrant(issued["grant"]["id"], issued["token"], label, "rec")


async def test_a_grant_made_with_the_cli_authenticates_on_both_replicas(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    grant = create(fleet, "alice")
    for url in fleet.urls:
        session = await opened(http, url, grant)
        assert await echo_outcome(session, f"hello from {url}") == "ok"
    stranger = IssuedGrant("gr_000000000000", "tg_gr_0123456789ab_" + "A" * 43, "x", "rec")
    for url in fleet.urls:
        response = await HandshakeSession(http, url, stranger.headers).open()
        assert response.status_code == 401, response.text


async def test_a_revoke_is_refused_by_both_replicas_on_the_next_call(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    grant = create(fleet, "bob")
    sessions = [await opened(http, url, grant) for url in fleet.urls]
    for session in sessions:
        assert await echo_outcome(session, "before") == "ok"
    grants_cli(fleet, "revoke", grant.id, through_env=True)
    for session in sessions:
        after = await session.call_tool("echo", {"message": "after"})
        assert after.status_code == 401, after.text
        assert 'error="invalid_token"' in after.headers["www-authenticate"]
    listed = orjson.loads(grants_cli(fleet, "list", "--all", "--json"))
    assert {g["id"]: g["status"] for g in listed["grants"]}[grant.id] == "revoked"


async def test_an_identity_limit_holds_across_both_replicas(
    fleet: Fleet, http: httpx.AsyncClient
) -> None:
    grant = create(fleet, "carol")
    first, second = [await opened(http, url, grant) for url in fleet.urls]
    outcomes = []
    for i in range(4):  # alternate: 8 calls, 4 on each replica
        outcomes.append(await echo_outcome(first, f"a{i}"))
        outcomes.append(await echo_outcome(second, f"b{i}"))
    assert outcomes.count("ok") == LIMIT
    assert outcomes == ["ok"] * LIMIT + [LIMIT_TEXT] * (8 - LIMIT)
    other = await opened(http, fleet.urls[1], create(fleet, "dave"))
    assert await echo_outcome(other, "mine") == "ok"  # another identity, its own count
