"""Reading the log back: filters, times, following, and garbage reported by file and line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.audit.chain_support import body, write_log

from toolgate.audit.reader import Filters, Garbage, Record, parse_when, read_records
from toolgate.audit.reader_follow import follow
from toolgate.audit.reader_render import count_by, csv_text

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def records(path: Path) -> list[Record]:
    return [item for item in read_records([path]) if isinstance(item, Record)]


def test_filters_select_by_outcome_tool_identity_and_time(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 12)
    everything = records(log)
    denied = [r.data["decision_id"] for r in everything if Filters(denied=True).match(r.data)]
    assert denied == ["dec_3", "dec_6", "dec_9", "dec_12"]
    alice = Filters(identity="alice", tool="withdraw")
    assert [r.data["decision_id"] for r in everything if alice.match(r.data)] == ["dec_3", "dec_9"]
    window = Filters(
        since=datetime(2026, 11, 20, 14, 2, tzinfo=UTC),
        until=datetime(2026, 11, 20, 14, 4, tzinfo=UTC),
    )
    assert [r.data["decision_id"] for r in everything if window.match(r.data)] == [
        "dec_2",
        "dec_3",
    ]


def test_times_are_read_as_iso_clock_relative_or_named_days() -> None:
    assert parse_when("2026-11-20T14:00:00Z", NOW) == datetime(2026, 11, 20, 14, tzinfo=UTC)
    assert parse_when("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_when("30m", NOW) == NOW - timedelta(minutes=30)
    yesterday = parse_when("yesterday", NOW)
    assert parse_when("today", NOW) - yesterday == timedelta(days=1)
    assert parse_when("14:00", NOW).astimezone().hour == 14
    naive = parse_when("2026-11-20T14:00", NOW)
    assert naive.tzinfo is not None and naive.astimezone().hour == 14


def test_garbage_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(body(1) + b"\nnot json\n[1,2]\n" + body(2) + b"\n" + b'{"partial')
    items = list(read_records([log]))
    garbage = [item for item in items if isinstance(item, Garbage)]
    assert [(g.line, g.reason) for g in garbage] == [
        (2, "not a JSON line"),
        (3, "not a JSON object"),
    ]
    assert garbage[0].render() == f"{log}:2: not a JSON line (skipped)"
    assert len(records(log)) == 2  # the unterminated last line waits for its newline


def test_counts_and_csv_cover_every_selected_record(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 6)
    selected = records(log)
    assert count_by(selected, "outcome") == [("allowed", 4), ("denied", 2)]
    assert count_by(selected, "rule") == [("-", 4), ("tools.withdraw.rules[0]", 2)]
    text = csv_text(selected).splitlines()
    assert text[0].startswith("ts,decision_id") and len(text) == 7


def test_follow_yields_lines_appended_later_and_continues_after_rotation(
    tmp_path: Path,
) -> None:
    log = tmp_path / "decisions.jsonl"
    sink = write_log(log, 2)
    steps = iter(
        [
            lambda: sink.append(body(3)),
            lambda: (log.rename(tmp_path / "old.jsonl"), write_log(log, 1, start=4)),
        ]
    )

    def wait() -> bool:
        step = next(steps, None)
        if step is None:
            return False
        step()
        return True

    seen = [item.data["decision_id"] for item in follow(log, 0, 0, wait)]
    assert seen == ["dec_1", "dec_2", "dec_3", "dec_4"]
