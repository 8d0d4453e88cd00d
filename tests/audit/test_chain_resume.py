"""The chain survives restarts, crashes that tear a line, and several writers at once."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import orjson
from tests.audit.chain_support import body, lines_of, verify, where, write_log

from toolgate.audit.chain import link_of
from toolgate.audit.sink import JsonlAuditSink


def test_a_restarted_writer_continues_the_chain_from_the_last_line(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    anyio.run(write_log(log, 3).aclose)
    write_log(log, 2, start=4)
    lines = lines_of(log)
    assert orjson.loads(lines[3])["prev"] == link_of(lines[2], None)
    assert verify(log).intact


def test_after_a_torn_line_the_chain_continues_from_the_last_complete_line(
    tmp_path: Path,
) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 2)
    with log.open("ab") as handle:  # a crash in the middle of a write
        handle.write(body(3)[:25])
    write_log(log, 2, start=4)
    lines = lines_of(log)
    assert orjson.loads(lines[3])["prev"] == link_of(lines[1], None)
    report = verify(log)
    assert where(report) == [("decisions.jsonl", 3, None)]
    assert "not a JSON event" in report.problems[0].message
    assert report.events == 4


def test_a_file_holding_only_a_torn_fragment_starts_a_new_chain(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(b'{"v":1,"ty')
    write_log(log, 2)
    assert where(verify(log)) == [("decisions.jsonl", 1, None)]


def test_several_writers_on_one_file_keep_one_unbroken_chain(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    writers = [JsonlAuditSink(log) for _ in range(4)]  # separate descriptors, as processes have
    barrier = threading.Barrier(len(writers))

    def burst(sink: JsonlAuditSink, offset: int) -> None:
        barrier.wait(timeout=10)
        for index in range(200):
            sink.append(body(offset + index))

    threads = [
        threading.Thread(target=burst, args=(sink, n * 1000)) for n, sink in enumerate(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    report = verify(log)
    assert report.intact, [p.render() for p in report.problems[:3]]
    assert report.events == 800


def test_a_writer_that_interleaves_with_another_resynchronises(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    first, second = JsonlAuditSink(log), JsonlAuditSink(log)
    for index in range(6):
        (first if index % 2 else second).append(body(index))
    assert verify(log).intact
