"""Binding a scoped or keyed counter to one call: whose counter, and for which argument value.

A counter declared with `scope: identity` or `scope: session` is one counter per identity or
session; with `key: <path>` one counter per distinct value at that argument path. The evaluator
binds the declaration to the call (`bind`) before reading or charging it. Anything that would make
two callers or two values share a counter by accident fails closed: no identity under
`scope: identity`, no session under `scope: session`, or a key value that is missing, null, a list
or a mapping is refused with a message saying why.

Key values: a string is its own key; a number, and a string that is a plain decimal literal
(`"0.5"`), is keyed by its exact value in canonical form, so `1`, `1.0` and `"1.00"` share one
counter (a caller cannot escape a limit by spelling a value differently); booleans are `true` /
`false`. The storage layer JSON-encodes every part, so no value can spell another's key.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from functools import lru_cache

from toolgate.policy.decision import CounterRef
from toolgate.policy.facts import CallFacts
from toolgate.policy.located import describe_value
from toolgate.policy.numbers import as_number, numeric_string
from toolgate.policy.paths import MISSING, Step, parse_arg_path, resolve

SCOPES = ("global", "identity", "session")


class Unbound(str):
    """Why a counter cannot be bound to a call (a str subclass so it reads as the message)."""


def bind(ref: CounterRef, arguments: object, facts: CallFacts) -> CounterRef | Unbound:
    """`ref` for this call's identity, session and key value; or why there is none."""
    scope_value = None
    if ref.scope == "identity":
        scope_value = facts.identity
        if not scope_value:
            return Unbound(
                f'counter "{ref.name}" is counted per identity, and this call has none '
                "(start the gateway with --identity or TOOLGATE_IDENTITY)"
            )
    elif ref.scope == "session":
        scope_value = facts.session
        if not scope_value:
            return Unbound(f'counter "{ref.name}" is counted per session, and this call has none')
    key_value = None
    if ref.key_path is not None:
        value = resolve(arguments, _parts(ref.key_path))
        key_value = key_text(value)
        if key_value is None:
            problem = "is missing" if value is MISSING else f"is {describe_value(value)}"
            return Unbound(
                f'counter "{ref.name}" is counted per {ref.key_path}, which {problem}; '
                "it must be a string, a number or a boolean"
            )
    return replace(ref, scope_value=scope_value, key_value=key_value)


def bind_all(
    refs: tuple[CounterRef, ...], arguments: object, facts: CallFacts
) -> dict[CounterRef, CounterRef] | Unbound:
    """Each declaration in `refs` bound to this call, or the first reason one cannot be."""
    bound: dict[CounterRef, CounterRef] = {}
    for ref in refs:
        result = bind(ref, arguments, facts)
        if isinstance(result, Unbound):
            return result
        bound[ref] = result
    return bound


def key_text(value: object) -> str | None:
    """The canonical key of a scalar argument value; None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        number = numeric_string(value)
        return value if number is None else _canonical(number)
    number = as_number(value)
    return None if number is None else _canonical(number)


def _canonical(number: int | Decimal) -> str:
    if isinstance(number, int):
        return str(number)
    if number == number.to_integral_value() and abs(number.adjusted()) <= 30:
        return str(int(number))
    return format(number.normalize(), "f")


@lru_cache(maxsize=256)
def _parts(path: str) -> tuple[Step, ...]:
    return parse_arg_path(path).parts
