"""Run-time classification and the starter policy, through `python -m toolgate run` against the
in-repo demo exchange server with a raw JSON-RPC client."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import RawClient, audit_events, demo_server, raw_client, toolgate
from toolgate.demo.exchange_state import LISTEN_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

WAIT = 60.0

CATEGORY_POLICY = """
version: "1"
tools:
  "*":
    rules:
      - name: no money movers
        conditions:
          - {path: tool.category, op: neq, value: financial}
        on_deny: "financial tools are blocked"
"""


async def call(client: RawClient, msg_id: int, name: str, arguments: object) -> dict[str, Any]:
    answer = await client.request(msg_id, "tools/call", {"name": name, "arguments": arguments})
    result: dict[str, Any] = answer["result"]
    return result


def text_of(result: dict[str, Any]) -> str:
    return " ".join(item.get("text", "") for item in result.get("content", []))


async def test_a_tool_category_rule_denies_the_demo_withdraw_after_tools_list(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(CATEGORY_POLICY)
    async with raw_client(toolgate(policy, demo_server(), home)) as client:
        await client.initialize()
        before = await call(client, 1, "withdraw", {"asset": "BTC", "amount": 1, "address": "a"})
        listed = await client.request(2, "tools/list")
        withdraw = await call(client, 3, "withdraw", {"asset": "BTC", "amount": 1, "address": "a"})
        price = await call(client, 4, "get_price", {"symbol": "BTCUSDT"})
    assert "withdraw" in [tool["name"] for tool in listed["result"]["tools"]]
    # before tools/list the tool is unclassified: the condition reads a missing value and fails
    assert before["isError"] is True
    assert withdraw["isError"] is True
    assert "financial tools are blocked" in text_of(withdraw)
    assert withdraw["_meta"]["dev.toolgate/decision"]["rule"] == "tools.*.rules[0]"
    assert price.get("isError") is not True
    outcomes = [(event["tool"], event["outcome"]) for event in audit_events(home)]
    assert outcomes == [("withdraw", "denied"), ("withdraw", "denied"), ("get_price", "allowed")]


def run_toolgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolgate", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


async def test_the_starter_policy_from_scan_enforces_its_recommended_rules_through_run(
    tmp_path: Path, home: Path
) -> None:
    starter = tmp_path / "starter.yaml"
    scanned = run_toolgate("scan", "--policy-out", str(starter), "--", *demo_server())
    assert scanned.returncode == 0, scanned.stderr
    checked = run_toolgate("validate", "-c", str(starter))
    assert checked.returncode == 0, checked.stdout

    async with raw_client(toolgate(starter, demo_server(), home)) as client:
        await client.initialize()
        await client.request(1, "tools/list")
        read = await call(client, 2, "get_price", {"symbol": "BTCUSDT"})
        writes = [
            await call(client, 10 + i, "keepalive_listen_key", {"listen_key": LISTEN_KEY})
            for i in range(31)
        ]
        withdraw = await call(client, 50, "withdraw", {"asset": "BTC", "amount": 1, "address": "a"})
        reset = await call(client, 51, "reset_api_keys", {})
        unlisted = await call(client, 52, "no_such_tool", {})

    assert read.get("isError") is not True
    assert [w.get("isError") is True for w in writes] == [False] * 30 + [True]
    assert "limit" in text_of(writes[-1]).lower()
    for refused in (withdraw, unlisted):
        assert refused["isError"] is True
        assert refused["content"][0]["text"].startswith("[POLICY DENIED]")
    # a destructive tool waits for a human: this raw client cannot elicit, so it is queued
    assert reset["isError"] is True
    assert reset["content"][0]["text"].startswith("[APPROVAL REQUIRED]")
    decisions = [event for event in audit_events(home) if event.get("type") == "decision"]
    reasons = {event["tool"]: event["reason"] for event in decisions}
    assert reasons["withdraw"] == "limit"  # the starter's daily amount cap is 0 until set
    assert reasons["reset_api_keys"] == "approval_pending"
    assert reasons["no_such_tool"] == "default_deny"
