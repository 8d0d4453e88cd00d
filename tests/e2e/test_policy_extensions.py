"""toolgate's policy extensions end to end: a raw client through `toolgate run` to a stub server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.support import RawClient, audit_events, raw_client, stub_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

EXTENDED = """
version: "1"
default: deny
classify:
  "ec*": read
tools:
  "ec*":
    rules:
      - name: orders in range
        conditions:
          - any:
              - {path: args.message, op: starts_with, value: "ok"}
              - all:
                  - {path: "args.orders[*].qty", op: lte, value: 0.5}
                  - {path: "args.orders[0].symbol", op: glob, value: "*USDT"}
          - not: {path: args.message, op: ends_with, value: "!"}
          - {path: args.message, op: len_lte, value: 40}
          - {path: tool.risk, op: eq, value: low}
          - {path: time.weekday, op: lte, value: 6}
      - name: desk only
        conditions: [{path: identity.name, op: eq, value: desk}]
"""

SHADOW = """
version: "1"
mode: shadow
default: deny
tools:
  other: {rules: []}
"""


async def call(client: RawClient, msg_id: int, arguments: dict[str, Any]) -> dict[str, Any]:
    return await client.request(msg_id, "tools/call", {"name": "echo", "arguments": arguments})


def denied(answer: dict[str, Any]) -> bool:
    result = answer.get("result", {})
    return result.get("isError") is True and "[POLICY DENIED]" in orjson.dumps(result).decode()


async def test_globs_groups_operators_paths_and_identity_decide_through_the_gateway(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(EXTENDED)
    command = toolgate(policy, stub_server(), home, "--identity", "desk")
    orders = [{"qty": "0.25", "symbol": "BTCUSDT"}, {"qty": 0.5}]
    async with raw_client(command) as client:
        await client.initialize()
        assert not denied(await call(client, 1, {"message": "ok go"}))
        assert not denied(await call(client, 2, {"message": "m", "orders": orders}))
        assert denied(await call(client, 3, {"message": "ok go!"}))
        too_big = [{"qty": "0.75", "symbol": "BTCUSDT"}]
        assert denied(await call(client, 4, {"message": "m", "orders": too_big}))
        assert denied(await call(client, 5, {"message": "ok" + "x" * 50}))
    events = audit_events(home)
    assert [e["outcome"] for e in events] == ["allowed", "allowed", "denied", "denied", "denied"]
    assert {e["identity"] for e in events} == {"desk"}


async def test_the_identity_comes_from_the_environment_when_no_flag_is_given(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(EXTENDED)
    env = {"TOOLGATE_IDENTITY": "intern"}
    async with raw_client(toolgate(policy, stub_server(), home), env=env) as client:
        await client.initialize()
        assert denied(await call(client, 1, {"message": "ok go"}))
    async with raw_client(
        toolgate(policy, stub_server(), home, "--identity", "desk"), env=env
    ) as client:
        await client.initialize()
        assert not denied(await call(client, 1, {"message": "ok go"}))
    assert [e["identity"] for e in audit_events(home)] == ["intern", "desk"]


async def test_a_shadow_policy_forwards_what_it_would_deny_and_logs_would_deny(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(SHADOW)
    async with raw_client(toolgate(policy, stub_server(), home)) as client:
        await client.initialize()
        answer = await call(client, 1, {"message": "hi"})
        assert "error" not in answer and not denied(answer)
    [event] = audit_events(home)
    assert (event["outcome"], event["mode"], event["upstream"]) == ("allowed", "shadow", "ok")
    assert event["would"]["effect"] == "deny"
    assert event["would"]["rule"] == "(default deny)"
