# ruff: noqa: E501 - policy texts and expected messages read best on one line
"""The evaluation trace: every rule considered, each condition's result and values, the stop."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from toolgate.policy import CallFacts, evaluate, load_policy_text
from toolgate.policy.decision import Effect, Reason
from toolgate.policy.evaluator import counters_needed
from toolgate.policy.paths import MISSING
from toolgate.policy.regex import REGEX_MAX_CHARS
from toolgate.policy.trace import Trace
from toolgate.policy.trace_render import decision_data, trace_data

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z

POLICY = """
version: "1"
hide: [secret]
default: allow
tools:
  order:
    rules:
      - name: small
        conditions:
          - {path: args.qty, op: lte, value: 10}
          - {any: [{path: args.symbol, op: eq, value: BTCUSDT}, {path: time.hour, op: lt, value: 9}]}
      - name: big needs a human
        action: require_approval
        conditions: [{path: args.qty, op: gt, value: 5}]
      - name: per minute
        rate_limit: 3/minute
  withdraw:
    rules:
      - {name: block, action: deny}
      - {name: never reached, rate_limit: 1/minute}
"""


def _explain(tool: str, args: dict[str, object], counters: object = None) -> Trace:
    policy = load_policy_text(POLICY, "p.yaml")
    facts = CallFacts(tool, args, NOW)
    values = dict.fromkeys(counters_needed(policy, facts), Decimal(counters or 0))
    trace = Trace()
    decision = evaluate(policy, facts.with_counters(values), trace)
    assert trace.decision is decision
    assert decision == evaluate(policy, facts.with_counters(values))  # tracing changes nothing
    return trace


def test_trace_records_each_condition_with_the_value_it_read_and_groups_nested() -> None:
    trace = _explain("order", {"qty": 4, "symbol": "ETHUSDT"})
    small = trace.rules[0]
    assert (small.rule_id, small.outcome) == ("tools.order.rules[0]", "passed")
    qty, group = small.conditions
    assert (qty.result, qty.reads[0].path, qty.reads[0].value) == (True, "args.qty", 4)
    assert group.path == "any" and group.result is True
    symbol, hour = group.members
    assert (symbol.result, symbol.reads[0].value) == (False, "ETHUSDT")
    assert (hour.result, hour.reads[0].source, hour.reads[0].value) == (True, "fact", 0)


def test_trace_of_an_allowed_call_lists_every_rule_and_the_charge_it_obliges() -> None:
    trace = _explain("order", {"qty": 4, "symbol": "BTCUSDT"}, counters=2)
    assert [step.outcome for step in trace.rules] == ["passed", "not applicable", "charged"]
    assert trace.rules[2].charges[0].counter.name == "_rate_minute"
    assert trace.stop.startswith("every rule passed")
    data = decision_data(trace.decision, {trace.rules[2].charges[0].counter: Decimal(2)})  # type: ignore[arg-type]
    assert data["charges"][0]["current"] == "2" and data["charges"][0]["limit"] == "< 3"


def test_trace_marks_conditions_after_the_failing_one_as_not_evaluated() -> None:
    trace = _explain("order", {"qty": 40})
    small = trace.rules[0]
    assert small.outcome == "denied" and len(trace.rules) == 1
    assert [(c.evaluated, c.result) for c in small.conditions] == [(True, False), (False, None)]
    assert "condition failed" in trace.stop


def test_trace_records_a_missing_argument_as_missing() -> None:
    trace = _explain("order", {})
    assert trace.rules[0].conditions[0].reads[0].value is MISSING
    assert trace_data(trace)["rules"][0]["conditions"][0]["reads"][0]["value"] == {"missing": True}


def test_trace_names_the_approval_rule_and_the_limit_rule_that_decide() -> None:
    approval = _explain("order", {"qty": 8, "symbol": "BTCUSDT"})
    assert approval.decision is not None and approval.decision.effect is Effect.REQUIRE_APPROVAL
    assert approval.rules[1].outcome == "approval" and "human" in approval.stop
    limited = _explain("order", {"qty": 1, "symbol": "BTCUSDT"}, counters=3)
    assert limited.decision is not None and limited.decision.reason is Reason.LIMIT
    assert limited.rules[-1].outcome == "denied" and "limit" in limited.stop


def test_trace_stops_at_an_unconditional_deny_and_skips_later_rules() -> None:
    trace = _explain("withdraw", {})
    assert [step.rule_id for step in trace.rules] == ["tools.withdraw.rules[0]"]
    assert trace.rules[0].action == "deny" and "action: deny" in trace.stop


def test_trace_of_a_hidden_tool_considers_no_rule() -> None:
    trace = _explain("secret", {})
    assert trace.rules == [] and "hidden" in trace.stop


def test_trace_records_counter_reads_with_their_values() -> None:
    text = """
version: "1"
tools:
  t:
    rules:
      - name: spend
        conditions: [{path: state.t.spend, op: lte, value: 100}]
        state: {counter: spend, window: day, increment_from: args.amount}
"""
    policy = load_policy_text(text, "p.yaml")
    facts = CallFacts("t", {"amount": 5}, NOW)
    values = dict.fromkeys(counters_needed(policy, facts), Decimal(42))
    trace = Trace()
    evaluate(policy, facts.with_counters(values), trace)
    read = trace.rules[0].conditions[0].reads[0]
    assert (read.source, read.path, read.value) == ("counter", "state.t.spend", Decimal(42))


def test_trace_of_policylayer_rules_uses_json_pointers() -> None:
    text = '{"version": "1", "default": "deny", "tools": {"c": {"deny_if": [{"conditions": [{"path": "args.amount", "op": "gt", "value": 10}]}]}}}'
    policy = load_policy_text(text, "p.json")
    trace = Trace()
    evaluate(policy, CallFacts("c", {"amount": 50}, NOW), trace)
    assert trace.rules[0].rule_id == "/tools/c/deny_if/0" and trace.rules[0].outcome == "denied"
    assert trace.rules[0].conditions[0].members[0].reads[0].value == 50


@pytest.mark.timeout(10)
@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|a)*$", "(.*)*x", ".*x"])
def test_a_long_argument_cannot_make_a_regex_condition_backtrack_for_long(pattern: str) -> None:
    text = f"""
version: "1"
tools:
  t:
    rules:
      - name: pattern
        conditions: [{{path: args.s, op: regex, value: '{pattern}'}}]
      - name: deny_if style
        conditions: [{{not: {{path: args.s, op: regex, value: '{pattern}'}}}}]
"""
    policy = load_policy_text(text, "p.yaml")
    attack = "a" * 100_000 + "!"
    started = time.perf_counter()
    decision = evaluate(policy, CallFacts("t", {"s": attack}, NOW))
    assert time.perf_counter() - started < 1.0
    assert decision.effect is Effect.DENY and decision.reason is Reason.INVALID_CALL
    assert f"{REGEX_MAX_CHARS}" in decision.message


def test_a_regex_condition_still_matches_arguments_within_the_bound() -> None:
    text = """
version: "1"
tools:
  t:
    rules:
      - name: symbol
        conditions: [{path: args.s, op: regex, value: '^[A-Z]+USDT$'}]
"""
    policy = load_policy_text(text, "p.yaml")
    assert evaluate(policy, CallFacts("t", {"s": "BTCUSDT"}, NOW)).allowed
    long_ok = "A" * (REGEX_MAX_CHARS - 4) + "USDT"
    assert evaluate(policy, CallFacts("t", {"s": long_ok}, NOW)).allowed
