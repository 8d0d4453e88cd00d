"""Policy lints: what loads but is probably wrong (`toolgate validate` warnings).

Each finding names the policy path (`segments`, located in the source by `lint_locate`) and says
what is wrong: a rule that can never fire (contradictory conditions on one path), a full-form
counter never reserved against a limit, a rule shadowed by an earlier unconditional deny or by
hiding, a regex that can backtrack catastrophically (`lint_regex`); with a tool catalogue
(`lint_catalog`), hide entries, tool keys and argument paths that match no tool.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from toolgate.policy.equality import equality_key
from toolgate.policy.lint_regex import regex_risk
from toolgate.policy.model import Action, Condition, Policy, Rule
from toolgate.policy.numbers import policy_number
from toolgate.policy.operators import Op
from toolgate.policy.paths import STAR
from toolgate.policy.tool_globs import WILDCARD

Segment = str | int
_INDEX = re.compile(r"\[(\d+)\]\Z")


@dataclass(frozen=True, slots=True)
class Finding:
    segments: tuple[Segment, ...]  # where in the document: ("tools", "t", "rules", 0)
    message: str

    @property
    def path(self) -> str:
        text = ""
        for segment in self.segments:
            text += f"[{segment}]" if isinstance(segment, int) else f".{segment}"
        return text.lstrip(".")


def lint_policy(policy: Policy) -> list[Finding]:
    findings: list[Finding] = []
    for key, rules in policy.tools.items():
        denied_by: Rule | None = None
        hidden = not policy.shadow and (policy.hide_all or key in policy.hidden)
        for rule in rules:
            where = rule_segments(rule)
            if hidden and key != WILDCARD:
                findings.append(Finding(where, "never evaluated: the tool is hidden"))
            elif denied_by is not None:
                message = f"never evaluated: {denied_by.label} before it denies every call"
                findings.append(Finding(where, message))
            if rule.action is Action.DENY and not rule.shadow and denied_by is None:
                denied_by = rule
            findings.extend(_rule_findings(rule, where))
    return findings


def rule_segments(rule: Rule) -> tuple[Segment, ...]:
    """The rule's place in the document, from its id (Dialect A path or Dialect B pointer)."""
    if rule.rule_id.startswith("/"):
        parts = [p.replace("~1", "/").replace("~0", "~") for p in rule.rule_id[1:].split("/")]
        return tuple(int(p) if p.isdigit() else p for p in parts)
    match = _INDEX.search(rule.rule_id)
    return ("tools", rule.tool_key, "rules", int(match.group(1)) if match else 0)


def _rule_findings(rule: Rule, where: tuple[Segment, ...]) -> Iterator[Finding]:
    conjunction, deny_if = rule.conditions, False
    if rule.rule_id.startswith("/") and len(conjunction) == 1 and conjunction[0].path == "not":
        inner = conjunction[0].members[0]  # Dialect B deny_if: not(all(...)) or not(c)
        conjunction, deny_if = (inner.members if inner.path == "all" else (inner,)), True
    conflict = contradiction(conjunction)
    if conflict is not None:
        if deny_if or rule.action is Action.REQUIRE_APPROVAL:
            yield Finding(where, f"can never fire: its conditions contradict ({conflict})")
        else:
            yield Finding(where, f"can never pass, so it denies every call ({conflict})")
    spec = rule.counter
    if spec is not None and spec.bound is None and rule.rate_limit is None:
        yield Finding(
            (*where, "state"),
            f'counter "{spec.ref.name}" is never reserved against a limit: no lt/lte condition '
            "on its own state path in this rule, so it only counts",
        )
    for index, condition in enumerate(rule.conditions):
        for member in walk(condition):
            if member.op is Op.REGEX and isinstance(member.operand, str):
                risk = regex_risk(member.operand)
                if risk is not None:
                    place = (*where, "conditions", index) if not deny_if else where
                    yield Finding(place, f'regex "{member.operand}" may backtrack: {risk}')


def walk(condition: Condition) -> Iterator[Condition]:
    yield condition
    for member in condition.members:
        yield from walk(member)


def contradiction(conditions: tuple[Condition, ...]) -> str | None:
    """Why these AND-ed conditions can never all hold (same argument path), or None."""
    by_path: dict[str, list[Condition]] = {}
    for condition in conditions:
        if condition.op is not None and condition.parts and STAR not in condition.parts:
            by_path.setdefault(condition.path, []).append(condition)
    for path, group in by_path.items():
        reason = _conflict(group)
        if reason is not None:
            return f"{path}: {reason}"
    return None


def _conflict(group: list[Condition]) -> str | None:
    ops = {c.op for c in group}
    absent = [c for c in group if c.op is Op.EXISTS and c.operand is False]
    if absent and len(ops) > 1:
        return "exists false, and another operator needs the value"
    equal = {equality_key(c.operand) for c in group if c.op is Op.EQ}
    if len(equal) > 1:
        return "eq with two different values"
    low, high = _bounds(group)
    if low is not None and high is not None:
        (lv, lstrict, ltext), (hv, hstrict, htext) = low, high
        if lv > hv or (lv == hv and (lstrict or hstrict)):
            return f"{ltext} and {htext}"
    return None


Bound = tuple[Decimal, bool, str] | None


def _bounds(group: list[Condition]) -> tuple[Bound, Bound]:
    low: Bound = None
    high: Bound = None
    for c in group:
        number = (
            policy_number(c.operand)
            if c.op is not Op.EQ or not isinstance(c.operand, bool)
            else None
        )
        if number is None or c.op not in (Op.GT, Op.GTE, Op.LT, Op.LTE, Op.EQ):
            continue
        value, text = Decimal(number), c.describe()
        if c.op in (Op.GT, Op.GTE, Op.EQ) and (low is None or value > low[0]):
            low = (value, c.op is Op.GT, text)
        if c.op in (Op.LT, Op.LTE, Op.EQ) and (high is None or value < high[0]):
            high = (value, c.op is Op.LT, text)
    return low, high
