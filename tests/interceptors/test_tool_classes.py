"""The enforcer classifies the tools it lists and feeds tool.category / tool.risk to the policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.interceptors.rig import Rig, answer, build, forward_unchanged

from toolgate.interceptors.tool_classes import ToolClasses
from toolgate.jsonrpc.message import Message, parse, result_response
from toolgate.pipeline.types import Forward, Respond

pytestmark = pytest.mark.anyio

POLICY = """
version: "1"
classify:
  send_money: read
tools:
  "*":
    rules:
      - name: no money movers
        conditions: [{path: tool.category, op: neq, value: financial}]
        on_deny: "financial tools are blocked"
"""

WITHDRAW = {
    "name": "withdraw",
    "description": "Withdraw funds from the account to an external wallet address.",
    "inputSchema": {
        "type": "object",
        "properties": {"asset": {"type": "string"}, "amount": {"type": "number"}},
    },
}
BALANCE = {"name": "get_balance", "description": "Show the account balance."}
SEND_MONEY = {**WITHDRAW, "name": "send_money"}


async def list_tools(rig: Rig, tools: list[dict[str, Any]]) -> bytes | None:
    request = parse(b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
    assert isinstance(request, Message)
    outcome = await rig.enforcer(request, rig.session, forward_unchanged)
    assert isinstance(outcome, Forward) and outcome.on_response is not None
    response = parse(result_response(1, {"tools": tools}))
    assert isinstance(response, Message)
    return await outcome.on_response(response)


async def test_a_listed_financial_tool_is_denied_by_a_tool_category_rule(tmp_path: Path) -> None:
    rig = build(tmp_path, POLICY)
    assert await list_tools(rig, [WITHDRAW, BALANCE]) is None  # observed, passed unchanged

    denied = await rig.call("withdraw", {"asset": "BTC", "amount": 1})
    assert "financial tools are blocked" in str(answer(denied))
    assert isinstance(await rig.call("get_balance", {}), Forward)


async def test_the_classify_map_overrides_the_gateways_classification(tmp_path: Path) -> None:
    rig = build(tmp_path, POLICY)
    await list_tools(rig, [SEND_MONEY])
    assert isinstance(await rig.call("send_money", {"amount": 5}), Forward)


async def test_a_tool_never_listed_has_no_category_so_the_condition_fails(tmp_path: Path) -> None:
    rig = build(tmp_path, POLICY)
    outcome = await rig.call("withdraw", {"amount": 1})
    assert isinstance(outcome, Respond)
    assert rig.sink.events[-1].reason == "condition_failed"


async def test_lists_pass_unparsed_when_no_rule_reads_tool_facts(tmp_path: Path) -> None:
    rig = build(
        tmp_path, 'version: "1"\ntools:\n  "*":\n    rules:\n      - rate_limit: 5/minute\n'
    )
    request = parse(b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
    assert isinstance(request, Message)
    outcome = await rig.enforcer(request, rig.session, forward_unchanged)
    assert isinstance(outcome, Forward) and outcome.on_response is None


def test_kept_definitions_are_bounded_and_a_relisted_definition_is_reclassified() -> None:
    classes = ToolClasses(limit=2)
    classes.keep([BALANCE, {"name": "b"}, WITHDRAW])
    assert len(classes) == 2
    assert classes.classification("withdraw") is None
    assert classes.classification("get_balance") == ("read", "low")
    assert classes.classification("b") == ("other", "low")
    classes.keep([{**WITHDRAW, "name": "b"}])
    assert classes.classification("b") == ("financial", "critical")


def test_malformed_listings_are_ignored() -> None:
    classes = ToolClasses()
    classes.observe({"result": {"tools": [1, {"name": 2}, {"description": "x"}]}})
    classes.observe({"result": "nope"})
    assert len(classes) == 0
