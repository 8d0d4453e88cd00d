"""Typed equality for conditions: the hashable key `eq`/`in` compare, and `contains`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from toolgate.policy.located import MAX_DEPTH
from toolgate.policy.numbers import as_number


def equality_key(value: object, depth: int = 0) -> object:
    """A hashable stand-in for `value` under typed equality; unequal to everything if odd.

    Arguments come from the network: nesting deeper than the policy's own limit compares unequal
    instead of recursing further.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return ("s", value)
    number = as_number(value)
    if number is not None:
        return ("n", number)
    if depth < MAX_DEPTH and isinstance(value, list | tuple):
        return ("l", tuple(equality_key(item, depth + 1) for item in value))
    if depth < MAX_DEPTH and isinstance(value, Mapping):
        return ("m", frozenset((str(k), equality_key(v, depth + 1)) for k, v in value.items()))
    return object()  # NaN, infinities, MISSING, too deep, foreign objects: equal to nothing


def contains(operand: object) -> Callable[[object], bool]:
    key = equality_key(operand)

    def test(value: object) -> bool:
        if isinstance(value, str):
            return isinstance(operand, str) and operand in value
        if isinstance(value, list | tuple):
            return any(equality_key(item) == key for item in value)
        return False

    return test
