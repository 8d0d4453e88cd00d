"""Rotation by size and by day, retention, and a chain that continues across files."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from tests.audit.chain_support import body, lines_of, rewrite, verify, where, write_log

from toolgate.audit.chain import link_of
from toolgate.audit.rotation import RotationPolicy, log_files, retired_files
from toolgate.audit.sink import JsonlAuditSink

DAY = 86_400.0


def test_size_rotation_keeps_each_file_under_the_limit_and_the_chain_whole(
    tmp_path: Path,
) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 60, rotation=RotationPolicy(max_bytes=4096))
    files = log_files(log)
    assert len(files) > 2 and files[-1] == log
    assert all(path.stat().st_size <= 4096 for path in files)
    first_of_second = orjson.loads(lines_of(files[1])[0])
    assert first_of_second["prev"] == link_of(lines_of(files[0])[-1], None)
    report = verify(log)
    assert report.intact and report.events == 60 and report.files == len(files)


def test_retention_keeps_only_the_newest_retired_files(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 80, rotation=RotationPolicy(max_bytes=4096, keep=2))
    assert len(retired_files(log)) == 2
    report = verify(log)
    assert report.intact
    assert "retired by retention" in report.notes[0]


def test_daily_rotation_retires_yesterdays_file(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    now = [1_800_000_000.0]
    sink = JsonlAuditSink(log, rotation=RotationPolicy(daily=True), now=lambda: now[0])
    sink.append(body(1))
    os.utime(log, (now[0], now[0]))
    sink.append(body(2))
    assert retired_files(log) == []
    now[0] += DAY
    sink.append(body(3))
    assert len(retired_files(log)) == 1
    assert [len(lines_of(p)) for p in log_files(log)] == [2, 1]
    assert verify(log).intact


def test_a_rotation_by_another_writer_is_followed(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    rotating = JsonlAuditSink(log, rotation=RotationPolicy(max_bytes=4096))
    plain = JsonlAuditSink(log)
    for index in range(40):
        (rotating if index % 2 else plain).append(body(index))
    assert len(log_files(log)) > 1
    report = verify(log)
    assert report.intact and report.events == 40


def test_a_line_removed_at_a_rotation_boundary_is_found(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 30, rotation=RotationPolicy(max_bytes=4096))
    first, second = log_files(log)[:2]
    rewrite(first, lines_of(first)[:-1])
    problems = where(verify(log))
    assert len(problems) == 1 and problems[0][:2] == (second.name, 1)


def test_a_missing_middle_file_is_found(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 60, rotation=RotationPolicy(max_bytes=4096))
    files = log_files(log)
    files[1].unlink()
    problems = where(verify(log))
    assert len(problems) == 1 and problems[0][:2] == (files[2].name, 1)
