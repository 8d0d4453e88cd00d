"""A fleet of gateway processes sharing one Redis never lets a limit overshoot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import orjson
import pytest

from tests.conftest import RedisServer
from tests.e2e.support import WAIT, RawClient, raw_client, stub_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

LIMIT = 100
GATEWAYS = 4
CALLS_PER_GATEWAY = 100  # 400 calls in flight against a fleet limit of 100

POLICY = f"""
version: "1"
default: deny
tools:
  echo:
    rules:
      - rate_limit: {LIMIT}/day  # a day: a window rollover mid-test is unlikely
"""


async def hammer(
    client: RawClient, first_id: int, outcomes: list[bool], calls: int = CALLS_PER_GATEWAY
) -> None:
    """Send every call at once, then read every answer; True for each call that was admitted."""
    ids = range(first_id, first_id + calls)
    for msg_id in ids:
        params = {"name": "echo", "arguments": {"message": f"m{msg_id}"}}
        await client.send(
            {"jsonrpc": "2.0", "id": msg_id, "method": "tools/call", "params": params}
        )
    for msg_id in ids:
        answer = orjson.loads(await client.response_line(msg_id))
        outcomes.append(answer.get("result", {}).get("isError") is not True)


async def test_gateway_processes_sharing_one_redis_admit_exactly_the_fleet_limit(
    fresh_redis: RedisServer, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(POLICY)
    upstream_log = tmp_path / "upstream.log"
    env = {"TOOLGATE_DEMO_SERVER_LOG": str(upstream_log)}
    outcomes: list[bool] = []
    store = ("--counter-store", fresh_redis.url, "--namespace", "fleet")

    async def gateway(index: int) -> None:
        home = tmp_path / f"gateway-{index}"
        home.mkdir()
        command = toolgate(policy, stub_server(), home, *store)
        async with raw_client(command, env) as client:
            await client.initialize()
            await hammer(client, 1000 * (index + 1), outcomes)

    with anyio.fail_after(WAIT * 2):
        async with anyio.create_task_group() as tg:
            for index in range(GATEWAYS):
                tg.start_soon(gateway, index)

    assert len(outcomes) == GATEWAYS * CALLS_PER_GATEWAY
    assert outcomes.count(True) == LIMIT
    reached = [line for line in upstream_log.read_text().splitlines() if '"tools/call"' in line]
    assert len(reached) == LIMIT
    with fresh_redis.client() as client:
        keys = client.keys("toolgate:counter:*")
        assert len(keys) == 1  # one fleet-wide counter, not one per process
        assert client.get(keys[0]) == str(LIMIT).encode()
        assert 0 < client.pttl(keys[0]) <= (86_400 + 300) * 1000
