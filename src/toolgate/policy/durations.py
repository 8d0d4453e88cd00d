"""Duration literals such as `30m`, `1h30m`, `90s` (Go's syntax, as Intercept reads it), and `d`."""

from __future__ import annotations

import re
from decimal import Decimal

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
}


class DurationError(ValueError):
    """A string that is not a positive duration."""


def parse_duration(text: str) -> float:
    """Seconds in a duration literal; DurationError unless it is well formed and positive."""
    position, total = 0, Decimal(0)
    while position < len(text) or not text:
        part = _PART.match(text, position)
        if part is None:
            raise DurationError(
                f'invalid duration "{text}" (use a number and a unit: ms, s, m, h or d, e.g. "30m")'
            )
        total += Decimal(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        position = part.end()
    if total <= 0:
        raise DurationError(f'duration "{text}" must be greater than zero')
    return float(total)
