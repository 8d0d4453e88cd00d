"""Compiling one Intercept condition `{path, op, value}` into a `Condition` with its check.

A state path must name a counter that some rule declares (a `state` block or a `rate_limit`), as
Intercept's validator also demands: the declaration gives the counter its window, and a typo in a
counter name would otherwise read a counter that never moves. Any rule may read any declared
counter: `state.<tool>.<counter>` a tool's own, `state._global.<counter>` one declared under `"*"`
(shared by all tools). The value read is the one before the call; a counter never written is 0.
An item may also be a group (`any`/`all`/`not`, see `condition_groups`); a path over `[*]` holds
when any element satisfies the operator (and so, under `not`, when none does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from toolgate.policy.classify import NO_CLASSIFICATION, Classifier
from toolgate.policy.condition_groups import compile_group, group_key
from toolgate.policy.decision import CounterRef
from toolgate.policy.expr_item import compile_expr_item, is_expr_item
from toolgate.policy.fact_values import FactReader, fact_reader
from toolgate.policy.located import LMap, LNode, describe, to_plain
from toolgate.policy.model import Check, Condition
from toolgate.policy.operators import OP_NAMES, Op, OperandError, Test, build_test
from toolgate.policy.paths import (
    MISSING,
    STAR,
    FactPath,
    PathError,
    StatePath,
    Step,
    parse_path,
    resolve,
    resolve_all,
)
from toolgate.policy.schema import Fields, Issues, quoted, suggestion

ZERO = Decimal(0)
CONDITION_KEYS = ("path", "op", "value")


@dataclass(frozen=True, slots=True)
class CounterDecl:
    """A counter declared by a rule: its reference and the rule that declared it first."""

    ref: CounterRef
    rule_id: str


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What compiling the rules of one tool entry needs to know."""

    issues: Issues
    tool_key: str  # the entry as written, "*" included
    owner: str  # whose counters the entry's state blocks declare: the tool, or "_global"
    counters: Mapping[tuple[str, str], CounterDecl]  # (owner, counter name) -> declaration
    classifier: Classifier = NO_CLASSIFICATION  # for tool.category / tool.risk
    shadow: bool = False  # the policy's top-level `mode: shadow`


def compile_condition(node: LNode, path: str, ctx: RuleContext) -> Condition | None:
    if not isinstance(node, LMap):
        message = f"a condition must be a mapping with path, op and value, got {describe(node)}"
        ctx.issues.add(node, path, message)
        return None
    if group_key(node) is not None or is_expr_item(node):
        return _group_or_expr(node, path, ctx)
    before = len(ctx.issues.errors)
    fields = Fields(node, path, ctx.issues, CONDITION_KEYS)
    path_text = fields.string("path", required=True)
    op = _operator(fields)
    value_node = fields.require("value")
    counter: CounterRef | None = None
    parts: tuple[Step, ...] = ()
    reader: FactReader | None = None
    if path_text is not None:
        try:
            parsed = parse_path(path_text)
        except PathError as exc:
            fields.error("path", str(exc))
        else:
            if isinstance(parsed, StatePath):
                counter = _declared_counter(parsed, fields, ctx)
            elif isinstance(parsed, FactPath):
                reader = fact_reader(parsed, ctx.classifier)
            else:
                parts = parsed.parts
    test: Test | None = None
    operand = to_plain(value_node) if value_node is not None else None
    if op is not None and value_node is not None:
        try:
            test = build_test(op, operand)
        except OperandError as exc:
            fields.error("value", str(exc))
    if len(ctx.issues.errors) > before or path_text is None or op is None or test is None:
        if len(ctx.issues.errors) == before:  # never drop a condition silently
            ctx.issues.add(node, path, "this condition could not be compiled")
        return None
    check = _check(test, counter, parts, reader)
    return Condition(path_text, op, operand, check, counter, parts)


def _group_or_expr(node: LMap, path: str, ctx: RuleContext) -> Condition | None:
    if group_key(node) is not None:
        return compile_group(node, path, ctx.issues, lambda n, p: compile_condition(n, p, ctx))
    refs = {key: declared.ref for key, declared in ctx.counters.items()}
    return compile_expr_item(node, path, ctx.issues, refs, ctx.classifier)


def _operator(fields: Fields) -> Op | None:
    text = fields.string("op", required=True)
    if text is None:
        return None
    if text in OP_NAMES:
        return Op(text)
    hint = suggestion(text, OP_NAMES) or f" (expected one of {quoted(OP_NAMES)})"
    fields.error("op", f'unknown operator "{text}"{hint}')
    return None


def _declared_counter(path: StatePath, fields: Fields, ctx: RuleContext) -> CounterRef | None:
    for owner, name in path.splits():
        declared = ctx.counters.get((owner, name))
        if declared is not None:
            return declared.ref
    fields.error(
        "path",
        f'"{path.text}" reads a counter that no rule declares (declare it with a state block '
        'or rate_limit under that tool; counters of "*" rules are read as state._global.<counter>)',
    )
    return None


def _check(
    test: Test, counter: CounterRef | None, parts: tuple[Step, ...], reader: FactReader | None
) -> Check:
    """The condition's check, specialised so that the common shapes cost one dict lookup."""
    if counter is not None:
        ref = counter
        return lambda arguments, counters, facts: test(counters.get(ref, ZERO))
    if reader is not None:
        read = reader
        return lambda arguments, counters, facts: test(read(facts))
    if STAR in parts:
        return lambda arguments, counters, facts: any(
            test(value) for value in resolve_all(arguments, parts)
        )
    if len(parts) == 1 and isinstance(parts[0], str):
        key = parts[0]
        return lambda arguments, counters, facts: test(arguments.get(key, MISSING))
    return lambda arguments, counters, facts: test(resolve(arguments, parts))
