"""Reading responses as demo verdicts, and rendering them as tables."""

from __future__ import annotations

import importlib.resources
import io
from typing import Any

from rich.console import Console

from toolgate.demo.agent import CallRecord
from toolgate.demo.outcome import ERROR, EXECUTED, REFUSED, direct_verdict, gateway_verdict
from toolgate.demo.rule_names import rule_label, rule_names
from toolgate.demo.script import ALLOW, DENY, HIDDEN, LIMIT, ScriptedCall
from toolgate.demo.table import compact_arguments, direct_table, gateway_table


def _result(
    text: str, *, is_error: bool = False, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": is_error}
    if meta is not None:
        result["_meta"] = meta
    return {"jsonrpc": "2.0", "id": 1, "result": result}


def _decision(reason: str, rule: str = "tools.x.rules[0]") -> dict[str, Any]:
    return {"dev.toolgate/decision": {"id": "dec_1", "rule": rule, "reason": reason}}


def test_a_denial_whose_decision_says_limit_is_limit() -> None:
    response = _result("[POLICY DENIED] slow down", is_error=True, meta=_decision("limit"))
    verdict = gateway_verdict(response)
    assert (verdict.label, verdict.rule, verdict.message) == (
        LIMIT,
        "tools.x.rules[0]",
        "slow down",
    )


def test_a_denial_for_a_failed_condition_is_deny_even_if_the_text_says_limit() -> None:
    response = _result(
        "[POLICY DENIED] limit orders only", is_error=True, meta=_decision("condition_failed")
    )
    assert gateway_verdict(response).label == DENY


def test_without_decision_meta_the_text_decides_between_deny_and_limit() -> None:
    assert gateway_verdict(_result("[POLICY DENIED] Rate limit hit", is_error=True)).label == LIMIT
    assert gateway_verdict(_result("[POLICY DENIED] no withdrawals", is_error=True)).label == DENY


def test_unknown_tool_error_through_the_gateway_is_hidden() -> None:
    response = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "Unknown tool: x"}}
    assert gateway_verdict(response).label == HIDDEN
    assert direct_verdict(response).label == ERROR


def test_results_that_went_through_are_allowed_even_when_the_exchange_refused() -> None:
    assert gateway_verdict(_result("BTCUSDT 1")).label == ALLOW
    refused = gateway_verdict(_result("insufficient balance", is_error=True))
    assert (refused.label, refused.message) == (ALLOW, "exchange refused: insufficient balance")


def test_direct_verdicts_tell_executed_from_refused() -> None:
    assert direct_verdict(_result("ok")).label == EXECUTED
    assert direct_verdict(_result("no", is_error=True)).label == REFUSED


def test_compact_arguments_are_short_and_readable() -> None:
    assert (
        compact_arguments({"symbol": "BTCUSDT", "quantity": 0.5}) == "symbol=BTCUSDT quantity=0.5"
    )
    assert compact_arguments({}) == "-"
    assert compact_arguments({"key": "x" * 100}).endswith("…")


def test_tables_show_one_row_per_call_with_its_label() -> None:
    records = [
        CallRecord(ScriptedCall("get_price", {"symbol": "BTCUSDT"}), _result("BTCUSDT 1")),
        CallRecord(
            ScriptedCall("withdraw", {"amount": 5}),
            _result("[POLICY DENIED] ask a human", is_error=True, meta=_decision("rule_deny", "w")),
        ),
    ]
    out = io.StringIO()
    console = Console(file=out, width=160, color_system=None)
    console.print(gateway_table(records))
    console.print(direct_table(records))
    text = out.getvalue()
    assert "Through toolgate" in text and "Without toolgate" in text
    assert "ALLOW" in text and "DENY" in text and "ask a human" in text
    assert "EXECUTED" in text and "REFUSED" in text


def test_rule_ids_are_shown_by_their_policy_names() -> None:
    policy = importlib.resources.files("toolgate.demo").joinpath("policy.yaml").read_text()
    names = rule_names(policy)
    assert rule_label("tools.place_order.rules[3]", names) == "order size cap"
    assert rule_label("tools.*.rules[0]", names) == "global rate limit"
    assert rule_label("(default deny)", names) == "(default deny)"
    assert rule_names("not: [valid") == {}
