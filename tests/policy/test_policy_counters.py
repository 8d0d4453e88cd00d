"""Counter amounts (Intercept defect 2), the counters a call needs, and tool visibility."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tests.policy.policy_cases import call, charges, policy, ref
from toolgate.policy import Effect, Reason, counters_needed, evaluate, visible

SPEND = """
tools:
  pay:
    rules:
      - name: daily spend
        conditions: [{path: state.pay.spend, op: lte, value: 1000000000000000000000000}]
        state: {counter: spend, window: day, increment_from: args.payment.amount}
"""
SMALL_SPEND = SPEND.replace("1000000000000000000000000", "100")


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        (-5, "is negative (-5)"),
        (-0.01, "is negative (-0.01)"),
        (math.nan, "is not a finite number (nan)"),
        (math.inf, "is not a finite number (inf)"),
        (-math.inf, "is not a finite number (-inf)"),
        (Decimal("NaN"), "is not a finite number (NaN)"),
        ("5", "is a string, not a number"),
        (True, "is a boolean (true), not a number"),
        (False, "is a boolean (false), not a number"),
        (None, "is null, not a number"),
        ([5], "is a list, not a number"),
        ({"value": 5}, "is a mapping, not a number"),
    ],
    ids=repr,
)
def test_an_unusable_increment_from_amount_denies_the_call_as_invalid(
    amount: object, problem: str
) -> None:
    decision = evaluate(policy(SPEND), call("pay", {"payment": {"amount": amount}}))
    assert (decision.effect, decision.reason) == (Effect.DENY, Reason.INVALID_CALL)
    assert decision.rule_id == "tools.pay.rules[0]"
    assert f"args.payment.amount {problem}" in decision.message
    assert decision.charges == ()


def test_a_missing_increment_from_amount_denies_the_call_as_invalid() -> None:
    decision = evaluate(policy(SPEND), call("pay", {"payment": {}}))
    assert (decision.effect, decision.reason) == (Effect.DENY, Reason.INVALID_CALL)
    assert "args.payment.amount is missing" in decision.message


@pytest.mark.parametrize(
    ("amount", "counted"),
    [
        (0.5, "0.5"),
        (0.1, "0.1"),
        (1e-7, "1E-7"),
        (0, "0"),
        (12, "12"),
        (10**20 + 1, "100000000000000000001"),
        (Decimal("2.50"), "2.50"),
    ],
    ids=["half", "tenth", "tiny", "zero", "integer", "big-integer", "decimal"],
)
def test_a_valid_amount_is_counted_exactly_never_truncated(amount: object, counted: str) -> None:
    decision = evaluate(policy(SPEND), call("pay", {"payment": {"amount": amount}}))
    assert decision.effect is Effect.ALLOW
    (charge,) = decision.charges
    assert charge.amount == Decimal(counted)
    assert str(charge.amount) == counted


def test_half_increments_reach_a_limit_by_exact_decimal_arithmetic() -> None:
    compiled = policy(SMALL_SPEND)
    spend = ref("pay", "spend", "day")
    half = {"payment": {"amount": 0.5}}
    assert evaluate(compiled, call("pay", half, {spend: Decimal("99.5")})).allowed
    denied = evaluate(compiled, call("pay", half, {spend: Decimal("99.6")}))
    assert denied.reason is Reason.LIMIT


def test_a_fixed_decimal_increment_is_counted_exactly() -> None:
    text = """
    tools:
      t:
        rules:
          - name: r
            conditions: [{path: args.x, op: exists, value: true}]
            state: {counter: c, window: minute, increment: 0.25}
    """
    decision = evaluate(policy(text), call("t", {"x": 1}))
    assert charges(decision) == [("t", "c", "minute", "0.25", None)]


NEEDS = """
hide: [secret]
default: deny
tools:
  pay:
    rules:
      - name: cap
        conditions:
          - {path: state.pay.spend, op: lte, value: 100}
          - {path: state._global.calls, op: lt, value: 1000}
        state: {counter: spend, window: day, increment_from: args.amount}
      - name: tally
        conditions: [{path: args.amount, op: gte, value: 0}]
        state: {counter: tally, window: hour}
  secret:
    rules: [{rate_limit: 1/day}]
  free:
    rules: []
  "*":
    rules:
      - {name: per minute, rate_limit: 60/minute}
      - name: calls
        conditions: [{path: args.x, op: neq, value: 0}]
        state: {counter: calls, window: day}
"""


def test_counters_needed_names_every_counter_a_condition_or_bound_reads_once() -> None:
    needed = counters_needed(policy(NEEDS), call("pay", {"amount": 5}))
    assert needed == (
        ref("pay", "spend", "day"),
        ref("_global", "calls", "day"),
        ref("_global", "_rate_minute", "minute"),
    )


def test_counters_needed_is_empty_for_hidden_and_default_denied_tools() -> None:
    compiled = policy(NEEDS)
    assert counters_needed(compiled, call("secret")) == ()
    assert counters_needed(compiled, call("unlisted")) == ()


def test_counters_needed_for_a_listed_tool_without_rules_still_includes_star_rules() -> None:
    assert counters_needed(policy(NEEDS), call("free")) == (ref("_global", "_rate_minute"),)


def test_a_counter_of_a_star_rule_is_shared_by_every_tool() -> None:
    compiled = policy(NEEDS)
    calls = ref("_global", "calls", "day")
    for tool in ("pay", "free"):
        decision = evaluate(compiled, call(tool, {"amount": 1, "x": 1}))
        assert calls in [charge.counter for charge in decision.charges]


def test_hidden_tools_are_not_visible_and_others_are() -> None:
    compiled = policy(NEEDS)
    assert not visible(compiled, "secret")
    assert visible(compiled, "pay")
    assert visible(compiled, "unlisted")  # refused when called, but not hidden


def test_hide_star_makes_every_tool_invisible() -> None:
    compiled = policy('hide: ["*"]\ntools: {}\n')
    assert not visible(compiled, "anything")
