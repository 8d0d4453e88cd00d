"""Gathering status: traffic from decision events, declared counters read from a real store,
pending approvals; every unreadable input becomes a note or a warning, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from toolgate.app import status
from toolgate.app.status import AuditSource
from toolgate.audit.sqlite_sink import SqliteAuditSink
from toolgate.clock import FakeClock
from toolgate.policy import load_policy
from toolgate.policy.decision import Bound, CounterRef
from toolgate.policy.evaluator import evaluate
from toolgate.policy.facts import CallFacts
from toolgate.policy.windows import parse_window
from toolgate.quota.ledger import Ledger, Reservation
from toolgate.stores.approvals import ApprovalRequest
from toolgate.stores.approvals_sqlite import SqliteApprovalStore
from toolgate.stores.memory import MemoryCounterStore
from toolgate.stores.sqlite import SqliteCounterStore

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POLICY = """
version: "1"
tools:
  echo:
    rules:
      - name: per minute
        rate_limit: 3/minute
  order:
    rules:
      - name: per desk
        rate_limit: {max: 2, window: hour, scope: identity}
      - name: orders per day
        conditions: [{path: state.order.placed, op: lte, value: 10}]
        state: {counter: placed, window: day, increment: 2}
      - name: notional
        spend: {amount: args.price, daily: "150.5"}
