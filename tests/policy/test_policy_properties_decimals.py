"""Property-based tests of exact decimals and of counters driven through the real Ledger.

- The ordering operators compare a JSON float as the shortest decimal that reads back as it
  (`Decimal(repr(x))`), a plain decimal string as that exact decimal, and the policy's literal
  exactly: the outcome is always what `Decimal` comparison says.
- Spend and state counters, reserved through `Ledger` over `MemoryCounterStore` on a fake clock,
  hold exactly the sum of the reservations still standing: allowed calls only add, rolling back
  one of the counter's own reservations takes back exactly that one (twice is a no-op), so the
  counter never drops below what is reserved, never goes negative, and never passes its cap.
"""

from __future__ import annotations

import os
from decimal import Decimal

import anyio
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolgate.clock import FakeClock
from toolgate.policy import CallFacts, Effect, evaluate, load_policy_text
from toolgate.policy.evaluator import counters_needed
from toolgate.quota.ledger import Ledger, LimitExceeded, Reservation
from toolgate.stores.memory import MemoryCounterStore

HUNT = int(os.environ.get("TOOLGATE_PROPERTY_EXAMPLES", "0"))
PROPERTY_SETTINGS = settings(
    max_examples=HUNT or 150,
    deadline=None,
    derandomize=not HUNT,
    suppress_health_check=[HealthCheck.too_slow],
)
OPS = {
    "lt": Decimal.__lt__,
    "lte": Decimal.__le__,
    "gt": Decimal.__gt__,
    "gte": Decimal.__ge__,
}

# Policy literals: exact decimals written without an exponent (YAML reads them exactly).
LIMITS = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=12, allow_nan=False
)
FLOATS = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False) | st.sampled_from(
    [0.1, 0.2, 0.3, 0.30000000000000004, 1e-7, -0.0, 100.00000000000001]
)
DECIMAL_STRINGS = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=14, allow_nan=False
).map(lambda d: format(d, "f"))


def ordering_policy(limit: Decimal) -> object:
    text = 'version: "1"\ntools:\n'
    for op in OPS:
        text += f"  {op}:\n    rules:\n      - name: r\n        conditions:\n"
        text += f"          - {{path: args.x, op: {op}, value: {format(limit, 'f')}}}\n"
    return load_policy_text(text, "decimals.yaml")


def admitted(policy: object, op: str, value: object) -> bool:
    decision = evaluate(policy, CallFacts(op, {"x": value}, now=0.0))  # type: ignore[arg-type]
    return decision.effect is Effect.ALLOW


@PROPERTY_SETTINGS
@given(LIMITS, st.data())
def test_floats_and_numeric_strings_compare_exactly_as_decimal_would(
    limit: Decimal, data: st.DataObject
) -> None:
    policy = ordering_policy(limit)
    near = format(limit, "f")  # the limit itself, as a string and as the float nearest it
    value = data.draw(FLOATS | DECIMAL_STRINGS | st.just(near) | st.just(float(limit)))
    exact = Decimal(value) if isinstance(value, str) else Decimal(repr(value))
    for op, compare in OPS.items():
        assert admitted(policy, op, value) is compare(exact, limit), (op, value, limit)


@PROPERTY_SETTINGS
@given(st.sampled_from(["1e3", "+1", ".5", "1.", " 1", "1_000", "١", "NaN", "0x10", "-", ""]))
def test_strings_that_are_not_plain_decimal_literals_fail_every_ordering_operator(
    value: str,
) -> None:
    policy = ordering_policy(Decimal(0))
    assert not any(admitted(policy, op, value) for op in OPS)


@PROPERTY_SETTINGS
@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_equality_stays_typed_a_numeric_string_never_equals_its_number(number: int) -> None:
    policy = load_policy_text(
        f'version: "1"\ntools:\n  t:\n    rules:\n      - name: r\n        conditions:\n'
        f"          - {{path: args.x, op: eq, value: {number}}}\n",
        "eq.yaml",
    )
    assert admitted(policy, "t", number)
    assert admitted(policy, "t", float(number))
    assert not admitted(policy, "t", str(number))


