"""The decision log's hash chain: every kind of tampering is found and located."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.audit.chain_support import body, lines_of, rewrite, verify, where, write_log

from toolgate.audit.chain import GENESIS, link_of, load_chain_key, seal
from toolgate.errors import ConfigError


def test_each_line_links_to_the_exact_bytes_of_the_line_before(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 3)
    lines = lines_of(log)
    prevs = [orjson.loads(line)["prev"] for line in lines]
    assert prevs == [GENESIS, link_of(lines[0], None), link_of(lines[1], None)]
    assert prevs[1].startswith("sha256:")
    report = verify(log)
    assert report.intact and (report.events, report.files) == (3, 1)


def test_sealing_keeps_the_event_fields_and_appends_prev_last() -> None:
    sealed = orjson.loads(seal(b'{"a":1}', "x"))
    assert list(sealed) == ["a", "prev"]
    assert orjson.loads(seal(b"{}", GENESIS)) == {"prev": GENESIS}


def test_an_edited_event_is_found_at_the_line_after_it(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 5)
    lines = lines_of(log)
    lines[1] = lines[1].replace(b'"outcome":"allowed"', b'"outcome":"denied"')
    rewrite(log, lines)
    assert where(verify(log)) == [("decisions.jsonl", 3, "dec_3")]


def test_a_deleted_event_is_found_where_the_gap_is(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 5)
    lines = lines_of(log)
    del lines[2]
    rewrite(log, lines)
    assert where(verify(log)) == [("decisions.jsonl", 3, "dec_4")]


def test_an_inserted_event_is_found(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 4)
    lines = lines_of(log)
    forged = seal(body(99), orjson.loads(lines[2])["prev"])
    lines.insert(2, forged)
    rewrite(log, lines)
    report = verify(log)
    assert ("decisions.jsonl", 4, "dec_3") in where(report)


def test_reordered_events_are_found(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 5)
    lines = lines_of(log)
    lines[1], lines[2] = lines[2], lines[1]
    rewrite(log, lines)
    assert ("decisions.jsonl", 2, "dec_3") in where(verify(log))


def test_a_truncated_last_line_is_reported_as_torn(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 3)
    data = log.read_bytes()
    log.write_bytes(data[:-20])
    report = verify(log)
    assert not report.intact
    assert report.problems[0].line == 3
    assert "torn last line" in report.problems[0].message


def test_a_chain_restarted_in_the_middle_is_found(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 3)
    lines = lines_of(log)
    lines[2] = seal(body(3), GENESIS)
    rewrite(log, lines)
    assert where(verify(log)) == [("decisions.jsonl", 3, "dec_3")]


def test_a_keyed_chain_verifies_only_with_its_key(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 3, key=b"right")
    assert orjson.loads(lines_of(log)[1])["prev"].startswith("hmac-sha256:")
    assert verify(log, b"right").intact
    wrong = verify(log, b"wrong")
    assert [p.line for p in wrong.problems] == [2, 3]
    keyless = verify(log)
    assert "keyed" in keyless.problems[0].message and len(keyless.problems) == 1


def test_without_the_key_a_recomputed_chain_does_not_pass_as_keyed(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 3, key=b"secret")
    lines = [orjson.loads(line) for line in lines_of(log)]
    forged: list[bytes] = []
    prev = GENESIS
    for record in lines:  # an attacker recomputes every link with plain hashes
        record.pop("prev")
        line = seal(orjson.dumps(record), prev)
        forged.append(line)
        prev = link_of(line, None)
    rewrite(log, forged)
    assert not verify(log, b"secret").intact


def test_the_key_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOOLGATE_AUDIT_KEY", raising=False)
    assert load_chain_key(None) is None
    monkeypatch.setenv("TOOLGATE_AUDIT_KEY", "from-env")
    assert load_chain_key(None) == b"from-env"
    key_file = tmp_path / "key"
    key_file.write_bytes(b"from-file\n")
    assert load_chain_key(key_file) == b"from-file"
    with pytest.raises(ConfigError, match="cannot read audit key file"):
        load_chain_key(tmp_path / "missing")


def test_lines_written_before_chaining_are_counted_not_judged(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(body(1) + b"\n")
    write_log(log, 2, start=2)
    report = verify(log)
    assert report.intact and report.unchained == 1 and report.events == 2
