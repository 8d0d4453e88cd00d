"""Exact numbers: how argument values and policy values become comparable, and counter amounts.

Comparison is exact: integers stay integers, a float from JSON becomes `Decimal(repr(x))` (so the
JSON text `0.1` compares equal to the policy's `0.1`), and booleans are never numbers even though
Python's `bool` is an `int`. Non-finite values (NaN, infinities) are not numbers either.

Numbers as strings (a toolgate extension; exchange APIs send `"0.01"`): under the ordering
operators only, a string that is a plain decimal literal — an optional `-`, digits, optionally a
point and more digits, at most 64 characters, no exponent, no spaces, no `+` — compares as that
exact decimal. Any other string still fails them. Equality and `in` stay typed (`"5"` never
equals `5`).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from toolgate.policy.located import describe_value

Number = int | Decimal
MAX_NUMERIC_STRING = 64
_DECIMAL_LITERAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z")


def numeric_string(value: str) -> Number | None:
    """A plain decimal literal as an exact number (`"0.01"`, `"-3"`), else None."""
    if len(value) > MAX_NUMERIC_STRING or _DECIMAL_LITERAL.match(value) is None:
        return None
    return int(value) if "." not in value else Decimal(value)


def as_number(value: object) -> Number | None:
    """`value` as an exact finite number, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


def policy_number(value: object) -> Number | None:
    """A policy literal as a number, integral decimals collapsed to `int` for fast comparison."""
    number = as_number(value)
    # Only modest magnitudes: int(Decimal("1e999999999")) would build a billion-digit integer.
    modest = isinstance(number, Decimal) and abs(number.adjusted()) <= 30
    if modest and isinstance(number, Decimal) and number == number.to_integral_value():
        return int(number)
    return number


def amount_problem(value: object) -> str | None:
    """Why `value` cannot be added to a counter, or None when it can (finite and >= 0)."""
    if isinstance(value, bool):
        return f"is a boolean ({str(value).lower()}), not a number"
    if isinstance(value, float | Decimal) and as_number(value) is None:
        return f"is not a finite number ({value})"
    number = as_number(value)
    if number is None:
        return f"is {describe_value(value)}, not a number"
    if number < 0:
        return f"is negative ({number})"
    return None


def as_decimal(number: Number) -> Decimal:
    return number if isinstance(number, Decimal) else Decimal(number)


def render(number: object) -> str:
    """A number as a person would write it (no exponent for ordinary decimals)."""
    if isinstance(number, Decimal):
        return f"{number:f}" if number.is_finite() else str(number)
    return str(number)
