"""A long or hostile argument cannot make a regex condition run long: it is refused, fail closed."""

from __future__ import annotations

import time

import pytest

from toolgate.policy import CallFacts, evaluate, load_policy_text
from toolgate.policy.decision import Effect, Reason
from toolgate.policy.regex import (
    REGEX_MAX_CHARS,
    RegexInputTooLong,
    RegexTimedOut,
    compile_policy_regex,
)
from toolgate.policy.trace import Trace

NOW = 1_767_225_600.0

PATHOLOGICAL = [
    ("(a+)+$", "a" * 4000 + "!"),
    ("(a|a)*$", "a" * 30 + "!"),
    ("(a|aa)+$", "a" * 30 + "!"),
    ("^(a+)+b", "a" * 4000),
    ("(x+x+)+y", "x" * 4000),
    (r"(\w+\s?)+$", "a " * 2000 + "!"),
    ("a*a*c$", "a" * 4000 + "c!"),
    ("^(([a-z])+.)+[A-Z]([a-z])+$", "a" * 4000),
]


def policy_for(pattern: str) -> str:
    return f"""
version: "1"
tools:
  t:
    rules:
      - name: pattern
        conditions: [{{path: args.s, op: regex, value: '{pattern}'}}]
  u:
    rules:
      - name: deny_if style
        conditions: [{{not: {{path: args.s, op: regex, value: '{pattern}'}}}}]
"""


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("pattern", "attack"), PATHOLOGICAL)
def test_a_pathological_pattern_is_stopped_by_the_time_bound_and_denies(
    pattern: str, attack: str
) -> None:
    policy = load_policy_text(policy_for(pattern), "p.yaml")
    for tool in ("t", "u"):
        started = time.perf_counter()
        decision = evaluate(policy, CallFacts(tool, {"s": attack}, NOW))
        assert time.perf_counter() - started < 1.0
        assert decision.effect is Effect.DENY and decision.reason is Reason.INVALID_CALL
        assert "50 ms time bound" in decision.message
        assert f"{len(attack)} characters" in decision.message


@pytest.mark.timeout(30)
@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|a)*$", "(a|aa)+$", "(a|a)+$", "(.*a){20}$"])
def test_a_thirty_character_attack_on_an_exponential_shape_is_decided_within_a_second(
    pattern: str,
) -> None:
    policy = load_policy_text(policy_for(pattern), "p.yaml")
    for tool in ("t", "u"):
        started = time.perf_counter()
        decision = evaluate(policy, CallFacts(tool, {"s": "a" * 30 + "!"}, NOW))
        assert time.perf_counter() - started < 1.0
        # The pattern does not match: `t` denies, and `u` (its negation) allows unless refused.
        assert decision.allowed is (tool == "u" and decision.reason is not Reason.INVALID_CALL)


@pytest.mark.timeout(30)
def test_the_timeout_is_a_refusal_the_evaluator_already_treats_as_one() -> None:
    regex = compile_policy_regex("(a|a)*$")
    with pytest.raises(RegexTimedOut) as caught:
        regex.matches("a" * 30 + "!")
    assert isinstance(caught.value, RegexInputTooLong)


@pytest.mark.timeout(30)
def test_explain_records_the_timeout_on_the_condition_instead_of_raising() -> None:
    policy = load_policy_text(policy_for("(a|a)*$"), "p.yaml")
    trace = Trace()
    decision = evaluate(policy, CallFacts("t", {"s": "a" * 30 + "!"}, NOW), trace)
    assert decision.reason is Reason.INVALID_CALL
    step = trace.rules[0].conditions[0]
    assert step.error is not None and "time bound" in step.error


def test_a_value_longer_than_the_bound_is_refused_without_being_examined() -> None:
    policy = load_policy_text(policy_for("^[A-Z]+USDT$"), "p.yaml")
    decision = evaluate(policy, CallFacts("t", {"s": "A" * REGEX_MAX_CHARS + "USDT"}, NOW))
    assert decision.reason is Reason.INVALID_CALL
    assert f"{REGEX_MAX_CHARS}" in decision.message


def test_benign_patterns_still_decide_on_values_up_to_the_bound() -> None:
    policy = load_policy_text(policy_for("^[A-Z]+USDT$"), "p.yaml")
    assert evaluate(
        policy, CallFacts("t", {"s": "A" * (REGEX_MAX_CHARS - 4) + "USDT"}, NOW)
    ).allowed
    assert evaluate(policy, CallFacts("u", {"s": "btc"}, NOW)).allowed
    assert not evaluate(policy, CallFacts("t", {"s": "btc"}, NOW)).allowed


def test_a_non_string_value_never_matches_and_is_never_refused() -> None:
    policy = load_policy_text(policy_for("(a|a)*$"), "p.yaml")
    decision = evaluate(policy, CallFacts("t", {"s": 12345}, NOW))
    assert decision.reason is not Reason.INVALID_CALL and not decision.allowed
