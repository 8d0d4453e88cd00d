"""MemoryCounterStore beyond the shared contract: lazy, bounded expiry of ended windows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from toolgate.clock import FakeClock
from toolgate.stores.base import BucketKey, ReserveItem
from toolgate.stores.memory import EXPIRE_BATCH, MemoryCounterStore

pytestmark = pytest.mark.anyio

START = 1_767_225_600


def item(key: str, start: int = START) -> ReserveItem:
    return ReserveItem(BucketKey(key, start, 60), Decimal(1))


async def test_a_bucket_lives_until_its_window_end_plus_the_grace_period(
    clock: FakeClock,
) -> None:
    store = MemoryCounterStore(clock, grace_seconds=30)
    await store.reserve([item("k")])
    clock.advance(60 + 29)
    await store.reserve([item("other", START + 60)])
    assert await store.get([BucketKey("k", START, 60)]) == [1]
    clock.advance(1)
    await store.reserve([item("other", START + 60)])
    assert await store.get([BucketKey("k", START, 60)]) == [0]


async def test_expiry_removes_at_most_a_batch_of_buckets_per_call(clock: FakeClock) -> None:
    store = MemoryCounterStore(clock, grace_seconds=0)
    await store.reserve([item(f"old{i}") for i in range(EXPIRE_BATCH * 2 + 3)])
    clock.advance(3600)
    sizes = []
    for _ in range(4):
        await store.reserve([item("new", START + 3600)])
        sizes.append(len(store))
    assert sizes == [EXPIRE_BATCH + 4, 4, 1, 1]
