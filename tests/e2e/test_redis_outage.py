"""`toolgate run --state-dsn redis://…` while its Redis stops, restarts and loses its scripts:
fail-closed (or fail-open) answers, no crash, recovery without a restart, exact counters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.audit.test_event_kinds import schema_errors
from tests.conftest import RedisServer, free_port, stop_redis
from tests.e2e.support import (
    WAIT,
    RawClient,
    all_audit_events,
    audit_events,
    raw_client,
    stub_server,
    toolgate,
)
from tests.stores.test_redis_faults import start_persistent_redis

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

POLICY = """
version: "1"
default: deny
tools:
  echo:
    rules:
      - rate_limit: 1000/day
  tool_00000: {rules: []}
"""


class Caller:
    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.next_id = 1
        self.admitted = 0

    async def call(self, tool: str = "echo") -> dict[str, Any]:
        self.next_id += 1
        params = {"name": tool, "arguments": {"message": "hi"}}
        answer = await self.client.request(self.next_id, "tools/call", params)
        if tool == "echo" and _admitted(answer):
            self.admitted += 1
        return answer

    async def until_admitted(self) -> None:
        """Call echo until one is admitted (Redis is back), bounded by WAIT."""
        with anyio.fail_after(WAIT):
            while not _admitted(await self.call()):  # noqa: ASYNC110 - polls Redis's return
                await anyio.sleep(0.05)


def _admitted(answer: dict[str, Any]) -> bool:
    result = answer.get("result")
    return isinstance(result, dict) and result.get("isError") is not True


def _text(answer: dict[str, Any]) -> str:
    return str(answer.get("result", {}).get("content", [{}])[0].get("text", ""))


def counter_value(server: RedisServer) -> int:
    with server.client() as admin:
        keys = admin.keys("toolgate:counter:*")
        assert len(keys) == 1
        return int(admin.get(keys[0]) or b"0")


async def test_a_gateway_denies_counted_calls_while_redis_is_down_and_resumes_when_it_returns(
    tmp_path: Path, write_policy: Callable[[str], Path], servers: list[RedisServer]
) -> None:
    data = tmp_path / "redis-data"
    data.mkdir()
    port = free_port()
    servers.append(start_persistent_redis(data, port))
    dsn = f"redis://127.0.0.1:{port}/0"
    command = toolgate(write_policy(POLICY), stub_server("2"), tmp_path, "--state-dsn", dsn)
    command[command.index("--state-dsn") : command.index("--state-dsn")] = ["--namespace", "o"]
    async with raw_client(command) as client:
        await client.initialize()
        caller = Caller(client)
        for _ in range(3):
            assert _admitted(await caller.call())

        stop_redis(servers[0])
        for _ in range(3):
            denied = await caller.call()
            assert not _admitted(denied)
            assert "counter store is unavailable" in _text(denied)
        passed = await caller.call("tool_00000")  # needs no counter: reaches the server
        assert "Unknown tool: tool_00000" in str(passed)

        servers.append(start_persistent_redis(data, port))
        await caller.until_admitted()
        assert counter_value(servers[1]) == caller.admitted  # no double count, never negative

        with servers[1].client() as admin:
            admin.script_flush()
        assert _admitted(await caller.call())
        assert counter_value(servers[1]) == caller.admitted == 5
        assert await client.close() == 0  # the gateway never crashed
    denials = [e for e in audit_events(tmp_path) if e.get("outcome") == "error"]
    assert len(denials) >= 3  # one more per poll while Redis was coming back
    assert all("counter store is unavailable" in e["message"] for e in denials)
    failures = [e for e in all_audit_events(tmp_path) if e["type"] == "store_failure"]
    assert failures, "every failed store operation is an audit event"
    for failure in failures:
        assert schema_errors(failure) == [], failure
        assert failure["fail_mode"] == "closed" and failure["operation"] in ("snapshot", "reserve")
        assert str(port) in failure["store_url"]
    denied_ids = {e["decision_id"] for e in denials}
    assert {f["decision_id"] for f in failures} <= denied_ids


async def test_in_fail_open_mode_counted_calls_pass_while_redis_is_down_and_are_marked(
    tmp_path: Path, write_policy: Callable[[str], Path], servers: list[RedisServer]
) -> None:
    data = tmp_path / "redis-data"
    data.mkdir()
    port = free_port()
    servers.append(start_persistent_redis(data, port))
    dsn = f"redis://127.0.0.1:{port}/0"
    extra = ("--state-dsn", dsn, "--state-fail-mode", "open", "--namespace", "o")
    command = toolgate(write_policy(POLICY), stub_server("2"), tmp_path, *extra)
    async with raw_client(command) as client:
        await client.initialize()
        caller = Caller(client)
        assert _admitted(await caller.call())
        stop_redis(servers[0])
        assert _admitted(await caller.call())
        assert await client.close() == 0
    reasons = [e["reason"] for e in audit_events(tmp_path) if e.get("tool") == "echo"]
    assert reasons[-1] == "fail_open" and reasons[0] != "fail_open"
