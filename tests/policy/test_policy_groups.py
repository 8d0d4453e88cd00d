"""Golden table for boolean groups in conditions: any, all, not, nested; located errors."""

from __future__ import annotations

import pytest

from tests.policy.policy_cases import call, errors_of, policy
from toolgate.policy import Effect, evaluate
from toolgate.policy.evaluator import counters_needed

GROUPS = """
tools:
  order:
    rules:
      - name: market or small limit
        conditions:
          - any:
              - {path: args.type, op: eq, value: MARKET}
              - all:
                  - {path: args.type, op: eq, value: LIMIT}
                  - {path: args.qty, op: lte, value: 5}
          - not: {path: args.symbol, op: in, value: [LUNAUSDT, FTTUSDT]}
"""

CASES = [
    ("any-first-branch", {"type": "MARKET", "symbol": "BTCUSDT"}, True),
    ("any-nested-all-holds", {"type": "LIMIT", "qty": 5, "symbol": "BTCUSDT"}, True),
    ("any-nested-all-fails", {"type": "LIMIT", "qty": 6, "symbol": "BTCUSDT"}, False),
    ("any-no-branch", {"type": "STOP", "symbol": "BTCUSDT"}, False),
    ("not-inverts", {"type": "MARKET", "symbol": "LUNAUSDT"}, False),
    ("not-of-missing-holds", {"type": "MARKET"}, True),
]


@pytest.mark.parametrize(("arguments", "holds"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_groups_combine_their_members_as_any_all_and_not(
    arguments: dict[str, object], holds: bool
) -> None:
    decision = evaluate(policy(GROUPS), call("order", arguments))
    assert decision.effect is (Effect.ALLOW if holds else Effect.DENY)


def test_a_failed_group_is_named_in_the_engine_message() -> None:
    decision = evaluate(policy(GROUPS), call("order", {"type": "STOP", "symbol": "X"}))
    assert decision.rule_id == "tools.order.rules[0]"
    assert 'requires any(args.type eq "MARKET"; all(' in decision.message


def test_a_group_reading_a_counter_asks_for_that_counter() -> None:
    compiled = policy("""
    tools:
      t:
        rules:
          - {name: rate, rate_limit: 5/minute}
          - name: grouped
            conditions:
              - not: {path: state.t._rate_minute, op: gt, value: 3}
    """)
    [needed] = counters_needed(compiled, call("t"))
    assert needed.name == "_rate_minute"


ERRORS = [
    ("empty-any", "{any: []}", "conditions[0].any", "any needs at least one condition"),
    ("all-not-a-list", "{all: {path: args.a, op: eq, value: 1}}", "conditions[0].all",
     "all takes a list of conditions, got a mapping"),
    ("not-a-list", "{not: [{path: args.a, op: eq, value: 1}]}", "conditions[0].not",
     "not takes one condition (a mapping), not a list"),
    ("bad-member-is-located", "{any: [{path: args.a, op: eq, value: 1}, {path: args.a, op: eqq, "
     "value: 1}]}", "conditions[0].any[1]", 'unknown operator "eqq"'),
    ("nested-member-is-located", "{not: {all: [{path: nope, op: eq, value: 1}]}}",
     "conditions[0].not.all[0]", "path must start with"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("item", "where", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_group_errors_are_located_at_the_member(item: str, where: str, message: str) -> None:
    body = f"tools:\n  t:\n    rules:\n      - name: r\n        conditions: [{item}]\n"
    errors = errors_of(body)
    assert [e.path for e in errors] == [f"tools.t.rules[0].{where}"]
    assert errors[0].message.startswith(message)
