"""Query time over a large SQLite audit database, and the per-event cost of the SQLite sink.

Inserts EVENTS synthetic decision events (default 1,000,000; executemany in one transaction per
100,000) spread over 7 days, 200 identities, 50 tools, 20 rules, ~10% denied; then times the
typical queries (best of 5): one identity in a one-hour window, counts by rule over one day,
denied calls for one tool (all time). Then emits EMITS events one at a time through
`SqliteAuditSink.emit` into a fresh database and prints p50/p99 per event.

Usage: python bench/bench_audit_query.py [EVENTS] [EMITS]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from toolgate.audit.event import DecisionEvent, timestamp
from toolgate.audit.reader import Filters
from toolgate.audit.sqlite_query import AuditDatabase
from toolgate.audit.sqlite_sink import SqliteAuditSink, row_of

START = datetime(2026, 11, 14, tzinfo=UTC)
SPAN = 7 * 86_400
BATCH = 100_000


def event(rng: random.Random, n: int) -> DecisionEvent:
    denied = rng.random() < 0.1
    rule = rng.randrange(20)
    return DecisionEvent(
        ts=timestamp(START.timestamp() + n * SPAN / EVENTS), decision_id=f"dec_{n:08x}",
        session=f"ses_{n // 500}", identity=f"user{rng.randrange(200)}", method="tools/call",
        tool=f"tool{rng.randrange(50)}", outcome="denied" if denied else "allowed",
        reason="rule" if denied else "", rule=f"tools.t.rules[{rule}]" if denied else None,
        rule_name=f"rule {rule}" if denied else None, message="", arg_keys=["a", "b"],
        args_hash="sha256:" + "ab" * 32, policy_revision="3f2a9c0d1e4b", mode="enforce",
        decision_ms=0.04, upstream="not_sent" if denied else "ok",
        upstream_ms=None if denied else 1.2,
    )  # fmt: skip


def best(run: Callable[[], object], times: int = 5) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(times):
        start = time.perf_counter()
        result = run()
        timings.append((time.perf_counter() - start) * 1000)
    return min(timings), result


async def emit_cost(path: Path, count: int) -> list[float]:
    sink = SqliteAuditSink(path)
    rng = random.Random(2)
    events = [event(rng, n) for n in range(count)]
    samples = []
    for item in events:
        start = time.perf_counter_ns()
        await sink.emit(item)
        samples.append((time.perf_counter_ns() - start) / 1000)
    await sink.aclose()
    return samples


def main() -> None:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.db"
        sink = SqliteAuditSink(path)
        start = time.perf_counter()
        for first in range(0, EVENTS, BATCH):
            rows = [
                row_of(event(rng, n).to_json()) for n in range(first, min(first + BATCH, EVENTS))
            ]
            sink.write_many(rows)
        insert_s = time.perf_counter() - start
        start = time.perf_counter()
        sink.analyze()
        analyze_s = time.perf_counter() - start
        asyncio.run(sink.aclose())
        size_mb = path.stat().st_size / 1e6
        db = AuditDatabase(path)
        noon = START + timedelta(days=3, hours=12)
        queries = {
            "one identity, one hour": Filters(
                identity="user7", since=noon, until=noon + timedelta(hours=1)
            ),
            "denied for one tool (all time)": Filters(denied=True, tool="tool3"),
        }
        print(f"insert {EVENTS:,} events: {insert_s:.1f} s ({EVENTS / insert_s:,.0f}/s), "
              f"file {size_mb:.0f} MB, ANALYZE {analyze_s:.1f} s")  # fmt: skip
        print("| query | rows | best of 5 (ms) | plan |")
        print("|---|---:|---:|---|")
        for name, filters in queries.items():
            ms, found = best(lambda f=filters: list(db.records(f)))  # type: ignore[misc]
            plan = db.plan(filters).replace("\n", "; ")
            print(f"| {name} | {len(found):,} | {ms:.1f} | {plan} |")  # type: ignore[arg-type]
        day = Filters(since=noon, until=noon + timedelta(days=1))
        ms, counts = best(lambda: db.count_by(day, "rule"))
        total = sum(n for _, n in counts)  # type: ignore[attr-defined]
        print(f"| counts by rule, one day | {total:,} | {ms:.1f} | {db.plan(day)} |")
        db.close()
        samples = asyncio.run(emit_cost(Path(tmp) / "emit.db", EMITS))
        q = statistics.quantiles(samples, n=100)
        print(f"emit one event (SqliteAuditSink, {EMITS:,} events): "
              f"p50 {statistics.median(samples):.1f} µs, p99 {q[98]:.1f} µs")  # fmt: skip
        print(orjson.dumps({"events": EVENTS, "insert_s": round(insert_s, 2)}).decode())


EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
EMITS = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000

if __name__ == "__main__":
    main()
