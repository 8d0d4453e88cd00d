"""`toolgate audit query|tail --db`: the SQLite sink answers with the same filters and outputs
as the JSON-lines log holding the same events; and end to end after `toolgate run`."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import orjson
import pytest
from tests.audit.chain_support import body, write_log
from tests.e2e.support import WAIT, raw_client, stub_server, toolgate
from typer.testing import CliRunner

from toolgate.audit.sqlite_sink import SqliteAuditSink, row_of
from toolgate.cli.main import app

runner = CliRunner()

SAME_ANSWERS = [
    ["--denied", "--format", "json"],
    ["--tool", "echo", "--identity", "alice", "--format", "csv"],
    ["--since", "2026-11-20T14:10Z", "--until", "2026-11-20T14:30Z"],
    ["--outcome", "allowed", "--count-by", "identity", "--format", "json"],
    ["--count-by", "rule"],
    ["--count-by", "tool", "--format", "csv", "--denied"],
]


@pytest.fixture
def both(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 40)
    db = tmp_path / "audit.db"
    sink = SqliteAuditSink(db)
    sink.write_many([row_of(body(index)) for index in range(1, 41)])
    anyio.run(sink.aclose)
    return log, db


@pytest.mark.parametrize("args", SAME_ANSWERS, ids=" ".join)
def test_query_over_sqlite_matches_query_over_the_jsonl_log(
    both: tuple[Path, Path], args: list[str]
) -> None:
    log, db = both
    from_log = runner.invoke(app, ["audit", "query", "--audit-log", str(log), *args])
    from_db = runner.invoke(app, ["audit", "query", "--db", str(db), *args])
    assert from_log.exit_code == from_db.exit_code == 0, from_db.output

    def strip_chain(text: str) -> str:  # the JSONL lines carry their chain link
        if not text.lstrip().startswith("["):
            return text
        return orjson.dumps([
            {k: v for k, v in item.items() if k != "prev"} for item in orjson.loads(text)
        ]).decode()  # fmt: skip

    assert strip_chain(from_db.output) == strip_chain(from_log.output)


def test_tail_over_sqlite_shows_the_last_matching_events(both: tuple[Path, Path]) -> None:
    _, db = both
    result = runner.invoke(app, ["audit", "tail", "--db", str(db), "--denied", "-n", "2", "--json"])
    assert result.exit_code == 0, result.output
    ids = [orjson.loads(line)["decision_id"] for line in result.output.splitlines()]
    assert ids == ["dec_36", "dec_39"]


def test_following_sqlite_prints_events_written_after_it_started(
    both: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, db = both
    writes = iter([[41, 42], [43]])

    def sleep(_: float) -> None:  # each poll finds the rows another process appended meanwhile
        sink = SqliteAuditSink(db)
        sink.write_many([row_of(body(index)) for index in next(writes, [])])
        anyio.run(sink.aclose)

    monkeypatch.setattr("toolgate.cli.audit_tail.time.sleep", sleep)
    args = ["audit", "tail", "--db", str(db), "-f", "-n", "1", "--json", "--polls", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    ids = [orjson.loads(line)["decision_id"] for line in result.output.splitlines()]
    assert ids == ["dec_40", "dec_41", "dec_42", "dec_43"]


def test_a_missing_or_foreign_database_is_a_clear_error(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["audit", "query", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 1 and "no audit database at" in missing.output
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"hello")
    refused = runner.invoke(app, ["audit", "query", "--db", str(junk)])
    assert refused.exit_code == 1 and "not an SQLite database" in refused.output
    assert junk.read_bytes() == b"hello"


def test_run_refuses_stdout_as_an_audit_sink(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text('version: "1"\ndefault: allow\n')
    args = ["run", "-c", str(policy), "--audit-sink", "stdout", "--", "true"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "MCP channel" in result.output


POLICY = """
version: "1"
default: allow
tools:
  echo:
    rules:
      - name: short messages
        conditions: [{path: args.message, op: len_lte, value: 5}]
"""


@pytest.mark.anyio
@pytest.mark.e2e
async def test_a_run_with_jsonl_and_sqlite_sinks_is_queryable_from_the_database(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    db = home / "audit.db"
    sinks = ["--audit-sink", "jsonl", "--audit-sink", f"sqlite:{db}"]
    async with raw_client(toolgate(policy, stub_server(), home, *sinks)) as client:
        await client.initialize()
        for msg_id, message in enumerate(["hi", "far too long", "ok", "much too long"], 1):
            arguments = {"message": message}
            await client.request(msg_id, "tools/call", {"name": "echo", "arguments": arguments})
    query = [sys.executable, "-m", "toolgate", "audit", "query", "--format", "json"]
    denied = [*query, "--db", str(db), "--denied", "--tool", "echo", "--since", "1h"]
    with anyio.fail_after(WAIT):
        answer = await anyio.run_process(denied)
    events = orjson.loads(answer.stdout)
    assert [e["outcome"] for e in events] == ["denied", "denied"]
    assert all(e["rule_name"] == "short messages" for e in events)
    from_log = [*query, "--audit-log", str(home / "audit.jsonl"), "--denied", "--tool", "echo"]
    with anyio.fail_after(WAIT):
        logged = await anyio.run_process(from_log)
    assert [e["decision_id"] for e in orjson.loads(logged.stdout)] == [
        e["decision_id"] for e in events
    ]
