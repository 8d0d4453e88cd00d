"""The CounterStore contract: atomic all-or-none reservations over windowed counters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BucketKey:
    """One counter in one window: `key` is an opaque, namespaced string built by the quota layer;
    `window_start` is the window's start in epoch seconds, `window_seconds` its length (so a
    store can expire buckets whose window has ended).

    Sliding windows: with `history` > 0 the bucket is one slice of a sliding window, and its
    value, as read, checked and returned, is the sum of this slice and the `history` slices
    before it (same key, starts `window_seconds` apart); amounts are still added to this slice
    alone, and it is kept until it leaves the window (`(history + 1) * window_seconds`)."""

    key: str
    window_start: int
    window_seconds: int
    history: int = 0


@dataclass(frozen=True, slots=True)
class ReserveItem:
    """Add `amount` to `bucket`, provided its value (before, or after with `check_after`) is
    `<= limit` (`inclusive`) or `< limit`. `limit` None means no check."""

    bucket: BucketKey
    amount: Decimal
    limit: Decimal | None = None
    inclusive: bool = True
    check_after: bool = False


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """`ok` when every item was applied; otherwise none was and `failed_index` names the first
    item whose check failed, with the value it read."""

    ok: bool
    failed_index: int | None = None
    current: Decimal | None = None


class CounterStore(Protocol):
    """Windowed counters. `reserve` is atomic across all its items, also across processes
    sharing the store: it never reads-then-writes from the caller's side."""

    async def reserve(self, items: Sequence[ReserveItem]) -> ReserveResult: ...

    async def rollback(self, items: Sequence[ReserveItem]) -> None:
        """Undo a successful reservation (subtract each amount from its bucket)."""

    async def get(self, buckets: Sequence[BucketKey]) -> list[Decimal]:
        """Current values; a bucket never written reads as zero."""

    async def health(self) -> bool: ...

    async def aclose(self) -> None: ...
