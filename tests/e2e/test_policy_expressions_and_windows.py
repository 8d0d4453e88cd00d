"""CEL expressions and duration / weekly windows end to end: a raw client through `toolgate run`
to the in-repo stub, with the stub's own log proving what reached it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.support import RawClient, audit_events, raw_client, stub_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

POLICY = """
version: "1"
tools:
  echo:
    rules:
      - name: short greetings only
        conditions:
          - expr: 'args.message.startsWith("hi") && size(args.message) <= 10'
        on_deny: "only short greetings"
      - name: two per ninety seconds
        rate_limit: {max: 2, window: 90s}
      - name: ten a week
        rate_limit: {max: 10, window: week}
"""


async def echo(client: RawClient, msg_id: int, message: str) -> dict[str, Any]:
    answer = await client.request(
        msg_id, "tools/call", {"name": "echo", "arguments": {"message": message}}
    )
    result: dict[str, Any] = answer["result"]
    return result


async def test_a_cel_condition_and_a_duration_window_decide_through_the_gateway(
    home: Path, write_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    policy = write_policy(POLICY)
    server_log = tmp_path / "server.log"
    env = {"TOOLGATE_DEMO_SERVER_LOG": str(server_log)}
    async with raw_client(toolgate(policy, stub_server(), home), env) as client:
        await client.initialize()
        long = await echo(client, 1, "hi there, this is far too long")
        first = await echo(client, 2, "hi")
        second = await echo(client, 3, "hiya")
        third = await echo(client, 4, "hi again")
    assert long["isError"] is True
    assert long["content"][0]["text"] == "[POLICY DENIED] only short greetings"
    assert not first.get("isError") and not second.get("isError")
    assert third["isError"] is True
    assert third["_meta"]["dev.toolgate/decision"]["reason"] == "limit"
    assert third["_meta"]["dev.toolgate/decision"]["rule"] == "tools.echo.rules[1]"
    reached = [
        m
        for m in map(orjson.loads, server_log.read_bytes().splitlines())
        if m.get("method") == "tools/call"
    ]
    assert [m["params"]["arguments"]["message"] for m in reached] == ["hi", "hiya"]
    outcomes = [e["outcome"] for e in audit_events(home) if e.get("type") == "decision"]
    assert outcomes == ["denied", "allowed", "allowed", "denied"]
