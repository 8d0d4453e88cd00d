"""The decision log: versioned lines, no argument values, a persistent salt."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from toolgate.audit.event import hash_arguments
from toolgate.audit.recorder import AuditRecorder
from toolgate.audit.sink import JsonlAuditSink, load_or_create_salt
from toolgate.clock import FakeClock
from toolgate.errors import ConfigError

pytestmark = pytest.mark.anyio


async def test_each_decision_is_one_versioned_json_line(tmp_path: Path) -> None:
    log = tmp_path / "sub" / "audit.jsonl"
    clock = FakeClock()
    recorder = AuditRecorder(JsonlAuditSink(log), clock)
    event = recorder.begin(
        decision_id="dec_1", session="ses_1", identity=None, method="tools/call", started=0.0
    )
    event.tool, event.arg_keys = "pay", ["amount"]
    await recorder.finish_local(event, "denied", "limit", "tools.pay.rules[0]", "cap")
    forwarded = recorder.begin(
        decision_id="dec_2", session="ses_1", identity=None, method="tools/call", started=0.0
    )
    recorder.forwarded(forwarded)
    await recorder.aclose()  # still open: logged as having had no response
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert [line["decision_id"] for line in lines] == ["dec_1", "dec_2"]
    assert lines[0]["v"] == 1
    assert lines[0]["ts"] == "2026-01-01T00:00:00.000000Z"
    assert (lines[0]["outcome"], lines[0]["rule"], lines[0]["upstream"]) == (
        "denied",
        "tools.pay.rules[0]",
        "not_sent",
    )
    assert lines[1]["upstream"] == "no_response"


def test_the_argument_hash_is_salted_and_independent_of_key_order() -> None:
    one = hash_arguments({"a": 1, "b": "secret"}, b"salt-1")
    assert one == hash_arguments({"b": "secret", "a": 1}, b"salt-1")
    assert one != hash_arguments({"a": 1, "b": "secret"}, b"salt-2")
    assert "secret" not in one


def test_the_salt_is_created_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit-salt"
    first = load_or_create_salt(path)
    assert len(first) == 32
    assert load_or_create_salt(path) == first
    assert path.stat().st_mode & 0o077 == 0


def test_an_unwritable_audit_path_is_a_clear_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot open audit log"):
        JsonlAuditSink(blocker / "audit.jsonl")
