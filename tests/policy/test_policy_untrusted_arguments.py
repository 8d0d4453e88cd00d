"""Arguments come from the agent: whatever they hold, evaluation answers and never raises."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.policy.policy_cases import call, policy, ref
from toolgate.policy import Effect, evaluate

EVERY_OPERATOR = """
tools:
  t:
    rules:
      - {name: approval, action: require_approval, conditions: [{path: args.a, op: eq, value: [1]}]}
      - {name: counted, rate_limit: 1000/minute}
      - name: all
        conditions:
          - {path: args.a, op: neq, value: {k: [1, x]}}
          - {path: args.a, op: not_in, value: [0, "", null, false]}
          - {path: args.a, op: contains, value: x}
          - {path: args.a.b.c, op: regex, value: "(a|b)*c"}
          - {path: args.a, op: exists, value: true}
          - {path: state.t.spend, op: lte, value: 100}
        state: {counter: spend, window: day, increment_from: args.n}
      - {name: numbers, conditions: [{path: args.n, op: gte, value: -1.5}]}
"""

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None, database=None)
@given(arguments=st.dictionaries(st.sampled_from(["a", "n", "x"]), JSON, max_size=3))
def test_any_json_like_arguments_get_a_decision_without_raising(
    arguments: dict[str, object],
) -> None:
    compiled = policy(EVERY_OPERATOR)
    decision = evaluate(compiled, call("t", arguments, {ref("t", "spend", "day"): Decimal(5)}))
    assert decision.effect in (Effect.ALLOW, Effect.DENY, Effect.REQUIRE_APPROVAL)
    for charge in decision.charges:
        assert charge.amount.is_finite() and charge.amount >= 0


def test_absurdly_nested_arguments_compare_unequal_instead_of_recursing() -> None:
    nested: object = "x"
    for _ in range(5_000):
        nested = [nested]
    compiled = policy(
        "tools: {t: {rules: [{name: r, conditions: [{path: args.a, op: eq, value: 1}]}]}}"
    )
    assert evaluate(compiled, call("t", {"a": nested})).effect is Effect.DENY


def test_a_nan_argument_fails_every_numeric_comparison() -> None:
    text = "tools: {t: {rules: [{name: r, conditions: [{path: args.n, op: gte, value: 0}]}]}}"
    assert evaluate(policy(text), call("t", {"n": math.nan})).effect is Effect.DENY
