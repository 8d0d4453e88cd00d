"""Golden table of the 11 operators: holds, fails, missing argument, type mismatch."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tests.policy.policy_cases import call, one_rule
from toolgate.policy import Effect, Reason, evaluate

ABSENT = object()  # the call has no `v` argument at all

# (case id, op, policy value as YAML, argument value, condition holds?)
CASES: list[tuple[str, str, str, object, bool]] = [
    # eq: typed equality, exact numbers
    ("eq-same-string", "eq", '"main"', "main", True),
    ("eq-other-string", "eq", '"main"', "dev", False),
    ("eq-missing", "eq", '"main"', ABSENT, False),
    ("eq-string-never-equals-number", "eq", "5", "5", False),
    ("eq-int-equals-float", "eq", "1", 1.0, True),
    ("eq-json-float-is-exact-decimal", "eq", "0.1", 0.1, True),
    ("eq-boolean", "eq", "true", True, True),
    ("eq-boolean-is-not-one", "eq", "1", True, False),
    ("eq-null", "eq", "null", None, True),
    ("eq-list", "eq", "[1, two]", [1, "two"], True),
    # neq: present and different
    ("neq-different", "neq", '"draft"', "final", True),
    ("neq-equal", "neq", '"draft"', "draft", False),
    ("neq-missing", "neq", '"draft"', ABSENT, False),
    ("neq-string-versus-number", "neq", "5", "5", True),
    # in / not_in
    ("in-member", "in", "[usd, eur]", "eur", True),
    ("in-non-member", "in", "[usd, eur]", "gbp", False),
    ("in-missing", "in", "[usd, eur]", ABSENT, False),
    ("in-number-by-value", "in", "[1, 2]", 2.0, True),
    ("in-string-is-not-number", "in", "[1, 2]", "1", False),
    ("in-boolean-is-not-number", "in", "[1, 2]", True, False),
    ("not_in-non-member", "not_in", "[admin]", "user", True),
    ("not_in-member", "not_in", "[admin]", "admin", False),
    ("not_in-missing", "not_in", "[admin]", ABSENT, False),
    # ordering: exact, numbers only
    ("lt-below", "lt", "100", 99, True),
    ("lt-equal", "lt", "100", 100, False),
    ("lte-equal", "lte", "100", 100, True),
    ("lte-above", "lte", "100", 100.5, False),
    ("gt-above", "gt", "0", 0.001, True),
    ("gt-equal", "gt", "0.1", 0.1, False),
    ("gte-equal", "gte", "0.3", 0.3, True),
    ("gte-below", "gte", "10", 9, False),
    ("lt-missing", "lt", "100", ABSENT, False),
    # the one difference from Dialect A: a plain decimal string compares as a number
    ("lt-decimal-string-compares-as-a-number", "lt", "100", "5", True),
    ("lt-non-decimal-string-is-not-a-number", "lt", "100", "5 apples", False),
    ("lt-boolean-is-not-a-number", "lt", "100", False, False),
    ("lt-null-is-not-a-number", "lt", "100", None, False),
    ("lt-nan-is-not-a-number", "lt", "100", math.nan, False),
    ("lte-big-integers-compare-exactly", "lte", "100000000000000000000", 10**20 + 1, False),
    ("lte-decimal-argument", "lte", "0.3", Decimal("0.3"), True),
    # regex: unanchored search on strings
    ("regex-search-is-unanchored", "regex", '"feat/"', "my-feat/x", True),
    ("regex-anchored-pattern", "regex", '"^feat/"', "my-feat/x", False),
    ("regex-number-is-not-text", "regex", '"4"', 42, False),
    ("regex-missing", "regex", '"."', ABSENT, False),
    # contains: substring on strings, membership on lists
    ("contains-substring", "contains", '"test"', "a test run", True),
    ("contains-no-substring", "contains", '"test"', "prod", False),
    ("contains-list-member", "contains", '"b"', ["a", "b"], True),
    ("contains-list-non-member", "contains", '"z"', ["a", "b"], False),
    ("contains-list-number-by-value", "contains", "2", [1, 2.0], True),
    ("contains-number-is-not-text", "contains", '"4"', 42, False),
    ("contains-missing", "contains", '"a"', ABSENT, False),
    # exists: null counts as absent
    ("exists-true-present", "exists", "true", "x", True),
    ("exists-true-missing", "exists", "true", ABSENT, False),
    ("exists-true-null", "exists", "true", None, False),
    ("exists-false-missing", "exists", "false", ABSENT, True),
    ("exists-false-present", "exists", "false", 0, False),
]


@pytest.mark.parametrize(
    ("op", "value", "argument", "holds"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_operator_case_allows_when_the_condition_holds_and_denies_otherwise(
    op: str, value: str, argument: object, holds: bool
) -> None:
    policy = one_rule(f"{{name: r, conditions: [{{path: args.v, op: {op}, value: {value}}}]}}")
    arguments = {} if argument is ABSENT else {"v": argument}
    decision = evaluate(policy, call("t", arguments))
    if holds:
        assert decision.effect is Effect.ALLOW
    else:
        assert decision.effect is Effect.DENY
        assert decision.reason is Reason.CONDITION_FAILED
        assert decision.rule_id == "tools.t.rules[0]"


@pytest.mark.parametrize(
    ("arguments", "holds"),
    [
        ({"recipient": {"email": "a@example.com"}}, True),
        ({"recipient": {"email": "a@evil.test"}}, False),
        ({"recipient": "not-an-object"}, False),
        ({}, False),
    ],
    ids=["nested-match", "nested-mismatch", "intermediate-not-object", "intermediate-missing"],
)
def test_argument_paths_descend_nested_objects_by_dots(arguments: object, holds: bool) -> None:
    condition = r'{path: args.recipient.email, op: regex, value: "@example\\.com$"}'
    policy = one_rule(f"{{name: r, conditions: [{condition}]}}")
    assert evaluate(policy, call("t", arguments)).allowed is holds


def test_a_missing_argument_is_named_in_the_engine_message() -> None:
    policy = one_rule("{name: amount cap, conditions: [{path: args.amount, op: lte, value: 5}]}")
    decision = evaluate(policy, call("t", {}))
    assert decision.message == 'Call to "t" denied by rule "amount cap": args.amount is missing'


def test_a_failing_condition_is_described_in_the_engine_message() -> None:
    policy = one_rule("{name: currency, conditions: [{path: args.c, op: in, value: [usd, eur]}]}")
    decision = evaluate(policy, call("t", {"c": "gbp"}))
    assert (
        decision.message == 'Call to "t" denied by rule "currency": requires args.c in [usd, eur]'
    )


def test_yaml_words_like_yes_and_on_stay_strings_as_in_yaml_1_2() -> None:
    policy = one_rule("{name: r, conditions: [{path: args.mode, op: eq, value: yes}]}")
    assert evaluate(policy, call("t", {"mode": "yes"})).allowed
    assert not evaluate(policy, call("t", {"mode": True})).allowed
