"""Spend caps: exact decimal amounts (a path or a product of paths), per call, hourly, daily."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tests.policy.policy_cases import errors_of
from tests.quota.gate import gate

pytestmark = pytest.mark.anyio

NOTIONAL = """
tools:
  order:
    rules:
      - name: notional
        spend:
          amount: args.quantity * args.price
          per_call: 1000
          hourly: "1500.50"
          daily: 2000
          key: args.symbol
"""


def order(quantity: object, price: object, symbol: str = "BTC") -> dict[str, object]:
    return {"quantity": quantity, "price": price, "symbol": symbol}


async def test_the_amount_multiplies_paths_exactly_and_charges_hour_and_day() -> None:
    g = gate(NOTIONAL)
    assert await g.call("order", order("0.1", "0.2")) == "allow"
    assert g.last is not None
    assert [(c.counter.name, c.amount, c.bound) for c in g.last.charges] == [
        ("_spend_hour", Decimal("0.02"), g.last.charges[0].bound),
        ("_spend_day", Decimal("0.02"), g.last.charges[1].bound),
    ]
    bound = g.last.charges[0].bound
    assert bound is not None and (bound.limit, bound.inclusive, bound.after) == (
        Decimal("1500.50"), True, True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("quantity", "price", "outcome"),
    [
        (10, 100, "allow"),
        ("10", "100.00", "allow"),
        (10, "100.01", "limit"),
        (1, 1000.0000001, "limit"),
    ],
)
async def test_per_call_is_a_plain_inclusive_check_of_one_calls_amount(
    quantity: object, price: object, outcome: str
) -> None:
    assert await gate(NOTIONAL).call("order", order(quantity, price)) == outcome


async def test_the_hourly_cap_is_checked_after_adding_the_call_and_never_overshot() -> None:
    g = gate(NOTIONAL)
    assert await g.call("order", order(1, "1000")) == "allow"
    assert await g.call("order", order(1, "500.51")) == "limit"  # 1500.51 > 1500.50
    assert "Spend cap reached" in g.last_message
    assert await g.call("order", order(1, "500.50")) == "allow"  # exactly 1500.50
    assert await g.call("order", order(1, "0.01")) == "limit"
    assert await g.call("order", order(1, "0.01", symbol="ETH")) == "allow"  # per symbol


async def test_the_daily_cap_holds_across_hours() -> None:
    g = gate(NOTIONAL)
    assert await g.call("order", order(1, 1000)) == "allow"
    g.clock.advance(3600)
    assert await g.call("order", order(1, 1000)) == "allow"
    g.clock.advance(3600)
    assert await g.call("order", order(1, 1)) == "limit"  # the day is at 2000


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"price": 1, "symbol": "BTC"}, "args.quantity is missing"),
        (order(-1, 5), "args.quantity is negative (-1)"),
        (order(1, "-0.5"), "args.price is negative (-0.5)"),
        (order(math.nan, 5), "args.quantity is not a finite number (nan)"),
        (order(math.inf, 5), "args.quantity is not a finite number (inf)"),
        (order("1e3", 5), "args.quantity is a string, not a number"),
        (order(True, 5), "args.quantity is a boolean"),
        (order(None, 5), "args.quantity is null, not a number"),
    ],
    ids=["missing", "negative", "negative-string", "nan", "inf", "exponent", "bool", "null"],
)
async def test_an_unusable_amount_is_refused_before_any_counter_moves(
    arguments: dict[str, object], problem: str
) -> None:
    g = gate(NOTIONAL)
    assert await g.call("order", arguments) == "invalid_call"
    assert problem in g.last_message
    assert g.last is not None and g.last.charges == ()


async def test_a_spend_cap_per_identity_refuses_calls_without_an_identity() -> None:
    g = gate(
        """
        tools:
          pay:
            rules:
              - {name: cap, spend: {amount: args.amount, daily: 10, scope: identity}}
        """
    )
    assert await g.call("pay", {"amount": 10}, identity="a") == "allow"
    assert await g.call("pay", {"amount": 1}, identity="a") == "limit"
    assert await g.call("pay", {"amount": 1}, identity="b") == "allow"
    assert await g.call("pay", {"amount": 1}, identity=None) == "invalid_call"


async def test_spend_runs_after_the_rules_conditions_hold() -> None:
    g = gate(
        """
        tools:
          pay:
            rules:
              - name: usd only
                conditions: [{path: args.currency, op: eq, value: usd}]
                spend: {amount: args.amount, per_call: 5}
        """
    )
    assert await g.call("pay", {"amount": 5, "currency": "usd"}) == "allow"
    assert await g.call("pay", {"amount": 5, "currency": "eur"}) == "condition_failed"
    assert await g.call("pay", {"amount": 6, "currency": "usd"}) == "limit"


@pytest.mark.parametrize(
    ("spend", "message"),
    [
        ("{amount: args.a}", "spend needs at least one of per_call, hourly or daily"),
        ("{amount: a * args.b, daily: 1}", "amount must be a path or a product of paths"),
        ("{amount: 'args.o[*].q', daily: 1}", "not [*]"),
        ("{amount: args.a, daily: -1}", "daily must be a number >= 0"),
        ("{amount: args.a, hourly: lots}", "hourly must be a number >= 0"),
        ("{amount: args.a, weekly: 1}", 'unknown key "weekly"'),
        ("{per_call: 1}", 'missing required key "amount"'),
    ],
)
def test_invalid_spend_blocks_are_located_errors(spend: str, message: str) -> None:
    errors = errors_of(f"tools:\n  t:\n    rules:\n      - {{name: r, spend: {spend}}}\n")
    assert any(message in error.message for error in errors), errors


def test_spend_cannot_be_combined_with_state_rate_limit_or_deny() -> None:
    state = "state: {counter: c, window: day}, conditions: [{path: args.a, op: eq, value: 1}]"
    for rule in (
        f"{{name: r, spend: {{amount: args.a, daily: 1}}, {state}}}",
        "{rate_limit: 1/minute, spend: {amount: args.a, daily: 1}}",
        "{name: r, action: deny, spend: {amount: args.a, daily: 1}}",
    ):
        assert errors_of(f"tools:\n  t:\n    rules:\n      - {rule}\n")
