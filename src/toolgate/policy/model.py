"""The compiled policy: immutable, dialect-neutral, shaped so that evaluation does little work.

A loader turns a file into a `Policy`; the evaluator only reads it. Rules are grouped per tool into
a `ToolPlan` (the tool's own rules, then the rules of every glob entry matching it in file order,
then the `"*"` rules, with the counters they read worked out in advance). Without glob entries the
plans are built at load time in a dict by tool name; with them, a tool's plan is resolved on first
use and cached (bounded), so a call costs O(rules of its tool) whatever the number of tools or
globs. Conditions carry a compiled `check`; regexes are compiled at load time. A condition may be
a group (`any`, `all`, `not`) whose `members` are conditions.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from toolgate.policy.classify import NO_CLASSIFICATION, Classifier
from toolgate.policy.decision import Bound, Charge, CounterRef
from toolgate.policy.facts import CallFacts
from toolgate.policy.numbers import render
from toolgate.policy.operators import Op
from toolgate.policy.paths import ArgPath, Step
from toolgate.policy.spend import SpendSpec
from toolgate.policy.surfaces import SurfacePolicy
from toolgate.policy.tool_globs import WILDCARD, is_glob

PLAN_CACHE_SIZE = 4096

#: Reads a condition's path (arguments, counter values or facts) and applies its operator.
Check = Callable[[Mapping[str, object], Mapping[CounterRef, Decimal], CallFacts], bool]


class Action(enum.Enum):
    EVALUATE = "evaluate"  # every condition must hold, else deny
    DENY = "deny"  # always deny
    REQUIRE_APPROVAL = "require_approval"  # when every condition holds, a human must approve


@dataclass(frozen=True, slots=True, eq=False)
class Condition:
    path: str  # as written, e.g. "args.amount"; for a group "any", "all" or "not"
    op: Op | None  # None for a group
    operand: object  # the policy's value, as plain data (tuples for lists)
    check: Check
    counter: CounterRef | None = None  # set when the path reads a counter
    parts: tuple[Step, ...] = ()  # the argument path's steps when it reads an argument
    members: tuple[Condition, ...] = ()  # a group's conditions
    reads: tuple[CounterRef, ...] = ()  # the counters an `expr:` condition reads

    def counters(self) -> Iterator[CounterRef]:
        """Every counter this condition (or any member of it) reads."""
        if self.counter is not None:
            yield self.counter
        yield from self.reads
        for member in self.members:
            yield from member.counters()

    def describe(self) -> str:
        if self.op is None and not self.members:  # an `expr:` condition
            explained = getattr(self.operand, "explained", None)
            return f"{self.path} {explained() if explained else self.operand}"
        if self.op is None:
            inner = "; ".join(member.describe() for member in self.members)
            return f"{self.path}({inner})"
        operand = self.operand
        if isinstance(operand, str):
            text = f'"{operand}"'
        elif isinstance(operand, tuple):
            text = "[" + ", ".join(render(item) for item in operand) + "]"
        elif isinstance(operand, bool):
            text = str(operand).lower()
        else:
            text = render(operand)
        return f"{self.path} {self.op.value} {text}"


@dataclass(frozen=True, slots=True, eq=False)
class CounterSpec:
    """A counter a rule adds to on every allowed call, and the bound the reservation checks."""

    ref: CounterRef
    increment: Decimal | None  # a fixed amount, or None when read from `increment_from`
    increment_from: ArgPath | None
    bound: Bound | None  # None: the counter only counts (no lt/lte condition on its own path)
    limit_message: str  # what the agent is told when the bound does not admit the call
    fixed_charge: Charge | None = None  # prebuilt when the amount is fixed
    precheck: bool = True  # False when a condition of the rule already is the bound


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    rule_id: str  # "tools.<key as written>.rules[<i>]"
    name: str | None
    action: Action
    conditions: tuple[Condition, ...]
    on_deny: str | None
    tool_key: str  # the entry the rule sits under ("*" included)
    counter: CounterSpec | None = None
    approval_timeout_seconds: float | None = None
    rate_limit: str | None = None  # the shorthand as written, e.g. "10/minute"
    shadow: bool = False  # `mode: shadow`: decide and report, never block
    scoped: tuple[CounterRef, ...] = ()  # counters it reads or charges that a call must bind
    spend: SpendSpec | None = None  # a `spend:` cap (policy.spend)
    approval_mode: str | None = None  # `approval_mode:` inline | queue | hold (else the policy's)

    @property
    def label(self) -> str:
        return rule_label(self.name, self.rule_id)


def rule_label(name: str | None, rule_id: str) -> str:
    """How messages refer to a rule: by name when it has one, else by its id."""
    return f'rule "{name}"' if name else f"rule {rule_id}"


@dataclass(frozen=True, slots=True, eq=False)
class ToolPlan:
    """What evaluating a call to one tool needs: its rules then the "*" rules, in order."""

    rules: tuple[Rule, ...]
    counters_needed: tuple[CounterRef, ...]


@dataclass(frozen=True, slots=True)
class Approvals:
    """The top-level `approvals:` block: how approval requests are answered and announced
    (carried for the approvals layer; unused by evaluation)."""

    webhook_url: str | None = None
    dedupe_window_seconds: float | None = None
    mode: str = "inline"  # inline | queue | hold: the default for every require_approval rule
    wait_seconds: float = 300.0  # hold: how long a held call waits for a human
    webhook_format: str = "json"  # json | slack
    # the variable the signing secret is read from (a name, not a secret)
    webhook_secret_env: str = "TOOLGATE_WEBHOOK_SECRET"  # noqa: S105
    review_url: str | None = None  # the approvals page, for links in notifications


@dataclass(frozen=True, slots=True, eq=False)
class GlobEntry:
    """A `tools:` key with `*` or `?` in it (not the lone `"*"`), and its compiled rules."""

    key: str
    pattern: re.Pattern[str]
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    file: str
    revision: str  # the first 12 hex digits of the SHA-256 of the file's bytes
    dialect: str  # "intercept" (Dialect A) or "policylayer" (Dialect B)
    description: str | None
    default_deny: bool
    hidden: frozenset[str]
    hide_all: bool
    tools: Mapping[str, tuple[Rule, ...]]  # every entry as written, "*" and globs included
    plans: Mapping[str, ToolPlan]  # exact names, built at load time (empty when globs exist)
    unlisted: ToolPlan  # tools not listed under `default: allow`: the "*" rules alone
    approvals: Approvals | None = None
    globs: tuple[GlobEntry, ...] = ()
    classifier: Classifier = NO_CLASSIFICATION
    shadow: bool = False  # top-level `mode: shadow`
    pin: str = "off"  # top-level `pin:` — enforce, warn or off (tool-definition pinning)
    resources: SurfacePolicy | None = None  # the `resources:` section (policy.surfaces)
    prompts: SurfacePolicy | None = None  # the `prompts:` section
    _resolved: dict[str, ToolPlan | None] = field(default_factory=dict, repr=False)
    _reads_class: list[bool] = field(default_factory=list, repr=False)  # computed once

    @property
    def tool_count(self) -> int:
        """Entries under `tools:`, the `"*"` entry included."""
        return len(self.tools)

    @property
    def rule_count(self) -> int:
        return sum(len(rules) for rules in self.tools.values())

    def reads_tool_class(self) -> bool:
        """Whether a condition may read `tool.category`/`tool.risk` (an `expr:` counts as one):
        only then does the gateway need to classify the tools it lists."""
        if not self._reads_class:
            self._reads_class.append(
                any(
                    _reads_tool_class(condition)
                    for rules in self.tools.values()
                    for rule in rules
                    for condition in rule.conditions
                )
            )
        return self._reads_class[0]

    def plan_for(self, tool: str) -> ToolPlan | None:
        """The rules that apply to `tool`, or None when `default: deny` refuses it unlisted."""
        plan = self.plans.get(tool)
        if plan is not None:
            return plan
        if not self.globs:
            return None if self.default_deny else self.unlisted
        if tool in self._resolved:
            return self._resolved[tool]
        resolved = self._resolve(tool)
        if len(self._resolved) >= PLAN_CACHE_SIZE:
            self._resolved.clear()  # rebuilt on demand; an LRU would cost more than it saves
        self._resolved[tool] = resolved
        return resolved

    def _resolve(self, tool: str) -> ToolPlan | None:
        matched = [entry.rules for entry in self.globs if entry.pattern.match(tool)]
        own = None if is_glob(tool) or tool == WILDCARD else self.tools.get(tool)
        if own is None and not matched:
            return None if self.default_deny else self.unlisted
        rules = own or ()
        for entry_rules in matched:
            rules += entry_rules
        return _plan(rules + self.tools.get(WILDCARD, ()))


def build_plans(tools: Mapping[str, tuple[Rule, ...]]) -> tuple[dict[str, ToolPlan], ToolPlan]:
    """One plan per listed tool, plus the plan for unlisted tools (a policy without globs)."""
    wildcard = tools.get(WILDCARD, ())
    plans = {key: _plan(rules + wildcard) for key, rules in tools.items() if key != WILDCARD}
    return plans, _plan(wildcard)


def _plan(rules: tuple[Rule, ...]) -> ToolPlan:
    needed: dict[CounterRef, None] = {}
    for rule in rules:
        for condition in rule.conditions:
            for counter in condition.counters():
                needed[counter] = None
        if rule.counter is not None and rule.counter.bound is not None:
            needed[rule.counter.ref] = None
    return ToolPlan(rules, tuple(needed))


def _reads_tool_class(condition: Condition) -> bool:
    if condition.op is None and not condition.members:  # an `expr:` may read `tool.*`
        return True
    if condition.path in ("tool.category", "tool.risk"):
        return True
    return any(_reads_tool_class(member) for member in condition.members)
