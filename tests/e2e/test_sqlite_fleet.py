"""Two gateway processes sharing one SQLite state file never let a limit overshoot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests.e2e.support import WAIT, raw_client, stub_server, toolgate
from tests.e2e.test_redis_fleet import LIMIT, POLICY, hammer

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

GATEWAYS = 2
CALLS = 200  # each gateway sends 200 calls at once: 400 against a limit of 100


async def test_two_gateway_processes_sharing_one_sqlite_file_admit_exactly_the_limit(
    tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(POLICY)
    upstream_log = tmp_path / "upstream.log"
    env = {"TOOLGATE_DEMO_SERVER_LOG": str(upstream_log)}
    state = f"sqlite:///{tmp_path / 'shared' / 'counters.sqlite3'}"
    outcomes: list[bool] = []

    async def gateway(index: int) -> None:
        home = tmp_path / f"gateway-{index}"
        home.mkdir()
        command = toolgate(policy, stub_server(), home, "--state-dsn", state, "--namespace", "f")
        async with raw_client(command, env) as client:
            await client.initialize()
            await hammer(client, 1000 * (index + 1), outcomes, CALLS)

    with anyio.fail_after(WAIT * 2):
        async with anyio.create_task_group() as tg:
            for index in range(GATEWAYS):
                tg.start_soon(gateway, index)

    assert len(outcomes) == GATEWAYS * CALLS == 400
    assert outcomes.count(True) == LIMIT
    reached = [line for line in upstream_log.read_text().splitlines() if '"tools/call"' in line]
    assert len(reached) == LIMIT
