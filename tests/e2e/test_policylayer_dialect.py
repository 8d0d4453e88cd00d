"""Dialect B (PolicyLayer JSON) end to end: a raw client through `toolgate run` to a stub server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import RawClient, audit_events, raw_client, stub_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

POLICY = """{
  "version": "1",
  "default": "deny",
  "hide": ["tool_00001"],
  "all_tools": {"limits": [{"counter": "calls", "window": "day", "max": 100, "scope": "grant"}]},
  "tools": {
    "echo": {
      "require": [{"conditions": [{"path": "args.message", "op": "exists", "value": true}],
                   "on_deny": "Say something"}],
      "deny_if": [{"conditions": [{"path": "args.message", "op": "contains", "value": "drop"}],
                   "on_deny": "No dropping"}],
      "limits": [{"counter": "echoes", "window": "day", "max": 2, "scope": "grant"}]
    }
  }
}"""


async def call(client: RawClient, msg_id: int, arguments: dict[str, Any]) -> dict[str, Any]:
    answer = await client.request(msg_id, "tools/call", {"name": "echo", "arguments": arguments})
    result: dict[str, Any] = answer["result"]
    return result


def rule_of(result: dict[str, Any]) -> str | None:
    if result.get("isError") is not True:
        return None
    rule: str = result["_meta"]["dev.toolgate/decision"]["rule"]
    return rule


async def test_a_dialect_b_json_policy_decides_with_pointer_rule_ids_on_the_wire_and_in_audit(
    home: Path, write_policy: Callable[..., Path]
) -> None:
    policy = write_policy(POLICY, "policy.json")
    command = toolgate(policy, stub_server("3"), home, "--identity", "desk")
    async with raw_client(command) as client:
        await client.initialize()
        listed = await client.request(1, "tools/list")
        results = [
            await call(client, 2, {}),
            await call(client, 3, {"message": "drop table"}),
            await call(client, 4, {"message": "one"}),
            await call(client, 5, {"message": "two"}),
            await call(client, 6, {"message": "three"}),
        ]
        other = await client.request(7, "tools/call", {"name": "tool_00002", "arguments": {}})
    assert [tool["name"] for tool in listed["result"]["tools"]] == ["echo", "tool_00002"]
    assert [rule_of(result) for result in results] == [
        "/tools/echo/require/0",
        "/tools/echo/deny_if/0",
        None,
        None,
        "/tools/echo/limits/0",
    ]
    assert results[1]["content"] == [{"type": "text", "text": "[POLICY DENIED] No dropping"}]
    assert rule_of(other["result"]) == "(default deny)"
    events = [e for e in audit_events(home) if e.get("tool") in ("echo", "tool_00002")]
    assert [(e["outcome"], e["rule"]) for e in events] == [
        ("denied", "/tools/echo/require/0"),
        ("denied", "/tools/echo/deny_if/0"),
        ("allowed", None),
        ("allowed", None),
        ("denied", "/tools/echo/limits/0"),
        ("denied", "(default deny)"),
    ]
    assert {e["identity"] for e in events} == {"desk"}
