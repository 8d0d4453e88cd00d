"""toolgate's own operators: `starts_with ends_with glob not_contains len_lte len_gte`.

Like every operator but `exists`, each is false on a missing value. `starts_with`, `ends_with`
and `glob` need a string operand and hold only for string values (`glob` is whole-string,
case-sensitive, `*` any run, `?` one character, `[…]` a class, as shell globs). `not_contains`
holds for a string or list that does not contain the operand — false on a missing value or any
other type, so it fails closed. `len_lte`/`len_gte` need a non-negative integer and measure
strings (in characters), lists and objects; any other value fails them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping

from toolgate.policy.equality import contains
from toolgate.policy.located import describe_value
from toolgate.policy.numbers import policy_number

Test = Callable[[object], bool]


class OperandError(ValueError):
    """The value given to an operator has the wrong type or is invalid."""


def _string_operand(name: str, operand: object) -> str:
    if not isinstance(operand, str):
        raise OperandError(f'operator "{name}" needs a string, got {describe_value(operand)}')
    return operand


def _starts_with(operand: object) -> Test:
    prefix = _string_operand("starts_with", operand)
    return lambda value: isinstance(value, str) and value.startswith(prefix)


def _ends_with(operand: object) -> Test:
    suffix = _string_operand("ends_with", operand)
    return lambda value: isinstance(value, str) and value.endswith(suffix)


def _glob(operand: object) -> Test:
    pattern = _string_operand("glob", operand)
    try:
        match = re.compile(fnmatch.translate(pattern)).match
    except re.error as exc:  # an unbalanced class can still upset the translation
        raise OperandError(f'invalid glob "{pattern}": {exc}') from None
    return lambda value: isinstance(value, str) and match(value) is not None


def _not_contains(operand: object) -> Test:
    inner = contains(operand)
    return lambda value: isinstance(value, str | list | tuple) and not inner(value)


def _length_operand(name: str, operand: object) -> int:
    number = policy_number(operand)
    if not isinstance(number, int) or number < 0:
        shown = describe_value(operand) if number is None else str(operand)
        raise OperandError(f'operator "{name}" needs a whole number >= 0, got {shown}')
    return number


def _length(value: object) -> int | None:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    return None


def _len_lte(operand: object) -> Test:
    limit = _length_operand("len_lte", operand)

    def test(value: object) -> bool:
        size = _length(value)
        return size is not None and size <= limit

    return test


def _len_gte(operand: object) -> Test:
    limit = _length_operand("len_gte", operand)

    def test(value: object) -> bool:
        size = _length(value)
        return size is not None and size >= limit

    return test


#: Builders by operator name; `operators` maps them onto its `Op` members.
TEXT_BUILDERS: dict[str, Callable[[object], Test]] = {
    "starts_with": _starts_with,
    "ends_with": _ends_with,
    "glob": _glob,
    "not_contains": _not_contains,
    "len_lte": _len_lte,
    "len_gte": _len_gte,
}