COUNTED = load_policy_text(
    orjson.dumps(
        {
            "version": "1",
            "tools": {
                "order": {
                    "rules": [
                        {
                            "name": "notional",
                            "spend": {
                                "amount": "args.quantity * args.price",
                                "per_call": 400,
                                "daily": "1000.25",
                                "key": "args.symbol",
                            },
                        }
                    ]
                },
                "transfer": {
                    "rules": [
                        {
                            "name": "budget",
                            "conditions": [
                                {"path": "state.transfer.budget", "op": "lte", "value": 777}
                            ],
                            "state": {
                                "counter": "budget",
                                "window": "day",
                                "increment_from": "args.amount",
                                "scope": "identity",
                            },
                        }
                    ]
                },
            },
        }
    ).decode(),
    "counted.json",
)
CAPS = {"order": Decimal("1000.25"), "transfer": Decimal(777)}
AMOUNTS = st.decimals(min_value=0, max_value=500, places=3, allow_nan=False)
CALL = st.tuples(
    st.just("call"),
    st.sampled_from(["order", "transfer"]),
    AMOUNTS,
    st.sampled_from(["number", "string"]),
)
ROLLBACK = st.tuples(st.just("rollback"), st.integers(min_value=0, max_value=50))
WAIT = st.tuples(st.just("wait"), st.integers(min_value=0, max_value=600))
STEPS = st.lists(CALL | ROLLBACK | WAIT, min_size=1, max_size=40)


def arguments(tool: str, amount: Decimal, spelling: str) -> dict[str, object]:
    value: object = format(amount, "f") if spelling == "string" else float(amount)
    if tool == "order":
        return {"symbol": "BTCUSDT", "quantity": value, "price": 2}
    return {"amount": float(amount)}


async def run_steps(steps: list[tuple[object, ...]]) -> None:
    clock = FakeClock()  # 2026-01-01T00:00Z: 40 waits of at most 10 minutes stay in one day
    ledger = Ledger(MemoryCounterStore(clock), "ns", clock)
    live: list[tuple[str, Reservation]] = []
    rolled: list[tuple[str, Reservation]] = []
    previous = {tool: Decimal(0) for tool in CAPS}
    for step in steps:
        kind = step[0]
        if kind == "wait":
            clock.advance(int(step[1]))  # type: ignore[call-overload]
        elif kind == "rollback" and (live or rolled):
            pool = live + rolled
            tool, reservation = pool[int(step[1]) % len(pool)]  # type: ignore[call-overload]
            await ledger.rollback(reservation)  # a second rollback of one must change nothing
            if (tool, reservation) in live:
                live.remove((tool, reservation))
                rolled.append((tool, reservation))
        elif kind == "call":
            _, tool, amount, spelling = step
            facts = CallFacts(
                str(tool), arguments(str(tool), amount, str(spelling)),  # type: ignore[arg-type]
                now=clock.now(), identity="desk", session="s1",
            )  # fmt: skip
            refs = counters_needed(COUNTED, facts)
            facts = facts.with_counters(await ledger.snapshot(refs))
            decision = evaluate(COUNTED, facts)
            if decision.effect is Effect.ALLOW:
                reserved = await ledger.reserve(decision.charges)
                if not isinstance(reserved, LimitExceeded):
                    live.append((str(tool), reserved))
        for tool, cap in CAPS.items():
            standing = sum(
                (c.amount for t, r in live if t == tool for c in r.charges[:1]), Decimal(0)
            )
            value = await counter_value(ledger, tool, clock)
            assert value == standing, (tool, value, standing)
            assert Decimal(0) <= value <= cap
            if kind != "rollback":
                assert value >= previous[tool], (tool, value, previous[tool])
            previous[tool] = value


async def counter_value(ledger: Ledger, tool: str, clock: FakeClock) -> Decimal:
    """The counter the tool's rule charges, read through the ledger for a representative call."""
    probe = arguments(tool, Decimal(0), "number")
    facts = CallFacts(tool, probe, now=clock.now(), identity="desk", session="s1")
    decision = evaluate(COUNTED, facts.with_counters({}))
    counter = decision.charges[0].counter  # the day counter (spend: _spend_day; state: budget)
    return (await ledger.snapshot([counter]))[counter]


@PROPERTY_SETTINGS
@given(STEPS)
def test_a_counter_holds_exactly_its_standing_reservations_and_never_passes_its_cap(
    steps: list[tuple[object, ...]],
) -> None:
    anyio.run(run_steps, steps)
