"""SqliteCounterStore: the default store; windowed counters in one SQLite file shared by processes.

Every reservation is ONE `BEGIN IMMEDIATE` transaction: read the buckets, check every bound in
Python (exact Decimals, stored as TEXT), write all or nothing, commit. `BEGIN IMMEDIATE` takes
the file's write lock before reading, so two processes can never both admit the last unit.

Blocking: the protocol methods are `async`, but the transaction runs inline on the event loop
on a connection that never waits for a lock (busy timeout 0): uncontended it costs tens of µs,
plus, once per 1000 WAL pages, a passive checkpoint (a few ms). Only when another process holds
the write lock does the operation move to a worker thread, on a second connection that waits
up to `busy_timeout` seconds; the loop never sleeps on a lock. A thread hop on every call would
cost more than the transaction itself.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from os import PathLike
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from toolgate.clock import Clock, SystemClock
from toolgate.errors import StoreError
from toolgate.sqlite_files import while_locked
from toolgate.stores.base import BucketKey, ReserveItem, ReserveResult
from toolgate.stores.plan import (
    DEFAULT_GRACE_SECONDS,
    RESERVED,
    ZERO,
    Plan,
    Slot,
    add,
    expires_at,
    parse_value,
    plan_reservation,
    plan_rollback,
)
from toolgate.stores.sqlite_schema import check_file, connect, prepare

SELECT = "SELECT value FROM counters WHERE key = ? AND window_start = ?"
SELECT_EARLIER = (
    "SELECT value FROM counters WHERE key = ? AND window_start >= ? AND window_start < ?"
)
UPSERT = (
    "INSERT INTO counters (key, window_start, expires_at, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key, window_start) DO UPDATE SET value = excluded.value"
)
SWEEP = (
    "DELETE FROM counters WHERE (key, window_start) IN "
    "(SELECT key, window_start FROM counters WHERE expires_at <= ? LIMIT ?)"
)
SWEEP_BATCH = 256  # expired rows deleted per sweep: bounds the time one sweep holds the loop

T = TypeVar("T")
A = TypeVar("A")


class _BusyError(Exception):
    """Another connection holds the write lock (SQLITE_BUSY / SQLITE_LOCKED)."""


class SqliteCounterStore:
    """A CounterStore in an SQLite file (WAL mode); the file is created with its parents."""

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        clock: Clock | None = None,
        grace_seconds: int = DEFAULT_GRACE_SECONDS,
        busy_timeout: float = 5.0,
        sweep_interval: float = 60.0,
    ) -> None:
        self._path = Path(path).expanduser()
        self._clock: Clock = clock or SystemClock()
        self._grace = grace_seconds
        self._busy_timeout = busy_timeout
        self._sweep_interval = sweep_interval
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"counter store {self._path}: cannot create its directory") from exc
        check_file(self._path)
        self._waiting = self._open(busy_timeout, prepare_schema=True)
        try:
            self._fast = self._open(0.0)
        except BaseException:
            self._waiting.close()
            raise
        self._lock = anyio.Lock(fast_acquire=True)  # guards the waiting connection
        self._closed = False
        self._next_sweep = -math.inf

    @property
    def path(self) -> Path:
        return self._path

    async def reserve(self, items: Sequence[ReserveItem]) -> ReserveResult:
        if not items:
            self._check_open()
            return RESERVED
        self._maybe_sweep()
        return await self._run(self._reserve_on, items)

    async def rollback(self, items: Sequence[ReserveItem]) -> None:
        if items:
            await self._run(self._rollback_on, items)

    async def get(self, buckets: Sequence[BucketKey]) -> list[Decimal]:
        return await self._run(self._get_on, buckets)

    async def health(self) -> bool:
        if self._closed:
            return False
        try:
            self._fast.execute("SELECT 1 FROM counters LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            async with self._lock:  # an off-loop operation finishes with its connection first
                self._fast.close()
                self._waiting.close()

    async def _run(self, op: Callable[[sqlite3.Connection, A], T], arg: A) -> T:
        self._check_open()
        if not self._lock.locked():
            try:
                return op(self._fast, arg)
            except _BusyError:
                pass  # another process is writing: wait for it off the loop
        async with self._lock:
            self._check_open()
            try:
                return await anyio.to_thread.run_sync(op, self._waiting, arg)
            except _BusyError:
                raise StoreError(
                    f"counter store {self._path} stayed locked by another process "
                    f"for more than {self._busy_timeout}s"
                ) from None

    def _reserve_on(self, conn: sqlite3.Connection, items: Sequence[ReserveItem]) -> ReserveResult:
        with self._transaction(conn, "BEGIN IMMEDIATE"):
            outcome = plan_reservation(
                items, lambda slot: self._read(conn, slot), lambda b: self._earlier(conn, b)
            )
            if isinstance(outcome, ReserveResult):
                return outcome  # nothing written: the commit is free
            self._write(conn, outcome)
        return RESERVED

    def _rollback_on(self, conn: sqlite3.Connection, items: Sequence[ReserveItem]) -> None:
        with self._transaction(conn, "BEGIN IMMEDIATE"):
            self._write(conn, plan_rollback(items, lambda slot: self._read(conn, slot)))

    def _get_on(self, conn: sqlite3.Connection, buckets: Sequence[BucketKey]) -> list[Decimal]:
        with self._transaction(conn, "BEGIN"):  # one snapshot for all buckets
            values = [self._value(conn, b) for b in buckets]
        return values

    def _value(self, conn: sqlite3.Connection, bucket: BucketKey) -> Decimal:
        value = self._read(conn, (bucket.key, bucket.window_start))
        value = ZERO if value is None else value
        return add(value, self._earlier(conn, bucket)) if bucket.history else value

    def _earlier(self, conn: sqlite3.Connection, bucket: BucketKey) -> Decimal:
        """The sum of the slices before a sliding bucket, in one range query."""
        first = bucket.window_start - bucket.history * bucket.window_seconds
        rows = conn.execute(SELECT_EARLIER, (bucket.key, first, bucket.window_start))
        where = f"counter store {self._path}"
        total = ZERO
        for (text,) in rows:
            total = add(total, parse_value(text, where))
        return total

    def _read(self, conn: sqlite3.Connection, slot: Slot) -> Decimal | None:
        row = conn.execute(SELECT, slot).fetchone()
        return None if row is None else parse_value(row[0], f"counter store {self._path}")

    def _write(self, conn: sqlite3.Connection, plan: Plan) -> None:
        grace = self._grace
        conn.executemany(
            UPSERT,
            [(k, s, expires_at(b, grace), str(v)) for (k, s), (b, v) in plan.items()],
        )

    def _maybe_sweep(self) -> None:
        """Delete a bounded batch of expired buckets, at most once per sweep interval."""
        now = self._clock.now()
        if now < self._next_sweep or self._lock.locked():
            return
        try:
            with self._transaction(self._fast, "BEGIN IMMEDIATE"):
                deleted = self._fast.execute(SWEEP, (int(now), SWEEP_BATCH)).rowcount
        except _BusyError:
            return  # someone else is writing; sweep on a later call
        # A full batch means a backlog: keep sweeping on the next calls until it drains.
        self._next_sweep = now if deleted >= SWEEP_BATCH else now + self._sweep_interval

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection, begin: str) -> Iterator[None]:
        try:
            conn.execute(begin)
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if _is_busy(exc):
                raise _BusyError from exc
            raise StoreError(f"counter store {self._path}: {exc}") from exc

    def _open(self, busy_timeout: float, *, prepare_schema: bool = False) -> sqlite3.Connection:
        try:
            conn = connect(self._path, busy_timeout)
        except sqlite3.Error as exc:
            raise StoreError(f"counter store {self._path} cannot be opened: {exc}") from exc
        try:
            if prepare_schema:
                while_locked(lambda: prepare(conn, self._path))
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"counter store {self._path} cannot be opened: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"counter store {self._path} is closed")


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
