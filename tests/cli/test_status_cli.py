"""`toolgate status`: instances, traffic, counters and approvals as tables or one JSON document;
bad options and a bad policy are refused with a located message, garbage inputs are warnings."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from typer.testing import CliRunner

from toolgate.app import instances as registry
from toolgate.app.instances import Target
from toolgate.audit.event import timestamp
from toolgate.cli.main import app
from toolgate.clock import FakeClock
from toolgate.policy.decision import Bound, Charge, CounterRef
from toolgate.policy.windows import parse_window
from toolgate.quota.ledger import Ledger
from toolgate.stores.sqlite import SqliteCounterStore

POLICY = """
version: "1"
tools:
  echo:
    rules:
      - name: per minute
        rate_limit: 5/minute
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOOLGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TOOLGATE_COUNTER_STORE", raising=False)
    monkeypatch.delenv("TOOLGATE_STATE_DSN", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "home"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["status", *args])


def write_log(path: Path, events: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))


def recent(outcome: str, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC).timestamp()
    return {"type": "decision", "ts": timestamp(now - 5), "outcome": outcome, **fields}


def charge_echo(store_path: Path, namespace: str, times: int) -> None:
    async def charge() -> None:
        store = SqliteCounterStore(store_path)
        ref = CounterRef("echo", "_rate_minute", parse_window("minute"))
        bound = Bound(Decimal(5), inclusive=False)
        ledger = Ledger(store, namespace, FakeClock(datetime.now(UTC).timestamp()))
        for _ in range(times):
            await ledger.reserve([Charge(ref, Decimal(1), bound, "tools.echo.rules[0]")])
        await store.aclose()

    anyio.run(charge)


def test_a_bad_since_is_refused_naming_the_option(home: Path) -> None:
    result = invoke("--since", "last tuesday-ish")
    assert result.exit_code == 2
    assert "--since: cannot read 'last tuesday-ish' as a time" in result.output


def test_a_bad_policy_is_refused_with_its_location(home: Path, tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text('version: "1"\ntools:\n  echo:\n    rules:\n      - rate_limit: lots\n')
    result = invoke("-c", str(policy))
    assert result.exit_code == 2
    assert f"invalid policy: {policy}:5:" in result.output
    missing = invoke("-c", str(tmp_path / "missing.yaml"))
    assert missing.exit_code == 2 and "missing.yaml" in missing.output


def test_an_empty_namespace_and_a_bad_store_url_are_refused(home: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    assert invoke("-c", str(policy), "--namespace", " ").exit_code == 2
    bad = invoke("-c", str(policy), "--namespace", "ns", "--counter-store", "ftp://x")
    assert bad.exit_code == 2 and "unknown scheme 'ftp'" in bad.output


def test_nothing_running_and_no_log_is_still_a_report(home: Path) -> None:
    result = invoke()
    assert result.exit_code == 0, result.output
    assert "instances: none running" in result.output
    assert "no decision log here" in result.output
    assert "approvals store not found" in result.output


def test_the_json_document_holds_instances_traffic_counters_and_approvals(
    home: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    log = tmp_path / "decisions.jsonl"
    store = home / "state" / "counters.sqlite3"
    record = registry.new_record(
        instance="tg_0123456789ab",
        kind="run",
        now=datetime.now(UTC).timestamp(),
        targets=[Target(None, str(policy), "rev", "ns")],
        store_url=f"sqlite:///{store}",
        state_dir=home / "state",
        audit=([str(log)], []),
        command=["server"],
    )
    registry.write_record(home / "state" / "instances", record)
    (home / "state" / "instances" / "tg_garbage.json").write_text("{not json")
    write_log(
        log,
        [
            recent("allowed", tool="echo", decision_id="d1"),
            recent("denied", tool="echo", rule="tools.echo.rules[0]", decision_id="d2"),
            recent("denied", tool="echo", rule="tools.echo.rules[0]", decision_id="d3"),
        ],
    )
    charge_echo(store, "ns", 2)
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    (instance,) = data["instances"]
    assert (instance["instance"], instance["state"], instance["pid"]) == (
        "tg_0123456789ab",
        "running",
        os.getpid(),
    )
    assert any("tg_garbage.json: unreadable instance file" in w for w in data["warnings"])
    overall = data["traffic"]["overall"]
    assert overall["outcomes"] == {"denied": 2, "allowed": 1}
    assert overall["calls_per_minute"]["1m"] == 3.0
    assert overall["top_denying_rules"] == [{"rule": "tools.echo.rules[0]", "count": 2}]
    assert data["traffic"]["by_log"][0]["instances"] == ["tg_0123456789ab"]
    (section,) = data["counters"]
    assert (section["namespace"], section["instances"]) == ("ns", ["tg_0123456789ab"])
    (counter,) = section["counters"]
    assert (counter["name"], counter["limit"], counter["window"]) == ("_rate_minute", "5", "minute")
    assert [(b["value"], b["remaining"]) for b in counter["buckets"]] == [("2", "3")]
    assert data["approvals"]["pending"] == 0


def test_the_tables_show_the_same_things_readably(home: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    log = tmp_path / "decisions.jsonl"
    write_log(log, [recent("denied", tool="echo", rule="tools.echo.rules[0]")])
    store = tmp_path / "counters.sqlite3"
    charge_echo(store, "ns", 4)
    args = ["-c", str(policy), "--namespace", "ns", "--counter-store", f"sqlite:///{store}"]
    result = invoke(*args, "--audit-log", str(log))
    assert result.exit_code == 0, result.output
    assert "top denying rules" in result.output and "tools.echo.rules[0]" in result.output
    assert "decisions since" in result.output and "(denied 1)" in result.output
    row = next(line for line in result.output.splitlines() if "echo._rate_minute" in line)
    assert "rate_limit" in row and " 4 " in row and " 5 " in row and " 1 " in row


def test_a_policy_without_a_namespace_says_how_to_give_one(home: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    data = orjson.loads(invoke("-c", str(policy), "--json").stdout)
    assert data["counters"][0]["note"] == (
        "no namespace: give --namespace or the server command after --"
    )
    derived = orjson.loads(invoke("-c", str(policy), "--json", "--", "srv", "--x").stdout)
    assert derived["counters"][0]["namespace"].startswith("server:")


def test_a_garbage_audit_log_is_reported_line_by_line(home: Path, tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(b"\x00\x01garbage\n" + orjson.dumps(recent("allowed")) + b"\n")
    result = invoke("--audit-log", str(log), "--json")
    assert result.exit_code == 0
    overall = orjson.loads(result.stdout)["traffic"]["overall"]
    assert overall["decisions"] == 1
    assert overall["warnings"] == [f"{log}:1: not a JSON line (skipped)"]


def test_prune_removes_stale_instance_files(home: Path) -> None:
    directory = home / "state" / "instances"
    stale = registry.new_record(
        instance="tg_stale000000",
        kind="run",
        now=datetime.now(UTC).timestamp() - 600,
        targets=[],
        store_url="memory://",
        state_dir=home / "state",
        audit=([], []),
    )
    registry.write_record(directory, stale)
    listed = orjson.loads(invoke("--json").stdout)["instances"]
    assert [i["state"] for i in listed] == ["stale"]
    assert listed[0]["stale_reason"].startswith("no heartbeat for 6")
    pruned = orjson.loads(invoke("--json", "--prune").stdout)
    assert pruned["pruned"] == [str(directory / "tg_stale000000.json")]
    assert pruned["instances"] == []
    assert list(directory.iterdir()) == []
