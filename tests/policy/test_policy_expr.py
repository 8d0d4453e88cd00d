"""Golden table for `expr:` CEL conditions: decisions, located errors, bounds, fail closed."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from tests.policy.policy_cases import call, errors_of, policy, ref
from toolgate.policy import Effect, evaluate, load_policy_text
from toolgate.policy.evaluator import counters_needed
from toolgate.policy.expr_scan import MAX_CHARS

ORDER = """
tools:
  order:
    rules:
      - {name: daily, rate_limit: 100/day}
      - name: cel
        conditions:
          - expr: 'args.qty * args.price <= 1000.0 && args.side in ["BUY", "SELL"]'
          - any:
              - expr: 'args.symbol.startsWith("BTC") || state.order._rate_day < 3'
              - not: {expr: 'has(args.symbol)'}
"""


def one_expr(expr: str) -> str:
    return f"tools:\n  t:\n    rules:\n      - {{name: n, conditions: [{{expr: '{expr}'}}]}}\n"


CASES = [
    ("under-notional", {"qty": 2.0, "price": 100.0, "side": "BUY", "symbol": "BTCUSDT"}, True),
    ("over-notional", {"qty": 20.0, "price": 100.0, "side": "BUY", "symbol": "BTCUSDT"}, False),
    ("bad-side", {"qty": 1.0, "price": 1.0, "side": "HOLD", "symbol": "BTCUSDT"}, False),
    (
        "other-symbol-under-counter",
        {"qty": 1.0, "price": 1.0, "side": "BUY", "symbol": "ETH"},
        True,
    ),
    ("missing-key-fails-closed", {"qty": 1.0, "side": "BUY", "symbol": "BTCUSDT"}, False),
    ("int-times-double-fails-closed", {"qty": 2, "price": 1.5, "side": "BUY"}, False),
    ("decimal-arguments-are-doubles", {"qty": Decimal("0.5"), "price": 10.0, "side": "SELL"}, True),
]


@pytest.mark.parametrize(("arguments", "holds"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_expr_conditions_decide_like_any_other_condition(
    arguments: dict[str, object], holds: bool
) -> None:
    decision = evaluate(policy(ORDER), call("order", arguments))
    assert decision.effect is (Effect.ALLOW if holds else Effect.DENY)


def test_an_expr_reads_the_counters_it_names_and_sees_their_values() -> None:
    compiled = policy(ORDER)
    needed = counters_needed(compiled, call("order"))
    assert [r.name for r in needed] == ["_rate_day"]
    args = {"qty": 1.0, "price": 1.0, "side": "BUY", "symbol": "ETH"}
    full = call("order", args, counters={ref("order", "_rate_day", "day"): Decimal(3)})
    assert evaluate(compiled, full).effect is Effect.DENY


def test_a_runtime_error_denies_with_a_message_naming_the_expression_and_the_error() -> None:
    decision = evaluate(policy(ORDER), call("order", {"qty": 1.0, "side": "BUY"}))
    assert decision.rule_id == "tools.order.rules[1]"
    assert "requires expr args.qty * args.price" in decision.message
    assert "evaluation failed" in decision.message and "price" in decision.message


def test_a_non_bool_result_makes_the_condition_fail() -> None:
    compiled = policy(one_expr("args.a"))
    assert evaluate(compiled, call("t", {"a": True})).effect is Effect.ALLOW
    decision = evaluate(compiled, call("t", {"a": "yes"}))
    assert decision.effect is Effect.DENY and "it returned str" in decision.message


def test_numeric_strings_stay_strings_and_convert_with_double() -> None:
    body = one_expr("double(args.q) <= 0.5")
    assert evaluate(policy(body), call("t", {"q": "0.01"})).effect is Effect.ALLOW
    assert evaluate(policy(body), call("t", {"q": "abc"})).effect is Effect.DENY


def test_identity_tool_and_time_are_visible_to_expressions() -> None:
    body = """
    classify: {t: financial}
    tools:
      t:
        rules:
          - name: n
            conditions:
              - expr: 'identity.name == "ops" && identity.desk == "fx"'
              - expr: 'tool.category == "financial"'
              - expr: 'time.weekday == 3 && time.hour == 0 && tool.name == "t"'
    """
    facts = replace(call("t"), identity="ops", identity_attributes={"desk": "fx"})
    assert evaluate(policy(body), facts).effect is Effect.ALLOW  # 2026-01-01 00:00 UTC, Thursday
    assert evaluate(policy(body), call("t")).effect is Effect.DENY


def test_a_comprehension_over_huge_arguments_is_refused_not_run() -> None:
    body = one_expr("args.xs.all(x, x > 0)")
    assert evaluate(policy(body), call("t", {"xs": [1] * 100})).effect is Effect.ALLOW
    decision = evaluate(policy(body), call("t", {"xs": [1] * 20_000}))
    assert decision.effect is Effect.DENY and "more than 10000 values" in decision.message


def test_expr_works_in_the_policylayer_dialect() -> None:
    body = '{"version": "1", "default": "allow", "tools": {"t": {"deny_if": [{"conditions": ' \
        '[{"expr": "args.a > 3"}]}]}}}'  # fmt: skip
    compiled = load_policy_text(body, "p.json")
    assert evaluate(compiled, call("t", {"a": 5})).effect is Effect.DENY
    assert evaluate(compiled, call("t", {"a": 1})).effect is Effect.ALLOW


NESTED = "args.xs.all(a, args.ys.exists(b, a < b))"
ERRORS = [
    ("syntax-error-located", "'args.a <= '", "CEL syntax error at 1:11"),
    ("unknown-variable", "'amount > 3'", "unknown variable amount"),
    ("undeclared-counter", "'state.t.nope < 3'", '"state.t.nope" reads a counter that no rule'),
    (
        "state-in-another-form",
        "'state[\"t\"].x < 3'",
        "counters are read as state.<tool>.<counter>",
    ),
    ("nested-comprehension", f"'{NESTED}'", "may not nest in another"),
    ("too-long", "'" + "1 + " * (MAX_CHARS // 4) + "1 > 0'", f"(at most {MAX_CHARS})"),
    ("too-deep", "'" + "(" * 30 + "true" + ")" * 30 + "'", "nested more than 24 deep"),
    ("not-a-string", "[1, 2]", "expr must be a string holding a CEL expression"),
    ("empty", "''", "the expression is empty"),
]


@pytest.mark.parametrize(("expr", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_expressions_that_cannot_run_are_located_validation_errors(expr: str, message: str) -> None:
    body = f"tools:\n  t:\n    rules:\n      - name: r\n        conditions: [{{expr: {expr}}}]\n"
    [error] = errors_of(body)
    assert error.path == "tools.t.rules[0].conditions[0].expr"
    assert (error.location.line, error.location.column) == (6, 29)
    assert message in error.message


def test_a_pathological_expression_is_refused_at_validate_time() -> None:
    nested = "[1,2,3].map(a, [1,2,3].map(b, [1,2,3].map(c, a + b + c))).size() > 0"
    [error] = errors_of(
        f"tools:\n  t:\n    rules:\n      - {{name: r, conditions: [{{expr: '{nested}'}}]}}\n"
    )
    assert "comprehension" in error.message
