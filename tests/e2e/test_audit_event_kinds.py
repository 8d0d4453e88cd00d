"""Audit event model v1 end to end: a real `toolgate run` writes every lifecycle kind, every line
conforms to the published JSON Schema, and no planted secret reaches the log file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.audit.test_event_kinds import schema_errors
from tests.e2e.support import all_audit_events, raw_client, stub_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

POLICY = """
version: "1"
default: allow
tools:
  echo:
    rules:
      - name: short messages
        conditions: [{path: args.message, op: len_lte, value: 5}]
"""
RELOADED = POLICY.replace("value: 5", "value: 50")
BROKEN = POLICY + "  other:\n    rules:\n      - {action: explode}\n"


def replace(path: Path, text: str) -> None:
    """Swap the policy in whole, as editors do, so the watcher never sees a half-written file."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(text)
    fresh.replace(path)


async def test_a_run_logs_startup_loads_decisions_reloads_and_shutdown_all_conforming_to_the_schema(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(POLICY)
    async with raw_client(toolgate(policy, stub_server(), home)) as client:
        await client.initialize()
        call = {"name": "echo", "arguments": {"message": "hi"}}
        await client.request(1, "tools/call", call)
        long = {"name": "echo", "arguments": {"message": "far too long"}}
        await client.request(2, "tools/call", long)  # denied
        replace(policy, RELOADED)
        await client.request(3, "tools/call", long)  # allowed under the reloaded policy
        replace(policy, BROKEN)
        await client.request(4, "tools/call", long)  # still allowed: the bad edit is kept out
        assert await client.close() == 0
    events = all_audit_events(home)
    for event in events:
        assert schema_errors(event) == [], event
    kinds = [(e["type"], e.get("load"), e.get("ok"), e.get("outcome")) for e in events]
    assert kinds == [
        ("startup", None, None, None),
        ("policy_load", "initial", True, None),
        ("decision", None, None, "allowed"),
        ("decision", None, None, "denied"),
        ("policy_load", "reload", True, None),
        ("decision", None, None, "allowed"),
        ("policy_load", "reload", False, None),
        ("decision", None, None, "allowed"),
        ("shutdown", None, None, None),
    ]
    startup, initial, *_, shutdown = events
    assert startup["policy_revision"] == initial["revision"] == events[2]["policy_revision"]
    assert startup["store"] == "sqlite" and startup["include_args"] is False
    reload_ok, reload_bad = (e for e in events if e.get("load") == "reload")
    assert reload_bad["in_force"] == reload_ok["revision"] == events[-2]["policy_revision"]
    assert any("policy.yaml:" in error for error in reload_bad["errors"])
    assert shutdown["exit_status"] == 0
    assert shutdown["decisions"] == {"allowed": 3, "denied": 1}
    assert (shutdown["policy_reloads"], shutdown["policy_failures"]) == (1, 1)
    assert len({e["instance"] for e in events if "instance" in e}) == 1


async def test_with_include_args_planted_secrets_never_reach_the_log_file(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(RELOADED)
    redact = [
        "--audit-include-args",
        "--audit-redact-path",
        "args.card.number",
        "--audit-redact-pattern",
        r"\b\d{16}\b",
    ]
    arguments = {
        "message": "visible",
        "api_key": "sk-planted-0001",
        "Authorization": "Bearer planted-0002",
        "card": {"number": "4000-1234-5678-9010"},
        "note": "card 4111111111111111 on file",
    }
    async with raw_client(toolgate(policy, stub_server(), home, *redact)) as client:
        await client.initialize()
        await client.request(1, "tools/call", {"name": "echo", "arguments": arguments})
    written = (home / "audit.jsonl").read_bytes()
    assert b'"message":"visible"' in written
    for secret in ("sk-planted-0001", "planted-0002", "4000-1234-5678-9010", "4111111111111111"):
        assert secret.encode() not in written, secret
    assert all(schema_errors(e) == [] for e in all_audit_events(home))
