"""Ledger: reading, reserving and rolling back a call's counter charges over any CounterStore.

The ledger turns policy-level charges into store items for the current fixed window and
delegates the atomic check-and-apply to the store in ONE call: it never reads then writes, so
the bound a store checks is the bound that holds, whatever other tasks or processes do.
It knows nothing about which backend it talks to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from toolgate.clock import Clock
from toolgate.errors import StoreError
from toolgate.policy.decision import Charge, CounterRef
from toolgate.quota.keys import bucket_key
from toolgate.stores.base import CounterStore, ReserveItem

ITEM_CACHE_SIZE = 4096
ZERO = Decimal(0)


@dataclass(eq=False, slots=True)
class Reservation:
    """What one successful `reserve` applied: the charges and the exact buckets they went to.

    The buckets are fixed at reservation time, so a rollback after the window rolled over
    undoes the old window's count, never the new one's.
    """

    charges: tuple[Charge, ...]
    items: tuple[ReserveItem, ...]
    rolled_back: bool = field(default=False, init=False)


@dataclass(frozen=True, slots=True)
class LimitExceeded:
    """A reservation refused because `charge`'s bound failed at value `current`; nothing applied."""

    charge: Charge
    current: Decimal

    @property
    def rule_id(self) -> str:
        return self.charge.rule_id

    @property
    def on_deny(self) -> str | None:
        return self.charge.on_deny


class Ledger:
    """Counters of one namespace (a policy/server pairing): ledgers with different namespaces
    never see each other's counts, ledgers sharing one share them on purpose."""

    def __init__(self, store: CounterStore, namespace: str, clock: Clock) -> None:
        if not namespace:
            raise ValueError("a ledger needs a non-empty namespace")
        self._store = store
        self._namespace = namespace
        self._clock = clock
        # Per charge, the store item built for its current window, with the window's bounds:
        # the evaluator hands over equal charges call after call, and building an item costs
        # as much as the whole in-memory reservation.
        self._items: dict[Charge, tuple[int, int, ReserveItem]] = {}

    @property
    def namespace(self) -> str:
        return self._namespace

    async def snapshot(self, refs: Iterable[CounterRef]) -> dict[CounterRef, Decimal]:
        """Each counter's value in its current window (zero if never charged there)."""
        unique = list(dict.fromkeys(refs))
        if not unique:
            return {}
        now = self._clock.now()
        buckets = [bucket_key(self._namespace, ref, now) for ref in unique]
        values = await self._store.get(buckets)
        return dict(zip(unique, values, strict=True))

    async def reserve(self, charges: Sequence[Charge]) -> Reservation | LimitExceeded:
        """Apply every charge in the current windows, or none; a refusal names the charge.

        Raises ValueError for a negative or non-finite amount or limit (the evaluator should
        never produce one; refusing here keeps a bad amount from lowering a counter), and
        StoreError when the store fails: both mean the call must be denied.
        """
        if not charges:
            return Reservation((), ())
        now = self._clock.now()  # one instant for all charges: they land in matching windows
        items = tuple([self._item(charge, now) for charge in charges])
        result = await self._store.reserve(items)
        if result.ok:
            return Reservation(tuple(charges), items)
        index = result.failed_index
        if index is None or not 0 <= index < len(charges) or result.current is None:
            raise StoreError(f"counter store refused a reservation without naming why: {result}")
        return LimitExceeded(charges[index], result.current)

    async def rollback(self, reservation: Reservation) -> None:
        """Undo exactly what `reservation` applied, in the buckets it applied it to.

        Rolling the same reservation back twice undoes it once: a second undo would let the
        counter drop below what really happened and admit calls past the limit.
        """
        if reservation.rolled_back or not reservation.items:
            reservation.rolled_back = True
            return
        reservation.rolled_back = True  # set before awaiting: a concurrent rollback is a no-op
        try:
            await self._store.rollback(reservation.items)
        except BaseException:
            reservation.rolled_back = False  # not undone: a retry may try again
            raise

    def _item(self, charge: Charge, now: float) -> ReserveItem:
        cached = self._items.get(charge)
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2]
        item = self._build_item(charge, now)
        if len(self._items) >= ITEM_CACHE_SIZE:
            self._items.clear()  # rebuilt on demand; an LRU would cost more than it saves
        start = item.bucket.window_start
        self._items[charge] = (start, start + item.bucket.window_seconds, item)
        return item

    def _build_item(self, charge: Charge, now: float) -> ReserveItem:
        amount = charge.amount
        if not amount.is_finite() or amount < ZERO:
            raise ValueError(f"{charge.rule_id}: counter amount must be finite and >= 0: {amount}")
        bucket = bucket_key(self._namespace, charge.counter, now)
        bound = charge.bound
        if bound is None:
            return ReserveItem(bucket, amount)
        if not bound.limit.is_finite():
            raise ValueError(f"{charge.rule_id}: counter limit must be finite: {bound.limit}")
        return ReserveItem(bucket, amount, bound.limit, bound.inclusive, bound.after)
