"""The CounterStore contract: every backend must pass every test here unchanged."""

from __future__ import annotations

from decimal import Decimal

import anyio
import anyio.lowlevel
import pytest

from toolgate.clock import FakeClock
from toolgate.errors import StoreError
from toolgate.stores.base import BucketKey, CounterStore, ReserveItem

pytestmark = pytest.mark.anyio

START = 1_767_225_600  # 2026-01-01T00:00:00Z, the fake clock's start


def bucket(key: str = "k", start: int = START, seconds: int = 60) -> BucketKey:
    return BucketKey(key, start, seconds)


def item(
    key: str = "k",
    amount: str = "1",
    limit: str | None = None,
    *,
    inclusive: bool = True,
    after: bool = False,
    start: int = START,
) -> ReserveItem:
    return ReserveItem(
        bucket(key, start),
        Decimal(amount),
        None if limit is None else Decimal(limit),
        inclusive,
        after,
    )


async def values(store: CounterStore, *keys: str) -> list[Decimal]:
    return await store.get([bucket(k) for k in keys])


async def test_reservation_applies_every_item_when_all_bounds_hold(store: CounterStore) -> None:
    result = await store.reserve([item("a", "1", "5"), item("b", "2", "5"), item("c", "3")])
    assert result.ok
    assert await values(store, "a", "b", "c") == [1, 2, 3]


async def test_one_failing_bound_applies_nothing(store: CounterStore) -> None:
    await store.reserve([item("b", "5")])
    result = await store.reserve([item("a", "1", "10"), item("b", "1", "5", inclusive=False)])
    assert not result.ok
    assert result.failed_index == 1
    assert result.current == 5
    assert await values(store, "a", "b") == [0, 5]


async def test_failure_names_the_first_failing_item_and_its_value(store: CounterStore) -> None:
    await store.reserve([item("a", "3"), item("b", "4")])
    result = await store.reserve([item("c", "1"), item("a", "1", "2"), item("b", "1", "2")])
    assert (result.ok, result.failed_index, result.current) == (False, 1, Decimal(3))


@pytest.mark.parametrize(
    ("current", "amount", "limit", "inclusive", "after", "admitted"),
    [
        ("10", "1", "10", True, False, True),  # before: 10 <= 10
        ("10", "1", "10", False, False, False),  # before: 10 < 10 fails
        ("9", "1", "10", False, False, True),  # before: 9 < 10
        ("9", "1", "10", True, True, True),  # after: 10 <= 10
        ("9", "2", "10", True, True, False),  # after: 11 <= 10 fails
        ("9", "1", "10", False, True, False),  # after: 10 < 10 fails
        ("8", "1", "10", False, True, True),  # after: 9 < 10
        ("0", "0.5", "0.5", True, True, True),  # fractions on the boundary
    ],
)
async def test_bounds_are_inclusive_or_exclusive_and_checked_before_or_after(
    store: CounterStore,
    current: str,
    amount: str,
    limit: str,
    inclusive: bool,
    after: bool,
    admitted: bool,
) -> None:
    await store.reserve([item("k", current)])
    result = await store.reserve([item("k", amount, limit, inclusive=inclusive, after=after)])
    assert result.ok is admitted
    expected = Decimal(current) + (Decimal(amount) if admitted else 0)
    assert await values(store, "k") == [expected]


async def test_an_item_without_a_limit_is_never_refused(store: CounterStore) -> None:
    await store.reserve([item("k", "1000000")])
    assert (await store.reserve([item("k", "1")])).ok


async def test_decimals_add_exactly(store: CounterStore) -> None:
    await store.reserve([item("k", "0.1")])
    await store.reserve([item("k", "0.2")])
    assert await values(store, "k") == [Decimal("0.3")]


async def test_fractions_are_never_truncated(store: CounterStore) -> None:
    await store.reserve([item("k", "0.5")])
    assert await values(store, "k") == [Decimal("0.5")]


async def test_values_keep_every_digit_beyond_the_default_decimal_precision(
    store: CounterStore,
) -> None:
    await store.reserve([item("k", "1e30")])
    await store.reserve([item("k", "1e-30")])
    # The default 28-digit context would round this sum back to 1e30.
    assert await values(store, "k") == [Decimal("1" + "0" * 30 + "." + "0" * 29 + "1")]


async def test_items_on_the_same_bucket_see_each_others_amounts(store: CounterStore) -> None:
    result = await store.reserve([item("k", "3", "5", after=True), item("k", "3", "5", after=True)])
    assert (result.ok, result.failed_index, result.current) == (False, 1, Decimal(3))
    assert await values(store, "k") == [0]
    assert (await store.reserve([item("k", "2"), item("k", "3", "5", after=True)])).ok
    assert await values(store, "k") == [5]


async def test_rollback_restores_the_values_before_the_reservation(store: CounterStore) -> None:
    await store.reserve([item("a", "2"), item("b", "0.25")])
    reservation = [item("a", "1.5", "10"), item("b", "0.5"), item("c", "7")]
    assert (await store.reserve(reservation)).ok
    await store.rollback(reservation)
    assert await values(store, "a", "b", "c") == [2, Decimal("0.25"), 0]


async def test_each_window_start_is_a_separate_bucket(store: CounterStore) -> None:
    await store.reserve([item("k", "4", start=START)])
    await store.reserve([item("k", "1", "1", start=START + 60)])
    first, second = await store.get([bucket("k", START), bucket("k", START + 60)])
    assert (first, second) == (4, 1)