"""


def decision(minutes_ago: float, outcome: str = "allowed", **fields: Any) -> dict[str, Any]:
    moment = NOW - timedelta(minutes=minutes_ago)
    stamp = moment.isoformat().replace("+00:00", "Z")
    return {"type": "decision", "ts": stamp, "outcome": outcome, **fields}


class Event:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_json(self) -> bytes:
        return orjson.dumps({"v": 1, **self.data})


def test_rates_cover_the_last_1_5_and_15_minutes_whatever_since_says() -> None:
    events = [decision(0.5), decision(3), decision(3.5), decision(10), decision(20)]
    traffic = status.summarize(events, NOW, NOW - timedelta(minutes=2), "x")
    assert traffic.per_minute == {"1m": 1.0, "5m": 0.6, "15m": 0.27}
    assert traffic.decisions == 1  # only the last one is within --since


def test_outcomes_and_top_denials_are_counted_most_frequent_first() -> None:
    events = [
        decision(1, "denied", rule="r2", tool="b"),
        decision(1, "denied", rule="r1", tool="a"),
        decision(1, "denied", rule="r1", tool="a"),
        decision(1, "hidden", rule="(hidden)", tool="c"),
        decision(1, "allowed", tool="a"),
        decision(1, "denied"),  # no rule, no tool
    ]
    traffic = status.summarize(events, NOW, NOW - timedelta(hours=1), "x")
    assert traffic.outcomes == {"denied": 4, "allowed": 1, "hidden": 1}
    assert traffic.denying_rules == [("r1", 2), ("-", 1), ("r2", 1)]
    assert traffic.denying_tools == [("a", 2), ("-", 1), ("b", 1)]


def test_only_the_top_ten_denying_rules_are_kept() -> None:
    events = [decision(1, "denied", rule=f"r{i:02}", tool="t") for i in range(15)]
    traffic = status.summarize(events, NOW, NOW - timedelta(hours=1), "x")
    assert len(traffic.denying_rules) == status.TOP == 10


def test_events_without_a_readable_time_or_from_the_future_are_left_out() -> None:
    events = [{"type": "decision", "ts": "yesterday-ish"}, {"type": "decision"}, decision(-5)]
    traffic = status.summarize(events, NOW, NOW - timedelta(hours=1), "x")
    assert traffic.decisions == 0 and traffic.per_minute["15m"] == 0.0


def test_a_jsonl_log_is_read_with_garbage_reported_and_old_retired_files_skipped(
    tmp_path: Path,
) -> None:
    log = tmp_path / "decisions.jsonl"
    old = tmp_path / "decisions-20251231T000000000000.jsonl"
    old.write_bytes(orjson.dumps(decision(5, "denied")) + b"\n")  # retired before start
    lines = [orjson.dumps(decision(1)), b"\xff not json", orjson.dumps({"type": "startup"})]
    log.write_bytes(b"\n".join(lines) + b"\n" + b'{"torn":')
    found, warnings = status.read_decisions(AuditSource("jsonl", log), NOW - timedelta(hours=1))
    assert [event["outcome"] for event in found] == ["allowed"]
    assert warnings == [f"{log}:2: not a JSON line (skipped)"]


def test_a_missing_log_is_a_warning(tmp_path: Path) -> None:
    source = AuditSource("jsonl", tmp_path / "none.jsonl")
    assert status.read_decisions(source, NOW) == (
        [],
        [f"{tmp_path / 'none.jsonl'}: no decision log here"],
    )


@pytest.mark.anyio
async def test_the_sqlite_audit_database_is_read_and_a_garbage_one_is_a_warning(
    tmp_path: Path,
) -> None:
    db = tmp_path / "audit.db"
    sink = SqliteAuditSink(db)
    for event in (decision(1, "denied", decision_id="d1"), decision(90, decision_id="d0")):
        await sink.emit(Event(event))
    await sink.emit(Event({"type": "startup", "ts": decision(1)["ts"]}))
    await sink.aclose()
    found, warnings = status.read_decisions(AuditSource("sqlite", db), NOW - timedelta(hours=1))
    assert ([e["decision_id"] for e in found], warnings) == (["d1"], [])
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"certainly not sqlite" * 10)
    found, warnings = status.read_decisions(AuditSource("sqlite", junk), NOW)
    assert found == [] and len(warnings) == 1 and str(junk) in warnings[0]


def test_a_decision_in_both_a_log_and_a_database_counts_once_overall(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    other = tmp_path / "b.jsonl"
    log.write_bytes(orjson.dumps(decision(1, decision_id="d1")) + b"\n")
    other.write_bytes(
        orjson.dumps(decision(1, decision_id="d1")) + b"\n"
        + orjson.dumps(decision(1, "denied", decision_id="d2", rule="r")) + b"\n"
    )  # fmt: skip
    sources = [AuditSource("jsonl", log, ("tg_a",)), AuditSource("jsonl", other)]
    overall, each = status.traffic_report(sources, NOW, NOW - timedelta(hours=1))
    assert overall.decisions == 2
    assert [t.decisions for t in each] == [1, 2]
    assert each[0].to_data()["instances"] == ["tg_a"]


def test_every_declared_counter_is_listed_with_its_kind_and_bound(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    declared = status.declared_counters(load_policy(policy))
    rows = [
        (d.ref.owner, d.ref.name, d.kind, d.ref.scope, d.bound.limit if d.bound else None)
        for d in declared
    ]
    assert rows == [
        ("echo", "_rate_minute", "rate_limit", "global", Decimal(3)),
        ("order", "_rate_hour", "rate_limit", "identity", Decimal(2)),
        ("order", "placed", "state", "global", Decimal(10)),
        ("order", "_spend_day", "spend", "global", Decimal("150.5")),
    ]


@pytest.mark.parametrize(
    ("bound", "value", "increment", "left"),
    [
        (Bound(Decimal(3), inclusive=False), Decimal(1), Decimal(1), Decimal(2)),  # rate limit
        (Bound(Decimal(3), inclusive=False), Decimal(7), Decimal(1), Decimal(0)),  # never < 0
        (Bound(Decimal(10), inclusive=True, after=True), Decimal(4), Decimal(2), Decimal(6)),
        (Bound(Decimal(10), inclusive=True), Decimal(10), Decimal(1), Decimal(1)),  # lte before
        (None, Decimal(4), Decimal(1), None),
    ],
)
def test_remaining_is_what_the_bound_still_admits(
    bound: Bound | None, value: Decimal, increment: Decimal, left: Decimal | None
) -> None:
    assert status.remaining(bound, value, increment) == left


async def _charge(
    store: SqliteCounterStore, namespace: str, policy: Path, calls: list[Any]
) -> None:
    """Charge counters as the gateway would: evaluate, then reserve the decision's charges."""
    clock = FakeClock(NOW.timestamp())
    compiled = load_policy(policy)
    ledger = Ledger(store, namespace, clock)
    for tool, arguments, identity in calls:
        facts = CallFacts(tool, arguments, clock.now(), identity=identity)
        decision_ = evaluate(compiled, facts)
        assert isinstance(await ledger.reserve(list(decision_.charges)), Reservation)


