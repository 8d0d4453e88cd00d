"""Dialect B (PolicyLayer JSON): one tool entry's `require`, `deny_if` and `limits`, as `Rule`s.

Every rule is named by a JSON Pointer into the file (RFC 6901: `~` is written `~0`, `/` is `~1`),
e.g. `/tools/create_charge/deny_if/0`; that pointer is the rule id in decisions and audit events.
Errors keep the dotted paths of Dialect A (`tools.create_charge.deny_if[0].conditions[1]`) so that
the shared condition engine locates errors inside `any`/`all`/`not` groups the same way.

- `require` entry: every condition must hold, else deny with its `on_deny` (no conditions: holds).
- `deny_if` entry: deny when all its conditions hold; an empty list denies every call.
- `limits` entry `{counter, window, max, scope}`: at most `max` calls per fixed UTC window,
  checked like a `rate_limit` (value before the call < max, reserved atomically, rolled back when
  the call fails). `scope: "grant"` counts per grant, which toolgate maps to `scope: identity`.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from toolgate.policy import messages
from toolgate.policy.condition_groups import Arguments, Counters
from toolgate.policy.decision import DAY, HOUR, MINUTE, Bound, Charge, CounterRef, Window
from toolgate.policy.facts import CallFacts
from toolgate.policy.intercept_conditions import RuleContext, compile_condition
from toolgate.policy.located import LMap, LNode, LScalar, describe
from toolgate.policy.model import Action, Condition, CounterSpec, Rule
from toolgate.policy.schema import Fields

ENTRY_KEYS = ("conditions", "on_deny")
LIMIT_KEYS = ("counter", "window", "max", "scope", "on_deny")
WINDOWS: dict[str, Window] = {"minute": MINUTE, "hour": HOUR, "day": DAY}
#: PolicyLayer's scopes and what toolgate counts them by ("grant" = one identity or token).
SCOPES = {"grant": "identity", "global": "global", "identity": "identity", "session": "session"}


def pointer(*parts: str | int) -> str:
    """The JSON Pointer (RFC 6901) of a location in the document."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def compile_entries(
    fields: Fields, kind: str, ctx: RuleContext, base: tuple[str, ...]
) -> list[Rule]:
    """The `require` or `deny_if` entries of one tool, in file order."""
    rules: list[Rule] = []
    for index, node in enumerate(_items(fields, kind)):
        path = f"{fields.path}.{kind}[{index}]"
        rule_id = pointer(*base, kind, index)
        if not isinstance(node, LMap):
            ctx.issues.add(node, path, f"a {kind} entry must be a mapping, got {describe(node)}")
            continue
        before = len(ctx.issues.errors)
        entry = Fields(node, path, ctx.issues, ENTRY_KEYS)
        on_deny = entry.string("on_deny") or None
        items = entry.sequence("conditions") if entry.require("conditions") else None
        conditions = [
            compile_condition(item, f"{path}.conditions[{i}]", ctx)
            for i, item in enumerate(items.items if items is not None else ())
        ]
        if len(ctx.issues.errors) > before or items is None:
            continue
        compiled = tuple(c for c in conditions if c is not None)
        rules.append(_rule(kind, rule_id, compiled, on_deny, ctx))
    return rules


def _rule(
    kind: str,
    rule_id: str,
    conditions: tuple[Condition, ...],
    on_deny: str | None,
    ctx: RuleContext,
) -> Rule:
    if kind == "require":
        return Rule(rule_id, None, Action.EVALUATE, conditions, on_deny, ctx.tool_key)
    if not conditions:
        return Rule(rule_id, None, Action.DENY, (), on_deny, ctx.tool_key)
    # "deny when all hold" is "require not(all)": one group, so the engine and messages are shared.
    return Rule(rule_id, None, Action.EVALUATE, (_not_all(conditions),), on_deny, ctx.tool_key)


def _not_all(members: tuple[Condition, ...]) -> Condition:
    """`not(all(members))`, written `not(<member>)` when there is only one member."""
    checks = tuple(member.check for member in members)

    def holds(arguments: Arguments, counters: Counters, facts: CallFacts) -> bool:
        return all(check(arguments, counters, facts) for check in checks)

    def negated(arguments: Arguments, counters: Counters, facts: CallFacts) -> bool:
        return not holds(arguments, counters, facts)

    inner = (
        members[0] if len(members) == 1 else Condition("all", None, None, holds, members=members)
    )
    return Condition("not", None, None, negated, members=(inner,))


def compile_limits(fields: Fields, ctx: RuleContext, base: tuple[str, ...]) -> list[Rule]:
    """The `limits` of one tool (or of `all_tools`), in file order."""
    rules: list[Rule] = []
    names: dict[str, str] = {}
    for index, node in enumerate(_items(fields, "limits")):
        path = f"{fields.path}.limits[{index}]"
        rule_id = pointer(*base, "limits", index)
        if not isinstance(node, LMap):
            ctx.issues.add(node, path, f"a limit must be a mapping, got {describe(node)}")
            continue
        limit = Fields(node, path, ctx.issues, LIMIT_KEYS)
        counter = limit.string("counter", required=True)
        window = limit.choice("window", tuple(WINDOWS), None)
        scope = limit.choice("scope", tuple(SCOPES), "global")
        maximum = _maximum(limit)
        on_deny = limit.string("on_deny") or None
        if counter is not None and counter in names:
            limit.error("counter", f'counter "{counter}" is already used by {names[counter]}')
            continue
        if counter is not None:
            names[counter] = rule_id
        if counter is None or window is None or scope is None or maximum is None:
            continue
        ref = CounterRef(ctx.owner, counter, WINDOWS[window], scope=SCOPES[scope])
        rate = f"{maximum}/{window}"
        message = on_deny or messages.rate_limited(ctx.tool_key, rate, f"rule {rule_id}")
        bound = Bound(Decimal(maximum), inclusive=False, after=False)
        charge = Charge(ref, Decimal(1), bound, rule_id, message)
        spec = CounterSpec(ref, Decimal(1), None, bound, message, charge)
        action = Action.EVALUATE
        scoped = (ref,) if ref.unbound else ()  # a grant-scoped counter is bound per call
        rule = Rule(rule_id, None, action, (), on_deny, ctx.tool_key, spec, None, rate)
        rules.append(replace(rule, scoped=scoped))
    return rules


def _maximum(limit: Fields) -> int | None:
    node = limit.require("max")
    if node is None:
        return None
    value = node.value if isinstance(node, LScalar) else None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        shown = str(value) if isinstance(value, int | Decimal) else describe(node)
        limit.error("max", f"max must be a whole number greater than 0, got {shown}")
        return None
    return value


def _items(fields: Fields, key: str) -> list[LNode]:
    node = fields.sequence(key)
    return node.items if node is not None else []
