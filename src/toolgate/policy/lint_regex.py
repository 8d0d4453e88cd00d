"""Spotting regexes that backtrack catastrophically, by their structure (`re._parser`).

Two shapes make a backtracking engine (`re`; `regex`, which enforcement uses) exponential, and
both are reported:
1. a nested unbounded quantifier — an unbounded repeat (`*`, `+`, `{n,}`) inside the body of
   another unbounded repeat: `(a+)+`, `(.*)*`, `(a*b?)*`;
2. an alternation under an unbounded repeat whose branches can start with the same character:
   `(a|a)*`, `(a|ab)+`, `(\\w|\\d)*`.
The check is conservative (an atomic group or possessive quantifier is trusted; a repeat nested
with a separator, like `(\\d+,)*`, is still reported). Enforcement is bounded anyway: a regex
condition never examines more than `policy.regex.REGEX_MAX_CHARS` characters, and a match stops
after `policy.regex.REGEX_TIMEOUT_SECONDS` (the call is then denied) — the warning says that
such a pattern would deny legitimate calls by timeout, not that the gateway can be stalled.
"""

from __future__ import annotations

import importlib
from typing import Any

# The stdlib parser behind `re` (`re._parser` since 3.11; untyped, hence Any).
sre_parse: Any = importlib.import_module("re._parser")
sre: Any = importlib.import_module("re._constants")

ANY = None  # a first-character set that may be any character
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT}


def regex_risk(pattern: str) -> str | None:
    """Why `pattern` may backtrack catastrophically, or None."""
    try:
        parsed = sre_parse.parse(pattern)
    except Exception:
        return None
    return _walk(list(parsed), inside_repeat=False)


def _walk(items: list[Any], *, inside_repeat: bool) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            _low, high, body = av
            unbounded = high == sre.MAXREPEAT
            if unbounded and inside_repeat:
                return "a nested quantifier (an unbounded repeat inside another)"
            if unbounded and _overlapping_branches(list(body)):
                return "an alternation whose branches overlap, under an unbounded repeat"
            found = _walk(list(body), inside_repeat=inside_repeat or unbounded)
        elif op is sre.SUBPATTERN:
            found = _walk(list(av[3]), inside_repeat=inside_repeat)
        elif op is sre.BRANCH:
            found = next(
                (r for b in av[1] if (r := _walk(list(b), inside_repeat=inside_repeat))), None
            )
        else:  # literals, classes, anchors; atomic groups and possessive repeats are trusted
            found = None
        if found:
            return found
    return None


def _overlapping_branches(items: list[Any]) -> bool:
    """Whether an alternation in `items` (a repeat's body) has branches starting alike.

    The parser factors common prefixes out (`a|a` becomes `a(?:|)`), so empty branches count.
    """
    for op, av in items:
        if op is sre.SUBPATTERN and _overlapping_branches(list(av[3])):
            return True
        if op is sre.BRANCH:
            seen: set[int] = set()
            for branch in av[1]:
                first = _first(list(branch))
                if first is ANY or seen & first:
                    return True
                seen |= first
    return False


def _first(items: list[Any]) -> set[int] | None:
    """The characters a match of `items` can start with (None: any, or unknown)."""
    if not items:
        return ANY
    op, av = items[0]
    if op is sre.LITERAL:
        return {av}
    if op is sre.IN:
        chars: set[int] = set()
        for kind, value in av:
            if kind is sre.LITERAL:
                chars.add(value)
            elif kind is sre.RANGE and value[1] - value[0] < 256:
                chars.update(range(value[0], value[1] + 1))
            else:
                return ANY
        return chars
    if op is sre.SUBPATTERN:
        return _first(list(av[3]))
    return ANY
