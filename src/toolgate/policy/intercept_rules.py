"""Compiling one Intercept rule: its action, conditions, `rate_limit` shorthand and `state` counter.

Counter bounds. `rate_limit: N/w` is a counter `_rate_<w>` whose value before the call must be
below N: N calls per window. A full-form counter's bound is the first `lt`/`lte` condition on its
own path. The condition itself reads the value before the call (so rule order decides which rule
denies first), and the atomic reservation then admits the call only if the value *after* adding
this call's amount still satisfies it: `lte L` admits while value + amount <= L, `lt L` while
value + amount < L (on whole numbers that is Intercept's "lt N means N-1"). So `lte 10` with
`increment: 1` allows exactly 10 calls and a spend cap is never overshot, as in Intercept.
`FULL_FORM_BOUND_AFTER` names that choice. A `state` counter with no `lt`/`lte` on its own path
only counts (Intercept never incremented such a counter).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from toolgate.policy import messages
from toolgate.policy.counter_specs import (
    SCOPE_KEYS,
    Scoping,
    counter_ref,
    rate_name,
    read_rate,
    read_scoping,
    read_window,
)
from toolgate.policy.decision import Bound, Charge, CounterRef, Window
from toolgate.policy.durations import DurationError, parse_duration
from toolgate.policy.intercept_conditions import RuleContext, compile_condition
from toolgate.policy.located import LMap, LNode, LScalar, describe
from toolgate.policy.model import Action, Condition, CounterSpec, Rule, rule_label
from toolgate.policy.numbers import as_decimal, policy_number, render
from toolgate.policy.operators import LIMIT_OPS, Op
from toolgate.policy.paths import ArgPath, PathError, parse_arg_path
from toolgate.policy.schema import Fields
from toolgate.policy.spend_rules import compile_spend

RULE_KEYS = (
    "name", "action", "rate_limit", "conditions", "on_deny", "state", "approval_timeout", "mode",
    "approval_mode",
    "spend",
)  # fmt: skip
MODES = ("enforce", "shadow")
APPROVAL_MODES = ("inline", "queue", "hold")  # how a human is asked (toolgate.approvals)
STATE_KEYS = ("counter", "window", "increment", "increment_from", *SCOPE_KEYS)
ACTIONS = tuple(action.value for action in Action)
DEFAULT_APPROVAL_TIMEOUT_SECONDS = 900.0  # our choice when a rule gives no approval_timeout
FULL_FORM_BOUND_AFTER = True  # see the module docstring


def compile_rule(node: LNode, path: str, ctx: RuleContext) -> Rule | None:
    if not isinstance(node, LMap):
        ctx.issues.add(node, path, f"a rule must be a mapping, got {describe(node)}")
        return None
    before = len(ctx.issues.errors)
    fields = Fields(node, path, ctx.issues, RULE_KEYS)
    on_deny = fields.string("on_deny") or None
    if fields.present("rate_limit"):
        rule = _rate_limit_rule(fields, ctx, on_deny)
    else:
        rule = _full_rule(fields, ctx, on_deny)
    mode = fields.choice("mode", MODES, "shadow" if ctx.shadow else "enforce")
    if rule is None and len(ctx.issues.errors) == before:  # never drop a rule silently
        ctx.issues.add(node, path, "this rule could not be compiled")
    if rule is not None and mode == "shadow":
        rule = _shadowed(rule)
    if rule is not None:
        rule = _with_scoped(rule)
    return rule if len(ctx.issues.errors) == before else None


def _with_scoped(rule: Rule) -> Rule:
    """The rule with the scoped or keyed counters it reads or charges (bound per call)."""
    refs = [ref for condition in rule.conditions for ref in condition.counters()]
    if rule.counter is not None:
        refs.append(rule.counter.ref)
    scoped = tuple(dict.fromkeys(ref for ref in refs if ref.unbound))
    return replace(rule, scoped=scoped) if scoped else rule


def _shadowed(rule: Rule) -> Rule:
    """The rule in shadow mode: it reports instead of blocking, and so do its counter charges."""
    spec = rule.counter
    if spec is not None and spec.fixed_charge is not None:
        spec = replace(spec, fixed_charge=replace(spec.fixed_charge, shadow=True))
    return replace(rule, shadow=True, counter=spec)


def _full_rule(fields: Fields, ctx: RuleContext, on_deny: str | None) -> Rule | None:
    name = fields.string("name", required=True)
    chosen = fields.choice("action", ACTIONS, Action.EVALUATE.value)
    action = Action(chosen) if chosen else None
    conditions, written = _conditions(fields, ctx)
    timeout = _approval_timeout(fields, action)
    approval_mode = _approval_mode(fields, action)
    spend = None
    if "spend" in fields.values:
        if action is not Action.EVALUATE and action is not None:
            fields.error("spend", f"spend cannot be used with action {action.value}")
        if "state" in fields.values:
            fields.error("spend", "spend cannot be combined with state; use separate rules")
        spend = compile_spend(fields, ctx, rule_label(name, fields.path))
    if action is Action.EVALUATE and written == 0 and "spend" not in fields.values:
        message = "an evaluate rule needs at least one condition (use action: deny to block)"
        fields.error("conditions", message)
    if action is Action.DENY and written > 0:
        fields.error("conditions", "a deny rule must not have conditions")
    counter = None
    if "state" in fields.values:
        if action is not Action.EVALUATE and action is not None:
            fields.error("state", f"state cannot be used with action {action.value}")
        counter = _state(fields, ctx, conditions, name, on_deny)
    if action is None:
        return None
    return Rule(
        fields.path, name, action, conditions, on_deny, ctx.tool_key, counter, timeout, None,
        spend=spend, approval_mode=approval_mode,
    )  # fmt: skip


def _conditions(fields: Fields, ctx: RuleContext) -> tuple[tuple[Condition, ...], int]:
    """The compiled conditions and how many were written (compiled or not)."""
    items = fields.sequence("conditions")
    if items is None:
        return (), 0
    compiled = []
    for index, item in enumerate(items.items):
        condition = compile_condition(item, f"{fields.path}.conditions[{index}]", ctx)
        if condition is not None:
            compiled.append(condition)
    return tuple(compiled), len(items.items)


def _approval_timeout(fields: Fields, action: Action | None) -> float | None:
    if not fields.present("approval_timeout"):
        return DEFAULT_APPROVAL_TIMEOUT_SECONDS if action is Action.REQUIRE_APPROVAL else None
    if action is not Action.REQUIRE_APPROVAL:
        fields.error(
            "approval_timeout", "approval_timeout is only valid with action require_approval"
        )
        return None
    text = fields.string("approval_timeout")
    if text is None:
        return None
    try:
        return parse_duration(text)
    except DurationError as exc:
        fields.error("approval_timeout", f"approval_timeout: {exc}")
        return None


def _approval_mode(fields: Fields, action: Action | None) -> str | None:
    if not fields.present("approval_mode"):
        return None
    if action is not Action.REQUIRE_APPROVAL:
        fields.error("approval_mode", "approval_mode is only valid with action require_approval")
        return None
    return fields.choice("approval_mode", APPROVAL_MODES, None)


def _rate_limit_rule(fields: Fields, ctx: RuleContext, on_deny: str | None) -> Rule | None:
    name = fields.string("name") or None
    for key in ("conditions", "state", "spend"):
        if key in fields.values:
            message = "rate_limit cannot be combined with conditions or state; use separate rules"
            fields.error(key, message + " or the full form")
    action = fields.choice("action", ACTIONS, Action.EVALUATE.value)
    if action is not None and action != Action.EVALUATE.value:
        fields.error("action", f'rate_limit cannot be used with action "{action}"')
    for key in ("approval_timeout", "approval_mode"):
        if key in fields.values:
            fields.error(key, f"{key} is only valid with action require_approval")
    parsed = read_rate(fields)
    if parsed is None:
        return None
    count, window, scoping = parsed
    ref = _declare(fields, ctx, rate_name(window), window, scoping)
    rate = _rate_text(count, window, scoping)
    message = on_deny or messages.rate_limited(ctx.tool_key, rate, rule_label(name, fields.path))
    bound = Bound(Decimal(count), inclusive=False, after=False)
    charge = Charge(ref, Decimal(1), bound, fields.path, message)
    spec = CounterSpec(ref, Decimal(1), None, bound, message, charge)
    return Rule(fields.path, name, Action.EVALUATE, (), on_deny, ctx.tool_key, spec, None, rate)


def _rate_text(count: int, window: Window, scoping: Scoping) -> str:
    """`10/minute`, or with its settings: `10/minute per identity per args.symbol, sliding`."""
    text = f"{count}/{window.name}"
    if scoping.scope != "global":
        text += f" per {scoping.scope}"
    if scoping.key is not None:
        text += f" per {scoping.key}"
    return text + (", sliding" if window.sliding else "")


def _declare(
    fields: Fields, ctx: RuleContext, counter: str, window: Window, scoping: Scoping
) -> CounterRef:
    declared = ctx.counters.get((ctx.owner, counter))
    if declared is not None and declared.rule_id != fields.path:
        fields.error(
            "state" if "state" in fields.values else "rate_limit",
            f'counter "{counter}" of "{ctx.owner}" is already declared by {declared.rule_id}',
        )
    return counter_ref(ctx.owner, counter, window, scoping)


def _state(
    rule: Fields,
    ctx: RuleContext,
    conditions: tuple[Condition, ...],
    name: str | None,
    on_deny: str | None,
) -> CounterSpec | None:
    node = rule.mapping("state")
    if node is None:
        return None
    before = len(ctx.issues.errors)
    fields = Fields(node, f"{rule.path}.state", ctx.issues, STATE_KEYS)
    counter = fields.string("counter", required=True)
    window, scoping = read_window(fields), read_scoping(fields)
    increment, source = _amount(fields)
    if counter is None or window is None or scoping is None or (increment is None and not source):
        if len(ctx.issues.errors) == before:  # never drop a counter silently
            ctx.issues.add(node, fields.path, "this state block could not be compiled")
        return None
    ref = _declare(rule, ctx, counter, window, scoping)
    bound = _limit(ref, conditions)
    message = on_deny or messages.counter_exhausted(ctx.tool_key, ref, rule_label(name, rule.path))
    charge = Charge(ref, increment, bound, rule.path, message) if increment is not None else None
    # A before-call bound is the lt/lte condition itself, which the evaluator has just checked.
    precheck = bound is not None and bound.after
    return CounterSpec(ref, increment, source, bound, message, charge, precheck)


def _amount(fields: Fields) -> tuple[Decimal | None, ArgPath | None]:
    """(fixed increment, increment_from path); exactly one is set when both are valid."""
    if "increment" in fields.values and "increment_from" in fields.values:
        fields.error("increment_from", "use either increment or increment_from, not both")
        return None, None
    if "increment_from" in fields.values:
        text = fields.string("increment_from", required=True)
        try:
            source = parse_arg_path(text) if text is not None else None
        except PathError as exc:
            fields.error("increment_from", f"increment_from: {exc}")
            return None, None
        if source is not None and source.fans_out:
            fields.error("increment_from", "increment_from must name one value, not [*]")
            return None, None
        return None, source
    node = fields.get("increment")
    if node is None:
        return Decimal(1), None  # Intercept's default increment
    number = policy_number(node.value) if isinstance(node, LScalar) else None
    if number is None or number <= 0:
        given = render(number) if number is not None else describe(node)
        fields.error("increment", f"increment must be a number greater than 0, got {given}")
        return None, None
    return as_decimal(number), None


def _limit(ref: CounterRef, conditions: tuple[Condition, ...]) -> Bound | None:
    """The bound from the first lt/lte condition on the counter's own path, if any."""
    for condition in conditions:
        if condition.counter == ref and condition.op in LIMIT_OPS:
            limit = policy_number(condition.operand)
            if limit is not None:
                inclusive = condition.op is Op.LTE
                return Bound(as_decimal(limit), inclusive=inclusive, after=FULL_FORM_BOUND_AFTER)
    return None
