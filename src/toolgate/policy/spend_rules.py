"""Compiling a rule's `spend:` block (see `policy.spend` for what it means)."""

from __future__ import annotations

from decimal import Decimal

from toolgate.policy.counter_specs import SCOPE_KEYS, counter_ref, read_scoping
from toolgate.policy.decision import CounterRef
from toolgate.policy.intercept_conditions import RuleContext
from toolgate.policy.located import LScalar, describe
from toolgate.policy.numbers import as_decimal, as_number, numeric_string, render
from toolgate.policy.paths import ArgPath, PathError, parse_arg_path
from toolgate.policy.schema import Fields
from toolgate.policy.spend import SpendSpec
from toolgate.policy.windows import ALGORITHMS, parse_window

SPEND_KEYS = ("amount", "per_call", "hourly", "daily", *SCOPE_KEYS)
CAPS = (("hourly", "hour", "_spend_hour"), ("daily", "day", "_spend_day"))


def compile_spend(rule: Fields, ctx: RuleContext, label: str) -> SpendSpec | None:
    """The rule's spend cap; None after reporting every error found."""
    node = rule.mapping("spend")
    if node is None:
        return None
    before = len(ctx.issues.errors)
    fields = Fields(node, f"{rule.path}.spend", ctx.issues, SPEND_KEYS)
    text = fields.string("amount", required=True)
    factors = _factors(fields, text) if text is not None else None
    per_call = _decimal(fields, "per_call")
    scoping = read_scoping(fields)
    algorithm = fields.choice("algorithm", ALGORITHMS, "fixed")
    caps: list[tuple[CounterRef, Decimal]] = []
    for key, window, name in CAPS:
        limit = _decimal(fields, key)
        if limit is not None and scoping is not None and algorithm is not None:
            ref = counter_ref(ctx.owner, name, parse_window(window, algorithm), scoping)
            caps.append((ref, limit))
    if not caps and per_call is None and len(ctx.issues.errors) == before:
        fields.error("amount", "spend needs at least one of per_call, hourly or daily")
    if len(ctx.issues.errors) > before or text is None or not factors:
        return None
    subject = "all tools" if ctx.tool_key == "*" else f'"{ctx.tool_key}"'
    message = f"Spend cap reached for {subject}: this call's {text} would pass it ({label})"
    return SpendSpec(text, factors, per_call, tuple(caps), rule.path, message)


def _factors(fields: Fields, text: str) -> tuple[ArgPath, ...] | None:
    """`args.a` or `args.a * args.b * …`: every factor one argument value."""
    factors = []
    for part in text.split("*") if "[*]" not in text else [text]:
        try:
            path = parse_arg_path(part.strip())
        except PathError as exc:
            fields.error("amount", f"amount must be a path or a product of paths: {exc}")
            return None
        if path.fans_out:
            fields.error("amount", "amount paths must name one value each, not [*]")
            return None
        factors.append(path)
    return tuple(factors)


def _decimal(fields: Fields, key: str) -> Decimal | None:
    """A cap: a number or a numeric string, finite and >= 0; None when absent or invalid."""
    node = fields.get(key)
    if node is None or (isinstance(node, LScalar) and node.value is None):
        return None
    value = node.value if isinstance(node, LScalar) else None
    number = numeric_string(value) if isinstance(value, str) else as_number(value)
    if number is None or number < 0:
        given = render(number) if number is not None else describe(node)
        fields.error(key, f"{key} must be a number >= 0 (exact decimal), got {given}")
        return None
    return as_decimal(number)
