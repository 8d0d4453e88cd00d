"""Spend caps: `spend: {amount, per_call, hourly, daily, scope, key, algorithm}` on a rule.

`amount` is an argument path or a product of paths (`args.quantity * args.price`), computed in
exact decimals: each factor is a number or a numeric string (`"0.01"`), finite and >= 0, and the
product is never rounded. A missing, negative, non-finite or non-numeric factor refuses the call
(fail closed). `per_call` caps one call's amount (`amount <= per_call`). `hourly` and `daily` are
counters (`_spend_hour`, `_spend_day` of the rule's tool) checked AFTER adding this call's amount
(`Bound(after=True)`), atomically by the counter store, so a cap is never overshot: a call that
would take the total past the cap is refused whole. `scope` and `key` split the counters like any
other counter's; `algorithm: sliding` makes the hour and the day sliding.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation
from decimal import Overflow as DecimalOverflow

from toolgate.policy.counter_scope import Unbound, bind
from toolgate.policy.decision import Bound, Charge, CounterRef, Reason
from toolgate.policy.facts import CallFacts
from toolgate.policy.located import describe_value
from toolgate.policy.numbers import as_decimal, as_number, numeric_string, render
from toolgate.policy.paths import MISSING, ArgPath, resolve

# Products of exact decimals under this context are exact or refused, never rounded.
EXACT = Context(
    prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN,
    traps=[InvalidOperation, Inexact, DecimalOverflow],
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SpendRefusal:
    """Why a spend rule refuses a call before any counter is touched."""

    reason: Reason  # INVALID_CALL for an unusable amount, LIMIT for per_call
    message: str


@dataclass(frozen=True, slots=True, eq=False)
class SpendSpec:
    """A compiled `spend:` block; `caps` pairs each counter with its inclusive limit."""

    amount_text: str  # as written, for messages
    factors: tuple[ArgPath, ...]
    per_call: Decimal | None
    caps: tuple[tuple[CounterRef, Decimal], ...]
    rule_id: str
    limit_message: str  # the denial when a counter cap would be passed


def spend_charges(
    spec: SpendSpec, arguments: object, facts: CallFacts, shadow: bool = False
) -> tuple[Charge, ...] | SpendRefusal:
    """The counter charges of one call, or why the call is refused."""
    amount = _amount(spec, arguments)
    if isinstance(amount, SpendRefusal):
        return amount
    if spec.per_call is not None and amount > spec.per_call:
        return SpendRefusal(
            Reason.LIMIT,
            f"{spec.amount_text} = {render(amount)} is over the per-call cap of "
            f"{render(spec.per_call)}",
        )
    charges = []
    for ref, limit in spec.caps:
        bound_ref = bind(ref, arguments, facts) if ref.unbound else ref
        if isinstance(bound_ref, Unbound):
            return SpendRefusal(Reason.INVALID_CALL, str(bound_ref))
        bound = Bound(limit, inclusive=True, after=True)
        charges.append(Charge(bound_ref, amount, bound, spec.rule_id, spec.limit_message, shadow))
    return tuple(charges)


def _amount(spec: SpendSpec, arguments: object) -> Decimal | SpendRefusal:
    product = Decimal(1)
    for factor in spec.factors:
        value = resolve(arguments, factor.parts)
        number = numeric_string(value) if isinstance(value, str) else as_number(value)
        if number is None or number < 0:
            if value is MISSING:
                problem = "is missing"
            elif number is not None:
                problem = f"is negative ({render(number)})"
            elif isinstance(value, float | Decimal):
                problem = f"is not a finite number ({value})"
            else:
                problem = f"is {describe_value(value)}, not a number"
            return SpendRefusal(
                Reason.INVALID_CALL,
                f"spend amount {factor.text} {problem}; it must be a finite number >= 0",
            )
        try:
            product = EXACT.multiply(product, as_decimal(number))
        except ArithmeticError:
            message = f"spend amount {spec.amount_text} is out of range"
            return SpendRefusal(Reason.INVALID_CALL, message)
    return product
