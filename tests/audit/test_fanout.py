"""Several sinks at once: each receives every event, a failing one never stops the others,
and `--audit-sink` specs are read strictly (stdout, the MCP channel, is refused)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.audit.chain_support import body

from toolgate.audit.fanout import (
    FanoutAuditSink,
    SinkSpec,
    StderrAuditSink,
    open_sinks,
    parse_sink_spec,
)
from toolgate.audit.reader import Filters, Record
from toolgate.audit.sink import AuditRecord, JsonlAuditSink
from toolgate.audit.sqlite_query import AuditDatabase
from toolgate.errors import ConfigError

pytestmark = pytest.mark.anyio


def datas(db: AuditDatabase, filters: Filters, **options: int) -> list[dict[str, Any]]:
    return [r.data for r in db.records(filters, **options) if isinstance(r, Record)]


class Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def to_json(self) -> bytes:
        return self.data


class Broken:
    closed = False

    async def emit(self, event: AuditRecord) -> None:
        raise RuntimeError("disk on fire")

    async def aclose(self) -> None:
        raise OSError("still on fire")


async def test_a_failing_sink_is_logged_and_the_others_still_get_every_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "audit.jsonl"
    fanout = open_sinks(
        [SinkSpec("jsonl"), SinkSpec("sqlite", tmp_path / "audit.db")], default_log=log
    )
    assert isinstance(fanout, FanoutAuditSink)
    both = FanoutAuditSink([("broken", Broken()), ("rest", fanout)])
    with caplog.at_level(logging.ERROR, logger="toolgate.audit"):
        for index in (1, 2, 3):
            await both.emit(Raw(body(index)))
        await both.aclose()
    assert both.failures == {"broken": 3, "rest": 0}
    assert "audit sink broken failed" in caplog.text
    assert "did not close cleanly" in caplog.text
    assert len(log.read_bytes().splitlines()) == 3
    db = AuditDatabase(tmp_path / "audit.db")
    assert [d["decision_id"] for d in datas(db, Filters())] == ["dec_1", "dec_2", "dec_3"]
    db.close()


async def test_no_spec_means_the_chained_jsonl_log(tmp_path: Path) -> None:
    sink = open_sinks([], default_log=tmp_path / "audit.jsonl")
    assert isinstance(sink, JsonlAuditSink)
    await sink.aclose()


async def test_the_stderr_sink_writes_one_json_line_per_event(tmp_path: Path) -> None:
    read, write = os.pipe()
    sink = StderrAuditSink(write)
    await sink.emit(Raw(body(1)))
    os.close(write)
    assert orjson.loads(os.read(read, 65536).splitlines()[0])["decision_id"] == "dec_1"
    os.close(read)


def test_sink_specs_are_read_strictly() -> None:
    assert parse_sink_spec("jsonl") == SinkSpec("jsonl")
    assert parse_sink_spec("jsonl:/x/a.jsonl") == SinkSpec("jsonl", Path("/x/a.jsonl"))
    assert parse_sink_spec("sqlite:/x/a.db") == SinkSpec("sqlite", Path("/x/a.db"))
    assert parse_sink_spec("stderr") == SinkSpec("stderr")
    with pytest.raises(ConfigError, match="standard output is the MCP channel"):
        parse_sink_spec("stdout")
    for bad in ("sqlite", "sqlite:", "kafka:x", "stderr:x"):
        with pytest.raises(ConfigError, match="--audit-sink"):
            parse_sink_spec(bad)
