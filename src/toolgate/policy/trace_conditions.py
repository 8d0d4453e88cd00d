"""Tracing conditions: each condition's result and the values it read, groups nested.

A rule's conditions are AND-ed and the evaluator stops at the first one that fails: the trace
records the ones it evaluated and marks the rest `evaluated = False`. Inside a group every member
is evaluated (the trace explains; it does not short-circuit). A value is read by the condition's
own path: an argument (`args.x`, every element under `[*]`), a counter (`state.T.c`, as bound to
this call) or a fact (`identity.name`, `time.hour`, `tool.risk`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from toolgate.policy.classify import NO_CLASSIFICATION, Classifier
from toolgate.policy.decision import CounterRef
from toolgate.policy.fact_values import fact_reader
from toolgate.policy.facts import CallFacts
from toolgate.policy.model import Condition
from toolgate.policy.paths import STAR, FactPath, PathError, parse_path, resolve, resolve_all
from toolgate.policy.regex import RegexInputTooLong

ZERO = Decimal(0)


@dataclass(slots=True)
class Read:
    """One value a condition read: `source` is "args", "counter" or "fact"."""

    source: str
    path: str
    value: object  # MISSING when absent; a list of values under [*]


@dataclass(slots=True)
class ConditionStep:
    text: str  # the condition as `describe()` renders it
    path: str
    op: str | None  # None for a group (path is any/all/not) or an expression
    evaluated: bool
    result: bool | None
    reads: list[Read] = field(default_factory=list)
    members: list[ConditionStep] = field(default_factory=list)
    error: str | None = None


def trace_conditions(
    conditions: tuple[Condition, ...],
    arguments: Mapping[str, object],
    counters: Mapping[CounterRef, Decimal],
    facts: CallFacts,
    classifier: Classifier | None,
) -> list[ConditionStep]:
    steps: list[ConditionStep] = []
    live = True
    for condition in conditions:
        if not live:
            steps.append(_step(condition, arguments, counters, facts, classifier, evaluated=False))
            continue
        step = _step(condition, arguments, counters, facts, classifier, evaluated=True)
        live = bool(step.result)
        steps.append(step)
    return steps


def _step(
    condition: Condition,
    arguments: Mapping[str, object],
    counters: Mapping[CounterRef, Decimal],
    facts: CallFacts,
    classifier: Classifier | None,
    *,
    evaluated: bool,
) -> ConditionStep:
    op = condition.op.value if condition.op is not None else None
    step = ConditionStep(condition.describe(), condition.path, op, evaluated, None)
    step.members = [
        _step(member, arguments, counters, facts, classifier, evaluated=evaluated)
        for member in condition.members
    ]
    if not evaluated:
        return step
    step.reads = _reads(condition, arguments, counters, facts, classifier)
    try:
        step.result = condition.check(arguments, counters, facts)
    except RegexInputTooLong as exc:
        step.error = str(exc)
    return step


def _reads(
    condition: Condition,
    arguments: Mapping[str, object],
    counters: Mapping[CounterRef, Decimal],
    facts: CallFacts,
    classifier: Classifier | None,
) -> list[Read]:
    if condition.op is None:
        return []
    if condition.counter is not None:
        return [Read("counter", condition.path, counters.get(condition.counter, ZERO))]
    parts = condition.parts
    if parts:
        value = resolve_all(arguments, parts) if STAR in parts else resolve(arguments, parts)
        return [Read("args", condition.path, value)]
    try:
        parsed = parse_path(condition.path)
    except PathError:
        return []
    if isinstance(parsed, FactPath):
        reader = fact_reader(parsed, classifier or NO_CLASSIFICATION)
        return [Read("fact", condition.path, reader(facts))]
    return []
