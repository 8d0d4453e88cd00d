"""Golden table for tool-name globs as `tools:` keys: precedence, listing, counters, the cache."""

from __future__ import annotations

import pytest

from tests.policy.policy_cases import call, policy
from toolgate.policy import Effect, evaluate
from toolgate.policy.evaluator import counters_needed
from toolgate.policy.model import PLAN_CACHE_SIZE

GLOBS = """
default: deny
tools:
  bn_new_order:
    rules:
      - name: exact
        conditions: [{path: args.qty, op: lte, value: 10}]
  "bn_*":
    rules:
      - name: bn glob
        conditions: [{path: args.qty, op: lte, value: 5}]
  "Binance*Order*":
    rules:
      - name: binance orders
        conditions: [{path: args.symbol, op: ends_with, value: USDT}]
  "bn_?et":
    rules: []
  "*":
    rules:
      - name: everyone
        conditions: [{path: args.blocked, op: exists, value: false}]
"""

CASES = [
    # (id, tool, arguments, effect, deciding rule)
    ("exact-rule-runs-first", "bn_new_order", {"qty": 11}, "deny", "tools.bn_new_order.rules[0]"),
    ("then-matching-globs", "bn_new_order", {"qty": 7}, "deny", "tools.bn_*.rules[0]"),
    ("then-the-wildcard", "bn_new_order", {"qty": 1, "blocked": 1}, "deny", "tools.*.rules[0]"),
    ("all-pass", "bn_new_order", {"qty": 1}, "allow", None),
    ("glob-alone-lists-the-tool", "bn_cancel", {"qty": 1}, "allow", None),
    ("glob-rules-apply", "bn_cancel", {"qty": 6}, "deny", "tools.bn_*.rules[0]"),
    ("second-glob-in-file-order", "BinanceFuturesOrderNew", {"symbol": "BTCEUR"}, "deny",
     "tools.Binance*Order*.rules[0]"),
    ("question-mark-matches-one-char", "bn_get", {"qty": 1}, "allow", None),
    ("globs-are-case-sensitive", "BN_cancel", {}, "deny", "(default deny)"),
    ("unmatched-tool-is-default-denied", "other", {}, "deny", "(default deny)"),
    ("glob-is-whole-name", "xbn_cancel", {}, "deny", "(default deny)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tool", "arguments", "effect", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_glob_entries_apply_after_the_exact_entry_and_before_the_wildcard(
    tool: str, arguments: dict[str, object], effect: str, rule: str | None
) -> None:
    decision = evaluate(policy(GLOBS), call(tool, arguments))
    assert (decision.effect.value, decision.rule_id) == (effect, rule)


def test_a_glob_entry_counter_is_shared_by_every_tool_it_matches() -> None:
    compiled = policy("""
    tools:
      "bn_*":
        rules:
          - {name: burst, rate_limit: 2/minute}
      reader:
        rules:
          - name: reads the glob counter
            conditions: [{path: "state.bn_*._rate_minute", op: lt, value: 100}]
    """)
    first = evaluate(compiled, call("bn_a"))
    second = evaluate(compiled, call("bn_b"))
    assert first.charges[0].counter == second.charges[0].counter
    assert first.charges[0].counter.owner == "bn_*"
    assert counters_needed(compiled, call("reader")) == (first.charges[0].counter,)


def test_the_plan_of_a_tool_is_resolved_once_and_reused() -> None:
    compiled = policy(GLOBS)
    assert compiled.plan_for("bn_cancel") is compiled.plan_for("bn_cancel")
    assert compiled.plan_for("other") is None


def test_the_plan_cache_stays_bounded_under_many_distinct_tool_names() -> None:
    compiled = policy(GLOBS)
    for index in range(PLAN_CACHE_SIZE * 2 + 7):
        compiled.plan_for(f"bn_{index}")
    assert len(compiled._resolved) <= PLAN_CACHE_SIZE


def test_a_policy_without_globs_builds_every_plan_at_load_time() -> None:
    compiled = policy("tools:\n  a:\n    rules: []\n")
    assert set(compiled.plans) == {"a"}
    assert evaluate(compiled, call("b")).effect is Effect.ALLOW
