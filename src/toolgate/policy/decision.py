"""What the pure evaluator returns: effects, decisions and the counter charges they oblige."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal


class Effect(enum.Enum):
    """The outcome of evaluating one call."""

    ALLOW = "allow"
    DENY = "deny"
    HIDE = "hide"  # the tool is hidden: answer exactly like an unknown tool
    REQUIRE_APPROVAL = "require_approval"


class Reason(enum.Enum):
    """Why the effect was chosen; drives the agent-facing label (ALLOW / DENY / LIMIT / HIDDEN)."""

    ALLOWED = "allowed"
    HIDDEN = "hidden"
    DEFAULT_DENY = "default_deny"
    RULE_DENY = "rule_deny"  # an `action: deny` rule
    CONDITION_FAILED = "condition_failed"  # an `evaluate` rule whose conditions did not all hold
    LIMIT = "limit"  # a counter (rate_limit / state) is exhausted
    APPROVAL = "approval"
    INVALID_CALL = "invalid_call"  # facts that cannot be evaluated (fail closed)


@dataclass(frozen=True, slots=True)
class Window:
    """A counting window: `seconds` long; `aligned` windows start at UTC multiples of it."""

    seconds: int
    name: str  # "minute", "hour", "day", or a duration literal such as "90s"
    aligned: bool = True

    def start(self, epoch_seconds: float) -> int:
        """The start (epoch seconds) of the window holding `epoch_seconds`."""
        now = int(epoch_seconds)
        return now - (now % self.seconds)


MINUTE = Window(60, "minute")
HOUR = Window(3600, "hour")
DAY = Window(86400, "day")


@dataclass(frozen=True, slots=True)
class CounterRef:
    """Names one counter, independent of storage: whose it is and how it is scoped.

    `owner` is the tool name the counter belongs to (or "_global"); `name` is the counter's name
    (`_rate_minute` for a rate_limit shorthand). `scope` is "global" (the default), "identity"
    or "session"; `scope_value` is the identity or session it is counted for, and `key_value`
    the distinct argument value when the counter is keyed by an argument.
    """

    owner: str
    name: str
    window: Window
    scope: str = "global"
    scope_value: str | None = None
    key_value: str | None = None


@dataclass(frozen=True, slots=True)
class Bound:
    """The check a reservation makes atomically.

    The counter's value (`after` = False: before the call, as Dialect A conditions read it;
    `after` = True: including this call's amount, as spend caps do) must be `<= limit`
    (`inclusive`) or `< limit`.
    """

    limit: Decimal
    inclusive: bool = True
    after: bool = False

    def admits(self, current: Decimal, amount: Decimal) -> bool:
        value = current + amount if self.after else current
        return value <= self.limit if self.inclusive else value < self.limit


@dataclass(frozen=True, slots=True)
class Charge:
    """An obligation: add `amount` to `counter` if and only if every charge of the call fits."""

    counter: CounterRef
    amount: Decimal
    bound: Bound | None
    rule_id: str  # the rule that owns the counter; named in the denial if the bound fails
    on_deny: str | None = None
    shadow: bool = False  # a shadow rule's counter: reserved if it fits, never blocks


@dataclass(frozen=True, slots=True)
class Would:
    """What a shadow-mode rule (or a shadow-mode policy) would have done, had it been enforced."""

    effect: Effect
    reason: Reason
    rule_id: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The pure result of evaluating one call against one policy."""

    effect: Effect
    reason: Reason
    rule_id: str | None  # e.g. "tools.create_refund.rules[1]" or "(default deny)" / "(hidden)"
    rule_name: str | None
    message: str  # on_deny or an engine message; empty when allowed
    charges: tuple[Charge, ...] = field(default=())
    approval_timeout_seconds: float | None = None
    would: Would | None = None  # the first thing shadow mode would have done instead

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW
