"""The counter settings a rule declares: window, algorithm, scope and key (strict and lenient).

`rate_limit` is either the Dialect A shorthand `"N/window"` or the object form
`{max: N, window: W, scope: S, key: PATH, algorithm: fixed|sliding}`; a `state` block takes
`scope`, `key` and `algorithm` next to its `counter` and `window`. The strict readers report
errors against the policy file; the lenient ones serve the first pass that collects every
declaration (so a condition may read a counter declared further down) and must agree with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from toolgate.policy.counter_scope import SCOPES
from toolgate.policy.decision import CounterRef, Window
from toolgate.policy.located import LMap, LNode, LScalar
from toolgate.policy.paths import PathError, parse_arg_path
from toolgate.policy.schema import Fields
from toolgate.policy.windows import ALGORITHMS, WindowError, parse_window, window_or_none

RATE_KEYS = ("max", "window", "scope", "key", "algorithm")
SCOPE_KEYS = ("scope", "key", "algorithm")
RATE_PATTERN = re.compile(r"([0-9]+)/([A-Za-z0-9]+)\Z")


@dataclass(frozen=True, slots=True)
class Scoping:
    """Whose counter it is (`scope`) and which argument splits it (`key`, a path or None)."""

    scope: str = "global"
    key: str | None = None


def counter_ref(owner: str, name: str, window: Window, scoping: Scoping) -> CounterRef:
    return CounterRef(owner, name, window, scoping.scope, key_path=scoping.key)


def rate_name(window: Window) -> str:
    """The counter a rate limit declares: `_rate_minute`, `_rate_90s`."""
    return f"_rate_{window.name}"


def read_scoping(fields: Fields) -> Scoping | None:
    """`scope` and `key` of a mapping (absent: global, unkeyed); None after reporting an error."""
    scope = fields.choice("scope", SCOPES, "global")
    key = fields.string("key")
    if key is not None:
        try:
            parsed = parse_arg_path(key)
        except PathError as exc:
            fields.error("key", f"key: {exc}")
            return None
        if parsed.fans_out:
            fields.error("key", "key must name one value, not [*]")
            return None
    return None if scope is None else Scoping(scope, key)


def read_window(fields: Fields) -> Window | None:
    """`window` (required) and `algorithm` (default fixed); None after reporting an error."""
    algorithm = fields.choice("algorithm", ALGORITHMS, "fixed")
    text = fields.string("window", required=True)
    if text is None or algorithm is None:
        return None
    try:
        return parse_window(text, algorithm)
    except WindowError as exc:
        fields.error("window", str(exc))
        return None


def read_rate(fields: Fields) -> tuple[int, Window, Scoping] | None:
    """A rule's `rate_limit`, in either form; None after reporting an error."""
    node = fields.get("rate_limit")
    if isinstance(node, LMap):
        inner = Fields(node, f"{fields.path}.rate_limit", fields.issues, RATE_KEYS)
        count = _positive_int(inner)
        window, scoping = read_window(inner), read_scoping(inner)
        if count is None or window is None or scoping is None:
            return None
        return count, window, scoping
    text = fields.string("rate_limit")
    if text is None:
        return None
    match = RATE_PATTERN.match(text.strip())
    if match is None:
        fields.error(
            "rate_limit",
            f'rate_limit must look like "10/minute" (N/minute|hour|day|week|duration) or be a '
            f'mapping {{max, window, scope, key, algorithm}}, got "{text}"',
        )
        return None
    count = int(match.group(1))
    if count <= 0:
        message = f'rate_limit count must be a positive integer, got "{match.group(1)}"'
        fields.error("rate_limit", message)
        return None
    try:
        return count, parse_window(match.group(2)), Scoping()
    except WindowError as exc:
        fields.error("rate_limit", f"rate_limit {exc}")
        return None


def _positive_int(fields: Fields) -> int | None:
    node = fields.require("max")
    if node is None:
        return None
    value = node.value if isinstance(node, LScalar) else None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        fields.error("max", "max must be a positive integer")
        return None
    return value


def declared_ref(owner: str, rule: LNode) -> CounterRef | None:
    """Lenient: the counter a rule declares, if it declares one cleanly (first pass)."""
    rate = lookup(rule, "rate_limit")
    if isinstance(rate, LMap):
        window = window_or_none(_plain(rate, "window"), _plain(rate, "algorithm", "fixed"))
        scoping = _lenient_scoping(rate)
        if window is None or scoping is None:
            return None
        return counter_ref(owner, rate_name(window), window, scoping)
    if rate is not None:
        text = _plain(rule, "rate_limit")
        match = RATE_PATTERN.match(text.strip()) if isinstance(text, str) else None
        window = window_or_none(match.group(2)) if match else None
        return None if window is None else counter_ref(owner, rate_name(window), window, Scoping())
    state = lookup(rule, "state")
    name = _plain(state, "counter")
    window = window_or_none(_plain(state, "window"), _plain(state, "algorithm", "fixed"))
    scoping = _lenient_scoping(state)
    if not isinstance(name, str) or not name or window is None or scoping is None:
        return None
    return counter_ref(owner, name, window, scoping)


def _lenient_scoping(node: LNode | None) -> Scoping | None:
    scope, key = _plain(node, "scope", "global"), _plain(node, "key")
    if scope not in SCOPES or not (key is None or isinstance(key, str)):
        return None
    return Scoping(str(scope), key)


def lookup(node: LNode | None, key: str) -> LNode | None:
    if isinstance(node, LMap):
        for key_node, value in node.entries:
            if isinstance(key_node, LScalar) and key_node.value == key:
                return value
    return None


def _plain(node: LNode | None, key: str, default: object = None) -> object:
    found = lookup(node, key)
    if found is None or not isinstance(found, LScalar) or found.value is None:
        return default
    return found.value
