"""Reading the audit database back with the same filters as the JSON-lines reader, in SQL that
the indexes answer: a time range is `ts` (integer µs), identity/tool/outcome use their
`(column, ts)` index. Results are `Record`s (file = the database, line = the row id)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from toolgate.audit.reader import Filters, Garbage, Record, parse_line
from toolgate.audit.sqlite_schema import open_for_reading
from toolgate.audit.sqlite_sink import ts_micros
from toolgate.errors import ConfigError

COUNTABLE: Final = ("rule", "tool", "identity", "outcome")


def where(filters: Filters, after_id: int = 0, upto: int | None = None) -> tuple[str, list[Any]]:
    """The WHERE clause (with its parameters) selecting what `filters.match` accepts."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.denied:
        clauses.append("outcome = 'denied'")
    for column, value in (
        ("outcome", filters.outcome),
        ("tool", filters.tool),
        ("identity", filters.identity),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if filters.since is not None:
        clauses.append("ts >= ?")
        params.append(ts_micros(filters.since))
    if filters.until is not None:
        clauses.append("ts < ?")
        params.append(ts_micros(filters.until))
    if after_id:
        clauses.append("id > ?")
        params.append(after_id)
    if upto is not None:
        clauses.append("id <= ?")
        params.append(upto)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class AuditDatabase:
    """A read-only view of one audit database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = open_for_reading(path)

    def close(self) -> None:
        self._conn.close()

    def _run(self, sql: str, params: list[Any]) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise ConfigError(f"audit database {self.path} cannot be read: {exc}") from None

    def records(
        self,
        filters: Filters,
        *,
        after_id: int = 0,
        upto: int | None = None,
        last: int | None = None,
    ) -> Iterator[Record | Garbage]:
        """Matching events with `after_id < id <= upto`, in the order they were written; only
        the `last` n when given."""
        clause, params = where(filters, after_id, upto)
        if last is None:
            sql = f"SELECT id, line FROM events{clause} ORDER BY id"  # noqa: S608 - fixed text
            rows = self._run(sql, params)
        else:
            sql = f"SELECT id, line FROM events{clause} ORDER BY id DESC LIMIT ?"  # noqa: S608
            rows = self._run(sql, [*params, max(last, 0)])[::-1]
        for row_id, line in rows:
            yield parse_line(self.path, int(row_id), str(line).encode())

    def last_id(self) -> int:
        row = self._run("SELECT max(id) FROM events", [])
        return int(row[0][0] or 0)

    def count_by(self, filters: Filters, field: str) -> list[tuple[str, int]]:
        """How many matching events per value of `field` (`-` when absent), most first."""
        if field not in COUNTABLE:
            raise ConfigError(f"cannot count by {field!r}")
        clause, params = where(filters)
        sql = f"SELECT {field}, count(*) FROM events{clause} GROUP BY {field}"  # noqa: S608
        counts = [("-" if key is None else str(key), int(n)) for key, n in self._run(sql, params)]
        return sorted(counts, key=lambda item: (-item[1], item[0]))

    def plan(self, filters: Filters) -> str:
        """SQLite's query plan for selecting `filters` (tests and --explain)."""
        clause, params = where(filters)
        sql = f"EXPLAIN QUERY PLAN SELECT id, line FROM events{clause}"  # noqa: S608
        rows = self._run(sql, params)
        return "\n".join(str(row[-1]) for row in rows)
