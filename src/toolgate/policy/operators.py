"""The condition operators: which operand each accepts, and the compiled test each becomes.

A test receives the value found at the condition's path, or `MISSING`; every operator except
`exists` is false on a missing value (so an `evaluate` rule fails closed). Equality is typed:
numbers compare exactly by value (`1 == 1.0`), strings with strings, booleans with booleans; a
string never equals a number (Intercept compared `fmt` renderings, so `"5"` equalled `5`).
The ordering operators also read a string holding a plain decimal literal as that number (see
`numbers`). toolgate's own operators (`starts_with ends_with glob not_contains len_lte len_gte`)
are built in `text_operators`.
"""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Callable
from decimal import Decimal
from typing import cast

from toolgate.policy.equality import contains, equality_key
from toolgate.policy.located import describe_value
from toolgate.policy.numbers import Number, as_number, numeric_string, policy_number, render
from toolgate.policy.paths import MISSING
from toolgate.policy.regex import compile_policy_regex
from toolgate.policy.text_operators import TEXT_BUILDERS, OperandError

__all__ = ["OP_NAMES", "Op", "OperandError", "Test", "build_test", "equality_key"]

Test = Callable[[object], bool]


class Op(enum.Enum):
    EQ = "eq"
    NEQ = "neq"
    IN = "in"
    NOT_IN = "not_in"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    REGEX = "regex"
    CONTAINS = "contains"
    EXISTS = "exists"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    GLOB = "glob"
    NOT_CONTAINS = "not_contains"
    LEN_LTE = "len_lte"
    LEN_GTE = "len_gte"


OP_NAMES = tuple(op.value for op in Op)
ORDERING_OPS = frozenset({Op.LT, Op.LTE, Op.GT, Op.GTE})
LIMIT_OPS = frozenset({Op.LT, Op.LTE})


def build_test(op: Op, operand: object) -> Test:
    """The compiled test for `op` against the policy's `operand`; OperandError if it is unfit."""
    if op in ORDERING_OPS:
        return _ordering(op, operand)
    builder = _BUILDERS[op]
    return builder(operand)


def _ordering(op: Op, operand: object) -> Test:
    bound = policy_number(operand)
    if bound is None:
        kind = render(operand) if isinstance(operand, Decimal) else describe_value(operand)
        raise OperandError(f'operator "{op.value}" needs a finite number, got {kind}')
    compare = _COMPARISONS[op]

    def test(value: object) -> bool:
        if value.__class__ is int:  # the common case, skipping the conversion
            return compare(value, bound)
        number = numeric_string(value) if isinstance(value, str) else as_number(value)
        return number is not None and compare(number, bound)

    return test


def _eq(operand: object) -> Test:
    if isinstance(operand, str):
        return lambda value: isinstance(value, str) and value == operand
    key = equality_key(operand)
    return lambda value: equality_key(value) == key


def _neq(operand: object) -> Test:
    equal = _eq(operand)
    return lambda value: value is not MISSING and not equal(value)


def _members(op: Op, operand: object) -> frozenset[object]:
    if not isinstance(operand, tuple):
        raise OperandError(
            f'operator "{op.value}" needs a list value, got {describe_value(operand)}'
        )
    return frozenset(equality_key(item) for item in operand)


def _in(operand: object) -> Test:
    members = _members(Op.IN, operand)
    return lambda value: equality_key(value) in members


def _not_in(operand: object) -> Test:
    members = _members(Op.NOT_IN, operand)
    return lambda value: value is not MISSING and equality_key(value) not in members


def _regex(operand: object) -> Test:
    if not isinstance(operand, str):
        raise OperandError(
            f'operator "regex" needs a string pattern, got {describe_value(operand)}'
        )
    try:
        pattern = compile_policy_regex(operand)
    except re.error as exc:
        raise OperandError(f'invalid regular expression "{operand}": {exc}') from None
    matches = pattern.matches  # bounded in length and time; a refusal raises (`policy.regex`)

    def test(value: object) -> bool:
        return isinstance(value, str) and matches(value)

    return test


def _exists(operand: object) -> Test:
    if not isinstance(operand, bool):
        raise OperandError(f'operator "exists" needs true or false, got {describe_value(operand)}')
    # JSON null counts as absent, as in Intercept.
    return lambda value: (value is not MISSING and value is not None) is operand


# The C functions of `operator` (typed loosely by typeshed, hence the cast) cost no Python frame.
_COMPARISONS = cast(
    "dict[Op, Callable[[object, Number], bool]]",
    {Op.LT: operator.lt, Op.LTE: operator.le, Op.GT: operator.gt, Op.GTE: operator.ge},
)

_BUILDERS: dict[Op, Callable[[object], Test]] = {
    Op.EQ: _eq,
    Op.NEQ: _neq,
    Op.IN: _in,
    Op.NOT_IN: _not_in,
    Op.REGEX: _regex,
    Op.CONTAINS: contains,
    Op.EXISTS: _exists,
}

_BUILDERS.update({Op(name): builder for name, builder in TEXT_BUILDERS.items()})
