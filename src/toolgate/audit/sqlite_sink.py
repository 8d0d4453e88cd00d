"""SqliteAuditSink: every audit event as one row of an indexed SQLite table (WAL mode).

Durability and blocking: each event is inserted and committed on the event loop as it is
emitted, on a connection that never waits for a lock (busy timeout 0); with WAL and
`synchronous=NORMAL` a commit is a page-cache write (measured in docs/benchmarks.md), plus,
once per 1000 WAL pages, a passive checkpoint (a few ms). When another process holds the write
lock, the event goes to a bounded in-memory queue instead (`QUEUE_LIMIT`), written in one
transaction with the next event that finds the file free, or at close (which waits up to
`close_timeout` seconds). Events beyond the limit are dropped and counted (`dropped`). So a
killed process may lose the queued events (only while another writer held the lock), and a
power loss the last commits; nothing is fsynced on the relay path.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from toolgate.audit.reader import event_time
from toolgate.audit.sink import AuditRecord
from toolgate.audit.sqlite_schema import open_for_writing

log = logging.getLogger("toolgate.audit")

QUEUE_LIMIT: Final = 10_000
INSERT: Final = (
    "INSERT INTO events (ts, type, decision_id, tool, identity, outcome, rule, session, line) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS: Final = ("type", "decision_id", "tool", "identity", "outcome", "rule", "session")

Row = tuple[Any, ...]


def ts_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def row_of(body: bytes) -> Row:
    """The row for one event's JSON object: indexed columns (text values only) and the line."""
    data = orjson.loads(body)
    if not isinstance(data, dict):
        data = {}
    moment = event_time(data)
    columns = [data.get(name) for name in _COLUMNS]
    return (
        None if moment is None else ts_micros(moment),
        *(value if isinstance(value, str) else None for value in columns),
        body.decode(),
    )


class SqliteAuditSink:
    """An AuditSink writing one row per event to the audit database at `path` (created)."""

    def __init__(
        self, path: Path, *, queue_limit: int = QUEUE_LIMIT, close_timeout: float = 5.0
    ) -> None:
        self.path = path
        self._conn = open_for_writing(path)
        self._queue: deque[Row] = deque()
        self._limit = queue_limit
        self._close_timeout = close_timeout
        self.dropped = 0
        self._closed = False

    async def emit(self, event: AuditRecord) -> None:
        self.write(row_of(event.to_json()))

    def write(self, row: Row) -> None:
        """Insert `row` now, or queue it while another process holds the write lock."""
        if self._queue:
            self._flush()
            if self._queue:  # still locked: this one waits behind the others
                self._enqueue(row)
                return
        try:
            self._conn.execute(INSERT, row)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise OSError(f"audit database {self.path}: {exc}") from exc
            self._enqueue(row)

    def write_many(self, rows: list[Row]) -> None:
        """Insert many rows in one transaction (bulk loads and the benchmark)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(INSERT, rows)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def analyze(self) -> None:
        """Gather index statistics so the planner picks the most selective index."""
        self._conn.execute("ANALYZE")

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _enqueue(self, row: Row) -> None:
        if len(self._queue) >= self._limit:
            self.dropped += 1
            return
        self._queue.append(row)

    def _flush(self) -> None:
        rows = list(self._queue)
        try:
            self.write_many(rows)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise OSError(f"audit database {self.path}: {exc}") from exc
            return  # still locked: keep them for the next event
        self._queue.clear()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._queue:
                self._conn.execute(f"PRAGMA busy_timeout={int(self._close_timeout * 1000)}")
                self._flush()
            self._conn.execute("PRAGMA optimize")  # cheap; refreshes statistics when stale
        finally:
            if self._queue or self.dropped:
                log.error(
                    "audit database %s: %d events dropped, %d not written at close",
                    self.path,
                    self.dropped,
                    len(self._queue),
                )
            self._conn.close()


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
