"""Helpers shared by the policy tests: build policies from YAML snippets, calls, and summaries."""

from __future__ import annotations

import textwrap
from decimal import Decimal

from toolgate.errors import LocatedError, PolicyValidationError
from toolgate.policy import (
    DAY,
    HOUR,
    MINUTE,
    CallFacts,
    CounterRef,
    Decision,
    Policy,
    load_policy_text,
)

WINDOWS = {"minute": MINUTE, "hour": HOUR, "day": DAY}


def policy(body: str, file: str = "policy.yaml") -> Policy:
    """A policy from a YAML snippet; `version: "1"` is added when the snippet has none."""
    text = textwrap.dedent(body)
    if not text.lstrip().startswith("version"):
        text = 'version: "1"\n' + text
    return load_policy_text(text, file)


def errors_of(body: str, file: str = "policy.yaml") -> list[LocatedError]:
    """The located errors a snippet produces (the test fails if it loads)."""
    try:
        policy(body, file)
    except PolicyValidationError as exc:
        return exc.errors
    raise AssertionError("the policy loaded without errors")


def one_rule(rule: str, tool: str = "t") -> Policy:
    """A policy whose tool `tool` has the single rule given as YAML (a flow mapping)."""
    return policy(f"tools:\n  {tool}:\n    rules:\n      - {rule}\n")


def call(
    tool: str = "t",
    arguments: object = None,
    counters: dict[CounterRef, Decimal] | None = None,
) -> CallFacts:
    args = {} if arguments is None else arguments
    return CallFacts(tool, args, now=1_767_225_600.0, counters=counters or {})  # type: ignore[arg-type]


def ref(owner: str, name: str, window: str = "minute") -> CounterRef:
    return CounterRef(owner, name, WINDOWS[window])


def charges(decision: Decision) -> list[tuple[object, ...]]:
    """Each charge as (owner, counter, window, amount, (limit, inclusive, after) or None)."""
    summary: list[tuple[object, ...]] = []
    for charge in decision.charges:
        bound = charge.bound
        shape = None if bound is None else (str(bound.limit), bound.inclusive, bound.after)
        counter = charge.counter
        summary.append(
            (counter.owner, counter.name, counter.window.name, str(charge.amount), shape)
        )
    return summary
