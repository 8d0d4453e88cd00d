"""`run_demo` end to end: failure paths with stand-in gateways, and the real gateway run."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from rich.console import Console

from toolgate.demo import runner
from toolgate.demo.agent import AgentRun, CallRecord
from toolgate.demo.exchange_server import LOG_ENV
from toolgate.demo.report import Report
from toolgate.demo.runner import Workspace, child_env, collect, run_demo
from toolgate.demo.script import ALLOW, BLOCKED, DENY, HIDDEN, LIMIT, SCRIPT, ScriptedCall


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=160, color_system=None), out


def test_a_gateway_that_dies_ends_the_demo_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = [sys.executable, "-c", "import sys; sys.exit('toolgate: no such policy')"]
    monkeypatch.setattr(runner, "gateway_command", lambda policy, work: dead)
    console, out = _console()
    assert run_demo(console) == 1
    assert out.getvalue() == (
        "toolgate demo failed: toolgate stopped while answering initialize: "
        "toolgate: no such policy\n"
    )


def test_a_gateway_that_enforces_nothing_is_reported_as_unexpected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner, "gateway_command", lambda policy, work: runner.server_command())
    console, out = _console()
    assert run_demo(console) == 1
    text = out.getvalue()
    assert "Through toolgate" in text and "Without toolgate" in text
    assert "unexpected: call #3 place_order: expected DENY, got ALLOW" in text
    assert "unexpected: tools/list through toolgate still shows reset_api_keys" in text
    assert "toolgate blocked 0 of 16 calls" in text


def test_children_get_the_server_log_and_the_callers_environment(tmp_path: Path) -> None:
    env = child_env(tmp_path / "s.log")
    assert env[LOG_ENV] == str(tmp_path / "s.log")
    assert env["PATH"] == os.environ["PATH"]


def test_the_gateway_command_gives_fresh_state_and_audit_paths(tmp_path: Path) -> None:
    command = runner.gateway_command(Path("p.yaml"), Workspace(tmp_path))
    assert command[1:6] == ["-m", "toolgate", "run", "-c", "p.yaml"]
    assert command[command.index("--state-dir") + 1] == str(tmp_path / "state")
    assert command[command.index("--audit-log") + 1] == str(tmp_path / "audit.jsonl")
    assert command[command.index("--") + 1 :] == runner.server_command()


def test_run_demo_through_the_gateway_shows_every_outcome() -> None:
    console, out = _console()
    assert run_demo(console) == 0, out.getvalue()
    text = out.getvalue()
    for label in ("ALLOW", "DENY", "LIMIT", "HIDDEN", "EXECUTED"):
        assert label in text
    assert "tools/list through toolgate: 9 tools (reset_api_keys hidden)" in text
    assert "without it all 16 reached the exchange" in text


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_every_scripted_call_is_decided_as_the_policy_says(era: runner.Era) -> None:
    report = collect(era)
    labels = report.gated_labels()
    assert report.mismatches() == []
    assert labels[6:10] == [ALLOW, ALLOW, ALLOW, LIMIT]
    assert labels[SCRIPT.index(next(c for c in SCRIPT if c.tool == "reset_api_keys"))] == HIDDEN
    forwarded = sum(label not in BLOCKED for label in labels)
    assert report.gated_reached in (None, forwarded)
    assert report.direct_reached == len(SCRIPT)


def test_a_blocked_call_that_still_reached_the_exchange_is_reported() -> None:
    direct = AgentRun(("get_price",), (CallRecord(SCRIPT[0], _allowed()),))
    gated = AgentRun(
        ("get_price",),
        (CallRecord(ScriptedCall("get_price", {}, frozenset({DENY})), _denied()),),
    )
    report = Report(gated=gated, direct=direct, gated_reached=1, direct_reached=1)
    assert report.mismatches() == [
        "toolgate let 0 calls through, but the exchange received 1",
    ]
    assert report.summary() == (
        "toolgate blocked 1 of 1 calls (1 denied); without it all 1 reached the exchange."
    )


def _allowed() -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "result": {"content": [], "isError": False}}


def _denied() -> dict[str, object]:
    content = [{"type": "text", "text": "[POLICY DENIED] no"}]
    return {"jsonrpc": "2.0", "id": 1, "result": {"content": content, "isError": True}}
