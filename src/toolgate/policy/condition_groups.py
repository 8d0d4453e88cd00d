"""Boolean groups in `conditions`: `{any: [...]}`, `{all: [...]}` and `{not: {...}}`, nested.

A group is a `Condition` whose `members` are conditions (plain or groups). `any` holds when at
least one member holds (an empty `any` is refused: it could never hold), `all` when every member
holds (an empty `all` is refused too: it would always hold, which is better said without it),
`not` when its one member does not. Errors inside a group are located at the member
(`…conditions[0].any[1]`). Nesting is bounded by the document's own depth limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

from toolgate.policy.decision import CounterRef
from toolgate.policy.facts import CallFacts
from toolgate.policy.located import LMap, LNode, LScalar, LSeq, describe
from toolgate.policy.model import Check, Condition
from toolgate.policy.schema import Issues

GROUP_KEYS = ("any", "all", "not")
Arguments = Mapping[str, object]
Counters = Mapping[CounterRef, Decimal]

#: Compiles one member at a located path (the plain-or-group condition compiler).
Compile = Callable[[LNode, str], Condition | None]


def group_key(node: LMap) -> str | None:
    """The group keyword when `node` is a one-key mapping `{any|all|not: …}`."""
    if len(node.entries) != 1:
        return None
    key = node.entries[0][0]
    if isinstance(key, LScalar) and key.value in GROUP_KEYS:
        return str(key.value)
    return None


def compile_group(
    node: LMap, path: str, issues: Issues, compile_member: Compile
) -> Condition | None:
    kind = group_key(node)
    assert kind is not None
    body = node.entries[0][1]
    where = f"{path}.{kind}"
    before = len(issues.errors)
    if kind == "not":
        if isinstance(body, LSeq):
            issues.add(body, where, "not takes one condition (a mapping), not a list")
            return None
        member = compile_member(body, where)
        if member is None or len(issues.errors) > before:
            return None
        return Condition(kind, None, None, _negation(member.check), members=(member,))
    if not isinstance(body, LSeq):
        issues.add(body, where, f"{kind} takes a list of conditions, got {describe(body)}")
        return None
    if not body.items:
        issues.add(body, where, f"{kind} needs at least one condition")
        return None
    compiled = [compile_member(item, f"{where}[{i}]") for i, item in enumerate(body.items)]
    members = tuple(member for member in compiled if member is not None)
    if len(members) != len(compiled) or len(issues.errors) > before:
        return None
    checks = tuple(member.check for member in members)
    combine = any if kind == "any" else all
    return Condition(kind, None, None, _combination(combine, checks), members=members)


def _negation(inner: Check) -> Check:
    def check(arguments: Arguments, counters: Counters, facts: CallFacts) -> bool:
        return not inner(arguments, counters, facts)

    return check


def _combination(combine: Callable[[Iterable[bool]], bool], checks: tuple[Check, ...]) -> Check:
    def check(arguments: Arguments, counters: Counters, facts: CallFacts) -> bool:
        return combine(c(arguments, counters, facts) for c in checks)

    return check
