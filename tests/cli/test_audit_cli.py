"""`toolgate audit verify|tail|query` from the command line."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from tests.audit.chain_support import body, lines_of, rewrite, write_log
from typer.testing import CliRunner

from toolgate.audit.rotation import RotationPolicy
from toolgate.cli.main import app

runner = CliRunner()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "audit" / "decisions.jsonl"
    write_log(path, 12, rotation=RotationPolicy(max_bytes=4096))
    return path


def test_verify_reports_an_intact_chain_across_rotated_files(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    write_log(path, 40, rotation=RotationPolicy(max_bytes=4096))
    result = runner.invoke(app, ["audit", "verify", "--audit-log", str(path)])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"ok: 40 events in [2-9] files, chain intact", result.output.strip())


def test_verify_defaults_to_the_log_in_toolgate_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLGATE_HOME", str(tmp_path))
    write_log(tmp_path / "audit" / "decisions.jsonl", 2)
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0 and "ok: 2 events in 1 files" in result.output


def test_verify_names_the_file_line_and_event_of_a_tampered_line(log: Path) -> None:
    lines = lines_of(log)
    del lines[1]
    rewrite(log, lines)
    result = runner.invoke(app, ["audit", "verify", str(log)])
    assert result.exit_code == 1
    assert f"{log}:2: link broken" in result.output
    assert "FAILED: 1 problems" in result.output


def test_verify_with_the_wrong_key_fails(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    write_log(path, 3, key=b"right")
    key_file = tmp_path / "key"
    key_file.write_text("wrong")
    result = runner.invoke(app, ["audit", "verify", str(path), "--key-file", str(key_file)])
    assert result.exit_code == 1 and "link broken" in result.output


def test_verify_without_a_log_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "verify", "--audit-log", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 1 and "no decision log" in result.output


def test_tail_shows_the_last_denied_calls_as_a_table(log: Path) -> None:
    result = runner.invoke(app, ["audit", "tail", "--audit-log", str(log), "--denied", "-n", "2"])
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()
    assert rows[0].startswith("ts") and len(rows) == 3
    assert "denied" in rows[1] and "cap reached" in rows[2]


def test_tail_follow_with_a_bounded_run_prints_json_lines(log: Path) -> None:
    args = ["audit", "tail", "-f", "--json", "--tool", "echo", "--audit-log", str(log)]
    result = runner.invoke(app, [*args, "--polls", "0"])
    assert result.exit_code == 0, result.output
    ids = [orjson.loads(line)["decision_id"] for line in result.output.splitlines()]
    assert ids == ["dec_1", "dec_2", "dec_4", "dec_5", "dec_7", "dec_8", "dec_10", "dec_11"]


def test_query_answers_what_happened_for_an_identity_in_a_window(log: Path) -> None:
    args = ["audit", "query", "--audit-log", str(log), "--identity", "alice"]
    window = ["--since", "2026-11-20T14:02:00Z", "--until", "2026-11-20T14:08:00Z"]
    result = runner.invoke(app, [*args, *window, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [r["decision_id"] for r in orjson.loads(result.output)] == ["dec_3", "dec_5", "dec_7"]


def test_query_counts_by_rule_in_each_format(log: Path) -> None:
    base = ["audit", "query", "--audit-log", str(log), "--count-by", "outcome"]
    table = runner.invoke(app, base)
    assert table.exit_code == 0 and "allowed  8" in table.output
    as_json = runner.invoke(app, [*base, "--format", "json"])
    assert orjson.loads(as_json.output) == {"allowed": 8, "denied": 4}
    as_csv = runner.invoke(app, [*base, "--format", "csv"])
    assert as_csv.output.splitlines() == ["outcome,count", "allowed,8", "denied,4"]


def test_query_exports_csv_and_a_table_with_a_total(log: Path) -> None:
    csv_out = runner.invoke(app, ["audit", "query", str(log), "--format", "csv", "--denied"])
    assert csv_out.exit_code == 0 and len(csv_out.output.splitlines()) == 1 + 4
    table = runner.invoke(app, ["audit", "query", "--audit-log", str(log)])
    assert table.output.splitlines()[-1] == "12 events"


def test_garbage_lines_are_reported_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    path.write_bytes(b"\x00\xffgarbage\n" + body(1) + b"\n")
    result = runner.invoke(app, ["audit", "query", str(path), "--format", "json"])
    assert result.exit_code == 0 and result.exception is None
    assert f"{path}:1: not a JSON line (skipped)" in result.output


def test_an_unreadable_time_is_a_usage_error(log: Path) -> None:
    result = runner.invoke(app, ["audit", "query", "--audit-log", str(log), "--since", "soon"])
    assert result.exit_code == 2 and "--since" in result.output
