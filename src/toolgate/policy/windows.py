"""Counter windows as a policy writes them: `minute hour day week`, durations, fixed or sliding.

Fixed windows (the default, as in Dialect A) are calendar-aligned: a minute, hour or day starts
at a UTC multiple of its length, a week on Monday 00:00 UTC, and a duration (`90s`, `15m`,
`12h`, `2d`) at a multiple of its length since the epoch. A sliding window counts the last
`seconds` at every instant (see `decision.Window` for how, and for its error bound).
"""

from __future__ import annotations

import re

from toolgate.policy.decision import DAY, HOUR, MINUTE, WEEK, Window

NAMED: dict[str, Window] = {"minute": MINUTE, "hour": HOUR, "day": DAY, "week": WEEK}
ALGORITHMS = ("fixed", "sliding")
_DURATION = re.compile(r"(?:[0-9]+[dhms])+\Z")
_PART = re.compile(r"([0-9]+)([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_WINDOW_SECONDS = 366 * 86400


class WindowError(ValueError):
    """A window or algorithm the policy language does not know."""


def parse_window(text: str, algorithm: str = "fixed") -> Window:
    """The window `text` names (`hour`, `90s`, `1h30m`), counted with `algorithm`."""
    if algorithm not in ALGORITHMS:
        raise WindowError(f'algorithm must be fixed or sliding, got "{algorithm}"')
    named = NAMED.get(text)
    if named is None:
        if _DURATION.match(text) is None:
            raise WindowError(
                f'window must be minute, hour, day, week or a duration such as "90s", "15m", '
                f'"12h" or "2d", got "{text}"'
            )
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))
        if not 0 < seconds <= MAX_WINDOW_SECONDS:
            raise WindowError(f'window "{text}" must be between 1s and 366d long')
        named = Window(seconds, text)
    if algorithm == "sliding":
        return Window(named.seconds, named.name, aligned=False, sliding=True)
    return named


def window_or_none(text: object, algorithm: object = "fixed") -> Window | None:
    """Lenient: the window, or None when either part is malformed (the strict pass reports it)."""
    if not isinstance(text, str) or not isinstance(algorithm, str):
        return None
    try:
        return parse_window(text, algorithm)
    except WindowError:
        return None
