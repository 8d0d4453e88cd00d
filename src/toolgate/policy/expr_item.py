"""Compiling a condition item `{expr: '<CEL>'}` with located errors (see `policy.expr`)."""

from __future__ import annotations

from collections.abc import Mapping

from toolgate.policy.classify import Classifier
from toolgate.policy.decision import CounterRef
from toolgate.policy.expr import ExprCompileError, compile_program, expr_condition
from toolgate.policy.located import LMap, LScalar, describe
from toolgate.policy.model import Condition
from toolgate.policy.schema import Fields, Issues

EXPR_KEY = "expr"


def is_expr_item(node: LMap) -> bool:
    return any(isinstance(key, LScalar) and key.value == EXPR_KEY for key, _ in node.entries)


def compile_expr_item(
    node: LMap,
    path: str,
    issues: Issues,
    counters: Mapping[tuple[str, str], CounterRef],
    classifier: Classifier,
) -> Condition | None:
    """`counters`: every declared counter by (owner, name), as `path: state.…` conditions see."""
    before = len(issues.errors)
    fields = Fields(node, path, issues, (EXPR_KEY,))
    value = fields.get(EXPR_KEY)
    if value is None:
        return None
    where = f"{path}.{EXPR_KEY}"
    if not isinstance(value, LScalar) or not isinstance(value.value, str):
        issues.add(
            value, where, f"expr must be a string holding a CEL expression, got {describe(value)}"
        )
        return None
    try:
        _, found = compile_program(value.value)
    except ExprCompileError as exc:
        issues.add(value, where, str(exc))
        return None
    reads: dict[tuple[str, str], CounterRef] = {}
    for owner, name in found.state_reads:
        declared = counters.get((owner, name))
        if declared is None:
            issues.add(
                value, where,
                f'"state.{owner}.{name}" reads a counter that no rule declares (declare it with '
                'a state block or rate_limit; counters of "*" rules are state._global.<counter>)',
            )  # fmt: skip
        else:
            reads[(owner, name)] = declared
    if len(issues.errors) > before:
        return None
    return expr_condition(value.value, reads, classifier)
