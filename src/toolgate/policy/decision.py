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


SLIDING_SLICES = 10  # a sliding window is counted in this many slices (see `Window`)
MONDAY_OFFSET = 4 * 86400  # 1970-01-01 was a Thursday: weeks start 4 days after the epoch


@dataclass(frozen=True, slots=True)
class Window:
    """A counting window, `seconds` long.

    Fixed (the default): one bucket per window, starting at UTC multiples of `seconds` shifted by
    `offset` (a week starts on Monday 00:00 UTC). Sliding: the window is counted in slices of
    `bucket_seconds` (about a tenth of it); a call's bucket is its slice, and the counter's value
    is the sum of its slice and the `history` slices before it. Those slices cover at least the
    last `seconds` and at most one slice more, so a sliding counter never admits more than its
    limit in ANY interval `seconds` long (no double burst across a boundary); the price is that
    a call is forgotten between `seconds` and `seconds + bucket_seconds` after it was made.
    """

    seconds: int
    name: str  # "minute", "hour", "day", "week", or a duration literal such as "90s"
    aligned: bool = True
    offset: int = 0
    sliding: bool = False
    bucket_seconds: int = field(init=False, repr=False, compare=False)
    history: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        size = max(1, self.seconds // SLIDING_SLICES) if self.sliding else self.seconds
        object.__setattr__(self, "bucket_seconds", size)
        object.__setattr__(self, "history", -(-self.seconds // size) if self.sliding else 0)

    def start(self, epoch_seconds: float) -> int:
        """The start (epoch seconds) of the bucket holding `epoch_seconds`."""
        now = int(epoch_seconds)
        return now - ((now - self.offset) % self.bucket_seconds)


MINUTE = Window(60, "minute")
HOUR = Window(3600, "hour")
DAY = Window(86400, "day")
WEEK = Window(7 * 86400, "week", offset=MONDAY_OFFSET)


@dataclass(frozen=True, slots=True)
class CounterRef:
    """Names one counter, independent of storage: whose it is and how it is scoped.

    `owner` is the tool name the counter belongs to (or "_global"); `name` is the counter's name
    (`_rate_minute` for a rate_limit shorthand). `scope` is "global" (the default), "identity"
    or "session"; `scope_value` is the identity or session it is counted for, and `key_value`
    the distinct argument value when the counter is keyed by an argument. `key_path` (e.g.
    "args.symbol") is set on a keyed counter: as declared, its `key_value` is None until the
    evaluator binds it to a call (`policy.counter_scope.bind`).
    """

    owner: str
    name: str
    window: Window
    scope: str = "global"
    scope_value: str | None = None
    key_value: str | None = None
    key_path: str | None = None

    @property
    def unbound(self) -> bool:
        """Whether this is a declaration whose scope or key a call must fill in first."""
        return (self.scope != "global" and self.scope_value is None) or (
            self.key_path is not None and self.key_value is None
        )


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
    approval_mode: str | None = None  # the rule's own approval_mode, when it sets one

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW
