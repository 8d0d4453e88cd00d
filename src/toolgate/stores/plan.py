"""The all-or-none check every backend shares: exact arithmetic, bound checks, the write plan.

A backend supplies only "read one bucket" (inside whatever makes it atomic: no await for the
memory store, one `BEGIN IMMEDIATE` transaction for SQLite) and applies the plan this module
returns. Keeping the decision here means every backend agrees on what a bound admits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation
from decimal import Overflow as DecimalOverflow

from toolgate.errors import StoreError
from toolgate.stores.base import BucketKey, ReserveItem, ReserveResult

# Additions and subtractions under this context never round: a counter is exact or the store
# refuses (Inexact/Overflow trap), it never silently truncates (Intercept's defect 2).
EXACT = Context(
    prec=MAX_PREC,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    traps=[InvalidOperation, Inexact, DecimalOverflow],
)
ZERO = Decimal(0)
RESERVED = ReserveResult(ok=True)  # shared: results are immutable and success carries no data

# A bucket is kept this long after its window ends, so a rollback that arrives shortly after a
# rollover still finds the bucket it reserved in. Nothing reads an ended window otherwise.
DEFAULT_GRACE_SECONDS = 300

Slot = tuple[str, int]  # (key, window_start): what identifies a bucket in storage
Plan = dict[Slot, tuple[BucketKey, Decimal]]  # the new value of every bucket the call touches


def slot_of(bucket: BucketKey) -> Slot:
    return (bucket.key, bucket.window_start)


def expires_at(bucket: BucketKey, grace_seconds: int) -> int:
    """When a bucket may be deleted: its window's end (a sliding slice: when it has left the
    sliding window) plus the grace period."""
    return bucket.window_start + bucket.window_seconds * (bucket.history + 1) + grace_seconds


def earlier_starts(bucket: BucketKey) -> range:
    """The starts of the slices before a sliding bucket that count towards its value."""
    size = bucket.window_seconds
    return range(bucket.window_start - bucket.history * size, bucket.window_start, size)


def plan_reservation(
    items: Sequence[ReserveItem],
    read: Callable[[Slot], Decimal | None],
    earlier: Callable[[BucketKey], Decimal] | None = None,
) -> Plan | ReserveResult:
    """Check every item in order; return the values to write, or the first failure.

    `read` gives a bucket's stored value, None if it has none (read as zero); it is called at
    most once per distinct bucket. `earlier` gives the sum of the slices before a sliding bucket
    (`history` > 0); the check sees that sum plus the slice. Items naming the same bucket see
    each other's amounts, exactly as if applied one by one.
    """
    plan: Plan = {}
    past: dict[Slot, Decimal] = {}
    exact_add = EXACT.add  # inlined rather than add(): this loop is the memory store's hot path
    for index, item in enumerate(items):
        bucket = item.bucket
        slot = (bucket.key, bucket.window_start)
        staged = plan.get(slot)
        if staged is None:
            current = read(slot)
            if current is None:
                current = ZERO
        else:
            current = staged[1]
        try:
            after = exact_add(current, item.amount)
        except ArithmeticError as exc:  # sNaN, or a sum beyond Decimal's range
            raise StoreError(f"counter value out of range: {current} + {item.amount}") from exc
        if not after.is_finite():  # a NaN or infinite amount
            raise StoreError(f"counter amounts must be finite, got {item.amount}")
        limit = item.limit
        if limit is not None:
            seen = after if item.check_after else current
            if bucket.history:
                before = past.get(slot)
                if before is None:
                    if earlier is None:
                        raise StoreError("this store cannot read sliding windows")
                    before = past[slot] = earlier(bucket)
                seen = add(seen, before)
                if not (seen <= limit if item.inclusive else seen < limit):
                    return ReserveResult(False, index, add(current, before))
            elif not (seen <= limit if item.inclusive else seen < limit):
                return ReserveResult(ok=False, failed_index=index, current=current)
        plan[slot] = (bucket, after)
    return plan


def plan_rollback(items: Sequence[ReserveItem], read: Callable[[Slot], Decimal | None]) -> Plan:
    """Subtract each item's amount from its bucket; buckets that no longer exist are skipped.

    A missing bucket has expired (its window ended long ago), so nobody will read it again and
    recreating it with a negative value would only leave garbage behind.
    """
    plan: Plan = {}
    for item in items:
        slot = (item.bucket.key, item.bucket.window_start)
        staged = plan.get(slot)
        current = read(slot) if staged is None else staged[1]
        if current is None:
            continue
        plan[slot] = (item.bucket, subtract(current, item.amount))
    return plan


def add(current: Decimal, amount: Decimal) -> Decimal:
    if not amount.is_finite():
        raise StoreError(f"counter amounts must be finite, got {amount}")
    try:
        return EXACT.add(current, amount)
    except (Inexact, DecimalOverflow) as exc:
        raise StoreError(f"counter value out of range: {current} + {amount}") from exc


def subtract(current: Decimal, amount: Decimal) -> Decimal:
    # Not `add(current, -amount)`: unary minus rounds under the thread's ambient context.
    if not amount.is_finite():
        raise StoreError(f"counter amounts must be finite, got {amount}")
    try:
        return EXACT.subtract(current, amount)
    except (Inexact, DecimalOverflow) as exc:
        raise StoreError(f"counter value out of range: {current} - {amount}") from exc


def parse_value(text: str, where: str) -> Decimal:
    """Decode a stored value; anything but a finite decimal literal is corruption."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise StoreError(f"{where}: stored counter value {text!r} is not a decimal") from exc
    if not value.is_finite():
        raise StoreError(f"{where}: stored counter value {text!r} is not finite")
    return value
