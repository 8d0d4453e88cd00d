"""The SQLite audit sink: every event kept verbatim with indexed columns, queries answered by
the indexes, foreign or damaged files refused and left untouched, a locked file never blocks."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.audit.chain_support import body

from toolgate.audit.reader import Filters, Record
from toolgate.audit.sqlite_query import AuditDatabase
from toolgate.audit.sqlite_schema import APPLICATION_ID
from toolgate.audit.sqlite_sink import SqliteAuditSink
from toolgate.errors import ConfigError

pytestmark = pytest.mark.anyio


def datas(db: AuditDatabase, filters: Filters, **options: int) -> list[dict[str, Any]]:
    return [r.data for r in db.records(filters, **options) if isinstance(r, Record)]


@dataclass(frozen=True)
class Raw:
    data: bytes

    def to_json(self) -> bytes:
        return self.data


async def fill(path: Path, count: int) -> list[bytes]:
    sink = SqliteAuditSink(path)
    bodies = [body(index) for index in range(1, count + 1)]
    for data in bodies:
        await sink.emit(Raw(data))
    await sink.aclose()
    return bodies


async def test_every_event_comes_back_verbatim_in_the_order_it_was_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sub" / "audit.db"
    bodies = await fill(path, 12)
    db = AuditDatabase(path)
    records = datas(db, Filters())
    db.close()
    assert records == [orjson.loads(b) for b in bodies]
    conn = sqlite3.connect(path)
    row = conn.execute("SELECT ts, type, decision_id, tool, identity, outcome, rule, line "
                       "FROM events WHERE id = 3").fetchone()  # fmt: skip
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    moment = datetime(2026, 11, 20, 14, 3, tzinfo=UTC)
    assert row[0] == int(moment.timestamp()) * 1_000_000
    assert row[1:7] == (
        "decision",
        "dec_3",
        "withdraw",
        "alice",
        "denied",
        "tools.withdraw.rules[0]",
    )
    assert row[7].encode() == bodies[2]


async def test_reopening_appends_to_the_same_table(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    await fill(path, 3)
    await fill(path, 2)
    db = AuditDatabase(path)
    assert len(datas(db, Filters())) == 5
    db.close()


async def test_filters_select_what_the_jsonl_filters_select(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    await fill(path, 40)
    since = datetime(2026, 11, 20, 14, 10, tzinfo=UTC)
    until = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    db = AuditDatabase(path)
    everything = datas(db, Filters())
    for filters in (
        Filters(denied=True),
        Filters(tool="echo", identity="alice"),
        Filters(outcome="allowed", since=since),
        Filters(identity="bob", since=since, until=until),
    ):
        expected = [data for data in everything if filters.match(data)]
        assert datas(db, filters) == expected
    assert [d["decision_id"] for d in datas(db, Filters(), last=2)] == ["dec_39", "dec_40"]
    db.close()


async def test_time_and_identity_queries_use_the_indexes(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    await fill(path, 5)
    since = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    until = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    db = AuditDatabase(path)
    assert "USING INDEX events_by_identity" in db.plan(
        Filters(identity="alice", since=since, until=until)
    )
    assert "USING INDEX events_by_ts" in db.plan(Filters(since=since, until=until))
    assert "USING INDEX events_by_tool" in db.plan(Filters(tool="echo"))
    db.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "content", [b"not a database at all\n", b"SQLite format 3\x00" + b"\xff" * 200]
)
def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "audit.db"
    path.write_bytes(content)
    before = digest(path)
    with pytest.raises(ConfigError, match=r"audit database .*audit\.db"):
        SqliteAuditSink(path)
    with pytest.raises(ConfigError, match="audit database"):
        AuditDatabase(path)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.db"]


def test_another_applications_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(ConfigError, match="another application"):
        SqliteAuditSink(path)
    assert digest(path) == before


async def test_a_locked_file_queues_events_and_writes_them_once_it_is_free(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    sink = SqliteAuditSink(path, queue_limit=2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    for index in (1, 2, 3):
        await sink.emit(Raw(body(index)))
    assert (sink.queued, sink.dropped) == (2, 1)
    other.execute("COMMIT")
    await sink.emit(Raw(body(4)))
    assert sink.queued == 0
    await sink.aclose()
    other.close()
    db = AuditDatabase(path)
    ids = [d["decision_id"] for d in datas(db, Filters())]
    db.close()
    assert ids == ["dec_1", "dec_2", "dec_4"]
