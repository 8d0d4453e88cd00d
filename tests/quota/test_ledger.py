"""Ledger: snapshots, all-or-none reservations, rollbacks and namespaces, over every backend."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from toolgate.clock import FakeClock
from toolgate.errors import StoreError
from toolgate.policy.decision import DAY, MINUTE, Bound, Charge, CounterRef
from toolgate.quota.ledger import Ledger, LimitExceeded, Reservation
from toolgate.stores.base import BucketKey, CounterStore, ReserveItem, ReserveResult
from toolgate.stores.memory import MemoryCounterStore

pytestmark = pytest.mark.anyio

RATE = CounterRef("search", "_rate_minute", MINUTE)
SPEND = CounterRef("create_refund", "daily_spend", DAY)


def rate_limit(n: int, counter: CounterRef = RATE) -> Charge:
    """`rate_limit: n/minute`: admitted while the count before the call is < n."""
    return Charge(counter, Decimal(1), Bound(Decimal(n), inclusive=False), "tools.search.rules[0]")


def spend(amount: str, cap: str = "100") -> Charge:
    """A spend cap: admitted while the total including this call is <= cap."""
    return Charge(
        SPEND,
        Decimal(amount),
        Bound(Decimal(cap), after=True),
        "tools.create_refund.rules[1]",
        on_deny="Daily refund budget exhausted",
    )


async def test_snapshot_reads_what_reserve_wrote(store: CounterStore, clock: FakeClock) -> None:
    ledger = Ledger(store, "ns", clock)
    assert isinstance(await ledger.reserve([rate_limit(10), spend("12.5")]), Reservation)
    snapshot = await ledger.snapshot([RATE, SPEND, RATE])
    assert snapshot == {RATE: Decimal(1), SPEND: Decimal("12.5")}


async def test_snapshot_of_counters_never_charged_is_zero(
    store: CounterStore, clock: FakeClock
) -> None:
    ledger = Ledger(store, "ns", clock)
    assert await ledger.snapshot([RATE]) == {RATE: Decimal(0)}
    assert await ledger.snapshot([]) == {}


async def test_a_rate_limit_of_three_per_minute_admits_three_then_refuses_until_the_next_minute(
    store: CounterStore, clock: FakeClock
) -> None:
    ledger = Ledger(store, "ns", clock)
    outcomes = [await ledger.reserve([rate_limit(3)]) for _ in range(4)]
    assert [isinstance(o, Reservation) for o in outcomes] == [True, True, True, False]
    clock.advance(60)
    assert isinstance(await ledger.reserve([rate_limit(3)]), Reservation)


async def test_a_refusal_applies_nothing_and_names_the_failing_charge(
    store: CounterStore, clock: FakeClock
) -> None:
    ledger = Ledger(store, "ns", clock)
    await ledger.reserve([spend("90")])
    outcome = await ledger.reserve([rate_limit(10), spend("10.01")])
    assert isinstance(outcome, LimitExceeded)
    assert outcome.charge == spend("10.01")
    assert outcome.current == Decimal(90)
    assert outcome.rule_id == "tools.create_refund.rules[1]"
    assert outcome.on_deny == "Daily refund budget exhausted"
    assert await ledger.snapshot([RATE, SPEND]) == {RATE: 0, SPEND: 90}


async def test_rollback_undoes_exactly_what_was_reserved(
    store: CounterStore, clock: FakeClock
) -> None:
    ledger = Ledger(store, "ns", clock)
    await ledger.reserve([spend("0.1")])
    reservation = await ledger.reserve([rate_limit(10), spend("0.2")])
    assert isinstance(reservation, Reservation)
    await ledger.rollback(reservation)
    assert await ledger.snapshot([RATE, SPEND]) == {RATE: 0, SPEND: Decimal("0.1")}


async def test_rollback_after_the_window_rolled_undoes_the_old_window_not_the_new(
    store: CounterStore, clock: FakeClock
) -> None:
    ledger = Ledger(store, "ns", clock)
    clock.advance(59)  # 00:00:59
    await ledger.reserve([rate_limit(10)])
    reservation = await ledger.reserve([rate_limit(10)])
    assert isinstance(reservation, Reservation)
    clock.advance(1)  # 00:01:00: a new minute
    await ledger.reserve([rate_limit(10)])
    await ledger.rollback(reservation)
    assert await ledger.snapshot([RATE]) == {RATE: 1}  # the new minute is untouched
    old = reservation.items[0].bucket
    assert await store.get([old]) == [1]  # the old minute lost exactly this reservation


async def test_rolling_back_twice_undoes_once(store: CounterStore, clock: FakeClock) -> None:
    ledger = Ledger(store, "ns", clock)
    await ledger.reserve([rate_limit(10)])
    reservation = await ledger.reserve([rate_limit(10)])
    assert isinstance(reservation, Reservation)
    await ledger.rollback(reservation)
    await ledger.rollback(reservation)
    assert reservation.rolled_back
    assert await ledger.snapshot([RATE]) == {RATE: 1}


async def test_ledgers_with_different_namespaces_never_collide(
    store: CounterStore, clock: FakeClock
) -> None:
    first, second = Ledger(store, "policy-a/server-1", clock), Ledger(store, "policy-b", clock)
    for _ in range(3):
        await first.reserve([rate_limit(3)])
    assert isinstance(await second.reserve([rate_limit(3)]), Reservation)
    assert await second.snapshot([RATE]) == {RATE: 1}


async def test_ledgers_sharing_a_namespace_share_their_counters(
    store: CounterStore, clock: FakeClock
) -> None:
    first, second = Ledger(store, "shared", clock), Ledger(store, "shared", clock)
    for _ in range(3):
        await first.reserve([rate_limit(3)])
    assert isinstance(await second.reserve([rate_limit(3)]), LimitExceeded)


async def test_counters_survive_a_policy_reload(store: CounterStore, clock: FakeClock) -> None:
    await Ledger(store, "ns", clock).reserve([spend("40")])
    reloaded = Ledger(store, "ns", clock)  # a reload builds a new ledger on the same store
    assert await reloaded.snapshot([SPEND]) == {SPEND: 40}


@pytest.mark.parametrize("amount", ["-1", "NaN", "Infinity", "-0.5"])
async def test_a_negative_or_non_finite_amount_is_refused_and_nothing_is_applied(
    store: CounterStore, clock: FakeClock, amount: str
) -> None:
    ledger = Ledger(store, "ns", clock)
    bad = Charge(SPEND, Decimal(amount), None, "r")
    with pytest.raises(ValueError, match="finite and >= 0"):
        await ledger.reserve([rate_limit(10), bad])
    assert await ledger.snapshot([RATE, SPEND]) == {RATE: 0, SPEND: 0}


class RefusingStore:
    """A store that fails every call: proves the ledger did not touch it."""

    async def reserve(self, items: Sequence[ReserveItem]) -> ReserveResult:
        raise AssertionError("reserve called")

    async def rollback(self, items: Sequence[ReserveItem]) -> None:
        raise AssertionError("rollback called")

    async def get(self, buckets: Sequence[BucketKey]) -> list[Decimal]:
        raise AssertionError("get called")

    async def health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


async def test_a_reservation_with_no_charges_never_reaches_the_store(clock: FakeClock) -> None:
    ledger = Ledger(RefusingStore(), "ns", clock)
    reservation = await ledger.reserve([])
    assert isinstance(reservation, Reservation)
    await ledger.rollback(reservation)
    assert await ledger.snapshot([]) == {}


class SilentRefusalStore(RefusingStore):
    async def reserve(self, items: Sequence[ReserveItem]) -> ReserveResult:
        return ReserveResult(ok=False)


async def test_a_refusal_without_a_reason_is_a_store_error(clock: FakeClock) -> None:
    with pytest.raises(StoreError):
        await Ledger(SilentRefusalStore(), "ns", clock).reserve([rate_limit(1)])


async def test_a_failed_rollback_can_be_retried(clock: FakeClock) -> None:
    store = MemoryCounterStore(clock)
    ledger = Ledger(store, "ns", clock)
    reservation = await ledger.reserve([rate_limit(10)])
    assert isinstance(reservation, Reservation)
    await store.aclose()
    with pytest.raises(StoreError):
        await ledger.rollback(reservation)
    assert not reservation.rolled_back


def test_a_ledger_needs_a_namespace(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="namespace"):
        Ledger(MemoryCounterStore(clock), "", clock)
