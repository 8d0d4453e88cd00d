"""Golden table for shadow mode: per rule and top-level, the decision and the would-be outcome."""

from __future__ import annotations

from decimal import Decimal

from tests.policy.policy_cases import call, errors_of, policy, ref
from toolgate.policy import Effect, Reason, evaluate
from toolgate.policy.evaluator import visible

PER_RULE = """
tools:
  order:
    rules:
      - name: small orders
        mode: shadow
        conditions: [{path: args.qty, op: lte, value: 5}]
      - name: burst
        mode: shadow
        rate_limit: 2/minute
      - name: real cap
        conditions: [{path: args.qty, op: lte, value: 100}]
"""


def test_a_shadow_rule_that_would_deny_allows_and_reports_what_it_would_have_done() -> None:
    decision = evaluate(policy(PER_RULE), call("order", {"qty": 7}))
    assert decision.effect is Effect.ALLOW
    assert decision.would is not None
    assert (decision.would.effect, decision.would.reason) == (Effect.DENY, Reason.CONDITION_FAILED)
    assert decision.would.rule_id == "tools.order.rules[0]"


def test_an_enforced_rule_after_a_shadow_rule_still_denies() -> None:
    decision = evaluate(policy(PER_RULE), call("order", {"qty": 700}))
    assert (decision.effect, decision.rule_id) == (Effect.DENY, "tools.order.rules[2]")


def test_a_shadow_rate_limit_still_charges_and_its_limit_does_not_block() -> None:
    compiled = policy(PER_RULE)
    fresh = evaluate(compiled, call("order", {"qty": 1}))
    assert fresh.would is None
    [charge] = fresh.charges
    assert charge.shadow
    full = {ref("order", "_rate_minute"): Decimal(2)}
    over = evaluate(compiled, call("order", {"qty": 1}, counters=full))
    assert over.effect is Effect.ALLOW
    assert over.would is not None and over.would.reason is Reason.LIMIT


def test_a_top_level_shadow_policy_never_blocks_and_reports_the_first_would_be_denial() -> None:
    compiled = policy("""
    mode: shadow
    default: deny
    hide: [secret]
    tools:
      pay:
        rules: [{name: never, action: deny}]
    """)
    cases = {
        "pay": (Reason.RULE_DENY, "tools.pay.rules[0]"),
        "unlisted": (Reason.DEFAULT_DENY, "(default deny)"),
        "secret": (Reason.HIDDEN, "(hidden)"),
    }
    for tool, (reason, rule) in cases.items():
        decision = evaluate(compiled, call(tool))
        assert decision.effect is Effect.ALLOW, tool
        assert decision.would is not None
        assert (decision.would.reason, decision.would.rule_id) == (reason, rule)
    assert visible(compiled, "secret")


def test_a_rule_may_opt_back_into_enforcement_under_a_shadow_policy() -> None:
    compiled = policy("""
    mode: shadow
    tools:
      pay:
        rules: [{name: never, action: deny, mode: enforce}]
    """)
    assert evaluate(compiled, call("pay")).effect is Effect.DENY


def test_a_shadow_approval_rule_reports_instead_of_asking() -> None:
    compiled = policy(
        "tools:\n  t:\n    rules: [{name: h, action: require_approval, mode: shadow}]\n"
    )
    decision = evaluate(compiled, call("t"))
    assert decision.effect is Effect.ALLOW
    assert decision.would is not None and decision.would.effect is Effect.REQUIRE_APPROVAL


def test_an_unknown_mode_is_a_located_error() -> None:
    [error] = errors_of("mode: dry-run\ntools: {}\n")
    assert error.path == "(root)"
    assert error.message.startswith('mode must be one of "enforce", "shadow"')
    [error] = errors_of("tools:\n  t:\n    rules: [{name: r, action: deny, mode: shdow}]\n")
    assert error.path == "tools.t.rules[0]"
    assert 'did you mean "shadow"' in error.message