async def test_keys_are_separate_counters(store: CounterStore) -> None:
    await store.reserve([item("k", "4"), item("K", "1"), item("k ", "2")])
    assert await values(store, "k", "K", "k ", "kk") == [4, 1, 2, 0]


async def test_get_of_unknown_buckets_is_zero(store: CounterStore) -> None:
    assert await values(store, "never", "written") == [0, 0]
    assert await store.get([]) == []


async def test_an_empty_reservation_succeeds_and_changes_nothing(store: CounterStore) -> None:
    assert (await store.reserve([])).ok
    await store.rollback([])


async def test_a_non_finite_amount_raises_store_error_and_applies_nothing(
    store: CounterStore,
) -> None:
    for bad in ("NaN", "Infinity", "-Infinity", "sNaN"):
        with pytest.raises(StoreError):
            await store.reserve([item("a", "1"), item("b", bad)])
    assert await values(store, "a", "b") == [0, 0]


async def test_health_is_true_while_open_and_false_after_close(store: CounterStore) -> None:
    assert await store.health() is True
    await store.aclose()
    assert await store.health() is False
    await store.aclose()  # closing twice is harmless


async def test_operations_after_close_raise_store_error(store: CounterStore) -> None:
    await store.aclose()
    with pytest.raises(StoreError):
        await store.reserve([item()])
    with pytest.raises(StoreError):
        await store.get([bucket()])


async def test_fifty_concurrent_reservations_against_a_limit_of_ten_admit_exactly_ten(
    store: CounterStore,
) -> None:
    admitted: list[bool] = []

    async def one() -> None:
        await anyio.lowlevel.checkpoint()  # let every task start before any reserves
        result = await store.reserve([item("k", "1", "10", inclusive=False)])
        admitted.append(result.ok)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(one)
    assert admitted.count(True) == 10
    assert await values(store, "k") == [10]


async def test_expired_buckets_are_dropped_and_never_recreated_by_a_late_rollback(
    store: CounterStore, clock: FakeClock
) -> None:
    old = [item("k", "3")]
    await store.reserve(old)
    clock.advance(3600)  # far past the window's end, its grace period and any sweep interval
    await store.reserve([item("other", "1", start=START + 3600)])  # expiry is lazy: on use
    assert await values(store, "k") == [0]
    await store.rollback(old)
    assert await values(store, "k") == [0]  # not -3: the expired bucket stays gone


# Sliding windows: a bucket with `history` is one slice; its value sums the slices before it.


def slice_item(
    amount: str, limit: str | None, start: int, *, history: int = 3, after: bool = False
) -> ReserveItem:
    key = BucketKey("s", start, 10, history)
    return ReserveItem(key, Decimal(amount), None if limit is None else Decimal(limit), True, after)


async def test_a_sliding_bucket_reads_as_the_sum_of_its_slice_and_the_slices_before(
    store: CounterStore,
) -> None:
    for offset, amount in ((0, "1"), (10, "2"), (20, "3"), (30, "4")):
        assert (await store.reserve([slice_item(amount, None, START + offset)])).ok
    # the slice at +30 with history 3 covers +0..+30; the one at +40 has forgotten +0
    assert await store.get([BucketKey("s", START + 30, 10, 3)]) == [10]
    assert await store.get([BucketKey("s", START + 40, 10, 3)]) == [9]
    assert await store.get([BucketKey("s", START + 30, 10, 0)]) == [4]


async def test_a_sliding_reservation_checks_the_sum_and_adds_to_its_own_slice_only(
    store: CounterStore,
) -> None:
    assert (await store.reserve([slice_item("3", "5", START, after=True)])).ok
    refused = await store.reserve([slice_item("3", "5", START + 10, after=True)])
    assert (refused.ok, refused.failed_index, refused.current) == (False, 0, 3)
    assert (await store.reserve([slice_item("2", "5", START + 10, after=True)])).ok
    assert await store.get([BucketKey("s", START + 10, 10, 0)]) == [2]
    assert (await store.reserve([slice_item("3", "5", START + 40, after=True)])).ok  # 3 left


async def test_a_failed_sliding_reservation_applies_nothing_to_any_item(
    store: CounterStore,
) -> None:
    await store.reserve([slice_item("4", None, START)])
    result = await store.reserve([item("a", "1", "9"), slice_item("1", "3", START + 10)])
    assert (result.ok, result.failed_index) == (False, 1)
    assert await values(store, "a") == [0]


async def test_a_sliding_reservation_rolls_back_from_its_own_slice(store: CounterStore) -> None:
    first = slice_item("2", "5", START)
    second = slice_item("3", "5", START + 10)
    assert (await store.reserve([first])).ok and (await store.reserve([second])).ok
    await store.rollback([second])
    assert await store.get([BucketKey("s", START + 10, 10, 3)]) == [2]


async def test_a_slice_outlives_its_own_length_until_it_leaves_the_sliding_window(
    store: CounterStore, clock: FakeClock
) -> None:
    await store.reserve([slice_item("1", None, START)])
    clock.set(START + 40 + 200.0)  # past the slice's own end plus a fixed window's grace
    await store.reserve([item("other", "1", start=START + 240)])  # gives stores a chance to sweep
    assert await store.get([BucketKey("s", START + 30, 10, 3)]) == [1]
