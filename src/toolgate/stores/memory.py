"""MemoryCounterStore: windowed counters in a dict, for one process and for tests.

Atomicity comes from the event loop: no method awaits between reading a bucket and writing it,
so a reservation is never interleaved with another task's. Counters vanish with the process.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from decimal import Decimal

from toolgate.clock import Clock, SystemClock
from toolgate.errors import StoreError
from toolgate.stores.base import BucketKey, ReserveItem, ReserveResult
from toolgate.stores.plan import (
    DEFAULT_GRACE_SECONDS,
    RESERVED,
    ZERO,
    Plan,
    Slot,
    add,
    earlier_starts,
    expires_at,
    plan_reservation,
    plan_rollback,
)

# Expired buckets removed per call at most: keeps every call O(items) even after a long idle
# period left thousands of ended windows behind; the backlog drains over the next calls.
EXPIRE_BATCH = 16


class MemoryCounterStore:
    """A CounterStore held in process memory. Values are exact Decimals."""

    def __init__(
        self, clock: Clock | None = None, *, grace_seconds: int = DEFAULT_GRACE_SECONDS
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self._grace = grace_seconds
        self._values: dict[Slot, Decimal] = {}
        # (expires_at, key, window_start) per bucket, pushed when the bucket is created.
        self._expiry: list[tuple[int, str, int]] = []
        self._closed = False

    async def reserve(self, items: Sequence[ReserveItem]) -> ReserveResult:
        if self._closed:
            raise StoreError("the memory counter store is closed")
        heap = self._expiry
        if heap and heap[0][0] <= self._clock.now():
            self._expire()
        outcome = plan_reservation(items, self._values.get, self._earlier)
        if isinstance(outcome, ReserveResult):
            return outcome
        self._apply(outcome)
        return RESERVED

    async def rollback(self, items: Sequence[ReserveItem]) -> None:
        self._check_open()
        self._apply(plan_rollback(items, self._values.get))

    async def get(self, buckets: Sequence[BucketKey]) -> list[Decimal]:
        self._check_open()
        values = self._values
        return [
            add(values.get((b.key, b.window_start), ZERO), self._earlier(b)) if b.history
            else values.get((b.key, b.window_start), ZERO)
            for b in buckets
        ]  # fmt: skip

    def _earlier(self, bucket: BucketKey) -> Decimal:
        values, key = self._values, bucket.key
        total = ZERO
        for start in earlier_starts(bucket):
            value = values.get((key, start))
            if value is not None:
                total = add(total, value)
        return total

    async def health(self) -> bool:
        return not self._closed

    async def aclose(self) -> None:
        self._closed = True
        self._values.clear()
        self._expiry.clear()

    def __len__(self) -> int:
        """How many buckets are held (expired ones included until swept)."""
        return len(self._values)

    def _apply(self, plan: Plan) -> None:
        values = self._values
        for slot, (bucket, value) in plan.items():
            if slot not in values:
                heapq.heappush(self._expiry, (expires_at(bucket, self._grace), *slot))
            values[slot] = value

    def _expire(self) -> None:
        heap = self._expiry
        now = self._clock.now()
        for _ in range(EXPIRE_BATCH):
            if not heap or heap[0][0] > now:
                return
            _, key, start = heapq.heappop(heap)
            self._values.pop((key, start), None)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the memory counter store is closed")
