"""Golden table for toolgate's own operators and for numbers sent as strings."""

from __future__ import annotations

import pytest

from tests.policy.policy_cases import call, errors_of, one_rule
from toolgate.policy import Effect, evaluate

ABSENT = object()

CASES = [
    # starts_with / ends_with: strings only
    ("starts-with-prefix", "starts_with", '"BTC"', "BTCUSDT", True),
    ("starts-with-other", "starts_with", '"BTC"', "ETHBTC", False),
    ("starts-with-number-value", "starts_with", '"1"', 12, False),
    ("starts-with-missing", "starts_with", '"BTC"', ABSENT, False),
    ("ends-with-suffix", "ends_with", '"USDT"', "BTCUSDT", True),
    ("ends-with-other", "ends_with", '"USDT"', "USDTBTC", False),
    # glob: whole string, case-sensitive
    ("glob-matches-whole-string", "glob", '"*USDT"', "BTCUSDT", True),
    ("glob-is-not-a-search", "glob", '"BTC*"', "xBTCUSDT", False),
    ("glob-question-mark-is-one-character", "glob", '"BTC?"', "BTCX", True),
    ("glob-is-case-sensitive", "glob", '"btc*"', "BTCUSDT", False),
    ("glob-character-class", "glob", '"[AB]TC"', "BTC", True),
    ("glob-on-list-fails", "glob", '"*"', ["a"], False),
    # not_contains: strings and lists; missing and other types fail closed
    ("not-contains-substring-absent", "not_contains", '"test"', "prod run", True),
    ("not-contains-substring-present", "not_contains", '"test"', "a test run", False),
    ("not-contains-list-without-member", "not_contains", '"x"', ["a", "b"], True),
    ("not-contains-list-with-member", "not_contains", "3", [1, 2, 3.0], False),
    ("not-contains-missing-fails", "not_contains", '"x"', ABSENT, False),
    ("not-contains-number-fails", "not_contains", '"x"', 5, False),
    # len_lte / len_gte: strings, lists, objects
    ("len-lte-short-string", "len_lte", "3", "abc", True),
    ("len-lte-long-string", "len_lte", "3", "abcd", False),
    ("len-lte-counts-characters-not-bytes", "len_lte", "1", "é", True),
    ("len-lte-list", "len_lte", "2", [1, 2], True),
    ("len-gte-object", "len_gte", "2", {"a": 1, "b": 2}, True),
    ("len-gte-short-list", "len_gte", "2", [1], False),
    ("len-gte-number-fails", "len_gte", "0", 5, False),
    ("len-lte-missing-fails", "len_lte", "5", ABSENT, False),
    # numbers as strings under ordering operators
    ("lte-decimal-string-exact", "lte", "0.3", "0.3", True),
    ("lte-decimal-string-above", "lte", "0.3", "0.30000000000000001", False),
    ("gt-negative-decimal-string", "gt", "-5", "-3", True),
    ("lt-exponent-string-is-not-a-number", "lt", "10000", "1e3", False),
    ("lt-plus-sign-string-is-not-a-number", "lt", "10", "+3", False),
    ("lt-spaced-string-is-not-a-number", "lt", "10", " 3", False),
    ("lt-leading-point-string-is-not-a-number", "lt", "10", ".5", False),
    ("lt-arabic-indic-digits-are-not-a-number", "lt", "10", "\u0663", False),
    ("lt-very-long-decimal-string-is-not-a-number", "lt", "10", "0." + "0" * 80 + "1", False),
    ("eq-stays-typed-for-decimal-strings", "eq", "5", "5", False),
    ("in-stays-typed-for-decimal-strings", "in", "[5]", "5", False),
]


@pytest.mark.parametrize(
    ("op", "value", "argument", "holds"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_extended_operator_case_allows_when_it_holds_and_denies_otherwise(
    op: str, value: str, argument: object, holds: bool
) -> None:
    policy = one_rule(f"{{name: r, conditions: [{{path: args.v, op: {op}, value: {value}}}]}}")
    arguments = {} if argument is ABSENT else {"v": argument}
    decision = evaluate(policy, call("t", arguments))
    assert decision.effect is (Effect.ALLOW if holds else Effect.DENY)


OPERAND_ERRORS = [
    ("starts_with", "5", 'operator "starts_with" needs a string, got an integer'),
    ("ends_with", "[a]", 'operator "ends_with" needs a string, got a list'),
    ("glob", "true", 'operator "glob" needs a string, got a boolean'),
    ("len_lte", "-1", 'operator "len_lte" needs a whole number >= 0, got -1'),
    ("len_gte", "1.5", 'operator "len_gte" needs a whole number >= 0, got 1.5'),
    ("len_gte", '"3"', 'operator "len_gte" needs a whole number >= 0, got a string'),
]


@pytest.mark.parametrize(("op", "value", "message"), OPERAND_ERRORS)
def test_extended_operators_reject_operands_of_the_wrong_type_with_a_location(
    op: str, value: str, message: str
) -> None:
    body = (
        "tools:\n  t:\n    rules:\n      - name: r\n        conditions:\n"
        f"          - {{path: args.v, op: {op}, value: {value}}}\n"
    )
    [error] = errors_of(body)
    assert error.path == "tools.t.rules[0].conditions[0]"
    assert error.message == message
    assert error.location.line == 7