@pytest.mark.anyio
async def test_counters_are_read_from_an_sqlite_store_and_identity_buckets_are_listed(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    store = SqliteCounterStore(tmp_path / "counters.sqlite3")
    calls = [
        ("echo", {}, None),
        ("echo", {}, None),
        ("order", {"price": 40}, "alice"),
        ("order", {"price": "0.5"}, "bob"),
        ("order", {"price": 10}, "alice"),
    ]
    await _charge(store, "ns", policy, calls)
    await _charge(store, "other", policy, [("order", {"price": 1}, "carol")])
    rows = await status.counter_rows(
        store, "ns", status.declared_counters(load_policy(policy)), NOW.timestamp()
    )
    await store.aclose()
    shown = {row.declared.ref.name: [b.to_data() for b in row.buckets] for row in rows}
    assert [(b["value"], b["remaining"]) for b in shown["_rate_minute"]] == [("2", "1")]
    assert shown["_rate_minute"][0]["window_start"] == "2026-01-01T12:00:00.000000Z"
    assert shown["_rate_minute"][0]["window_end"] == "2026-01-01T12:01:00.000000Z"
    per_desk = [(b["scope_value"], b["value"], b["remaining"]) for b in shown["_rate_hour"]]
    assert per_desk == [("alice", "2", "0"), ("bob", "1", "1")]  # carol is another namespace
    assert [(b["value"], b["remaining"]) for b in shown["placed"]] == [("6", "4")]
    assert [(b["value"], b["remaining"]) for b in shown["_spend_day"]] == [("50.5", "100.0")]


@pytest.mark.anyio
async def test_a_store_that_cannot_list_its_buckets_says_so(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    declared = status.declared_counters(load_policy(policy))
    rows = await status.counter_rows(MemoryCounterStore(), "ns", declared, NOW.timestamp())
    per_desk = next(row for row in rows if row.declared.ref.name == "_rate_hour")
    assert per_desk.buckets == ()
    assert per_desk.note == "per identity — not enumerable in this store"
    global_rate = next(row for row in rows if row.declared.ref.name == "_rate_minute")
    assert [b.value for b in global_rate.buckets] == [Decimal(0)]


@pytest.mark.anyio
async def test_a_section_notes_a_bad_policy_with_its_location(tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text('version: "1"\ntools:\n  echo:\n    rules:\n      - rate_limit: lots\n')
    section = await status.counter_section(policy, "ns", "memory://", True, (), 0.0)
    assert section.note is not None
    assert section.note.startswith(f"invalid policy: {policy}:5:")
    missing = await status.counter_section(tmp_path / "nope.yaml", "ns", "memory://", True, (), 0)
    assert missing.note is not None and "nope.yaml" in missing.note


@pytest.mark.anyio
async def test_a_section_is_honest_about_what_it_could_not_read(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    masked = await status.counter_section(policy, "ns", "redis://***@host/0", True, (), 0.0)
    assert masked.note == "the store URL is masked in the instance file: give --counter-store"
    no_ns = await status.counter_section(policy, None, "memory://", True, (), 0.0)
    assert no_ns.note == "no namespace: give --namespace or the server command after --"
    absent = tmp_path / "absent.sqlite3"
    unread = await status.counter_section(policy, "ns", f"sqlite:///{absent}", False, (), 0.0)
    assert unread.note == f"no counter store at sqlite:///{absent}: counters read as 0"
    assert not absent.exists()  # looking never creates the store
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("not a database at all, just text" * 20)
    broken = await status.counter_section(policy, "ns", f"sqlite:///{junk}", True, (), 0.0)
    assert broken.note is not None and str(junk) in broken.note


def _request(tool: str) -> ApprovalRequest:
    return ApprovalRequest(
        fingerprint="sha256:" + tool.encode().hex().ljust(64, "0"),
        tool=tool,
        arguments={"path": "/x"},
        rule_id="r-approve",
        rule_name=None,
        policy_revision="rev",
        identity="alice",
        server=None,
        session=None,
        message="needs a human",
        decision_id="dec_1",
        mode="queue",
        timeout_seconds=600.0,
    )


@pytest.mark.anyio
async def test_pending_approvals_are_counted_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite3"
    store = SqliteApprovalStore(path)
    now = NOW.timestamp()
    await store.request(_request("second"), dedupe_seconds=None, now=now - 10)
    await store.request(_request("first"), dedupe_seconds=None, now=now - 100)
    done, _ = await store.request(_request("resolved"), dedupe_seconds=None, now=now - 200)
    await store.resolve(done.id, approve=True, by="bob", reason=None, now=now - 5)
    await store.aclose()
    found = await status.pending_approvals(path, now)
    assert found.pending == 2
    assert [item["tool"] for item in found.oldest] == ["first", "second"]


@pytest.mark.anyio
async def test_a_missing_or_garbage_approvals_store_is_a_clear_line(tmp_path: Path) -> None:
    absent = tmp_path / "approvals.sqlite3"
    missing = await status.pending_approvals(absent, 0.0)
    assert missing.note == f"approvals store not found at {absent}"
    assert not absent.exists()
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("garbage " * 100)
    broken = await status.pending_approvals(junk, 0.0)
    assert broken.pending == 0 and broken.note is not None and str(junk) in broken.note
    unavailable = await status.pending_approvals(None, 0.0)
    assert unavailable.note is not None and unavailable.note.startswith("approvals store not found")


def test_the_window_of_a_sliding_counter_covers_its_slices() -> None:
    ref = CounterRef("t", "c", parse_window("hour", "sliding"))
    start, end = status.window_of(ref, NOW.timestamp() + 30)
    assert end - start == 3600 + 360
    assert start <= NOW.timestamp() + 30 - 3600 < end
