"""Audit event model v1: every kind is versioned, typed and conforms to the published schema;
lifecycle events are written by the parts that know about them, in order."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from tests.interceptors.rig import ListSink, Rig, answer

from toolgate.audit.event import (
    EVENT_TYPES,
    ApprovalEvent,
    DecisionEvent,
    PinEvent,
    PolicyLoadEvent,
    ShutdownEvent,
    StartupEvent,
    StoreFailureEvent,
)
from toolgate.audit.recorder import AuditRecorder
from toolgate.audit.sink import AuditRecord
from toolgate.clock import FakeClock
from toolgate.errors import StoreError
from toolgate.interceptors.enforcement import EnforcementSettings, PolicyEnforcer
from toolgate.interceptors.policy_source import PolicySource
from toolgate.quota.ledger import Ledger
from toolgate.stores.base import BucketKey, ReserveItem, ReserveResult
from toolgate.stores.memory import MemoryCounterStore

pytestmark = pytest.mark.anyio

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "audit-event-v1.schema.json"
STORE_URL = "redis://:hunter2@cache.internal:6379/0"

POLICY = """
version: "1"
default: allow
tools:
  pay:
    rules:
      - rate_limit: 5/minute
  forbidden:
    rules:
      - {name: never, action: deny}
"""


@cache
def _validator() -> Any:
    schema = orjson.loads(SCHEMA_PATH.read_bytes())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(event: dict[str, Any]) -> list[str]:
    """Every way `event` breaks the published v1 schema (empty when it conforms)."""
    return [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(event)]


def decoded(events: Sequence[AuditRecord]) -> list[dict[str, Any]]:
    return [orjson.loads(event.to_json()) for event in events]


class BrokenStore(MemoryCounterStore):
    async def reserve(self, items: Sequence[ReserveItem]) -> ReserveResult:
        raise StoreError(f"cannot reach {STORE_URL}: connection refused")

    async def get(self, buckets: Sequence[BucketKey]) -> list[Decimal]:
        raise StoreError(f"cannot reach {STORE_URL}: connection refused")


def rig(tmp_path: Path, store: MemoryCounterStore | None = None) -> tuple[Rig, AuditRecorder]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    clock = FakeClock()
    sink = ListSink()
    recorder = AuditRecorder(sink, clock, instance="tg_test", store_url=STORE_URL)
    enforcer = PolicyEnforcer(
        PolicySource(policy),
        Ledger(store if store is not None else MemoryCounterStore(clock), "test", clock),
        recorder,
        clock,
        EnforcementSettings(salt=b"s" * 32),
    )
    return Rig(enforcer, sink), recorder


def samples() -> list[AuditRecord]:
    ts = "2026-11-20T14:00:00.000000Z"
    return [
        DecisionEvent(
            ts,
            "dec_1",
            "ses_1",
            None,
            "tools/call",
            "pay",
            "denied",
            "rule",
            "/r/0",
            None,
            "no",
            ["amount"],
            "sha256:" + "0" * 64,
            "abc",
            "enforce",
            0.1,
            "not_sent",
            None,
        ),
        PinEvent(ts, "ns", "pay", "new", None, "sha256:x", "warn"),
        StartupEvent(ts, "tg_1", "0.1.0", ["srv"], "abc", "sqlite", "sqlite:///x.db", False),
        ShutdownEvent(ts, "tg_1", 0, {"allowed": 2}, 1, 1, 0),
        PolicyLoadEvent(ts, "tg_1", "reload", False, "p.yaml", None, "abc", ["p.yaml:1:1: x"]),
        StoreFailureEvent(ts, "tg_1", "reserve", "refused", "redis://***@h", "closed", None),
        ApprovalEvent(
            ts,
            "tg_1",
            "apr_0123456789abcdef",
            "approved",
            "queue",
            "pay",
            "tools.pay.rules[0]",
            "abc",
            "bot",
            None,
            "dec_1",
            "alice",
            "looks fine",
            server_name="exchange",
        ),
    ]


def test_every_event_kind_is_versioned_typed_and_conforms_to_the_published_schema() -> None:
    events = decoded(samples())
    assert [e["type"] for e in events] == list(EVENT_TYPES)
    for event in events:
        assert event["v"] == 1
        assert schema_errors(event) == [], event


def test_the_schema_rejects_an_event_of_an_unknown_kind_or_with_a_missing_field() -> None:
    startup = decoded(samples())[2]
    assert schema_errors({**startup, "type": "reboot"})
    assert schema_errors({k: v for k, v in startup.items() if k != "instance"})
    assert schema_errors({**startup, "store_url": "redis://:hunter2@h:6379"})


def test_a_decision_without_argument_values_has_no_args_field() -> None:
    assert "args" not in decoded(samples())[0]


async def test_a_store_failure_fails_the_call_closed_and_is_logged_without_a_password(
    tmp_path: Path,
) -> None:
    checked, _ = rig(tmp_path, BrokenStore(FakeClock()))
    refused = answer(await checked.call("pay", {"amount": 1}))
    assert refused["result"]["isError"] is True
    failure, decision = decoded(checked.sink.events)
    assert failure["type"] == "store_failure" and failure["operation"] == "snapshot"
    assert failure["fail_mode"] == "closed" and failure["decision_id"] == decision["decision_id"]
    assert "hunter2" not in orjson.dumps(failure).decode()
    assert failure["store_url"] == "redis://***@cache.internal:6379/0"
    assert decision["outcome"] == "error"
    assert all(schema_errors(e) == [] for e in (failure, decision))


async def test_a_rejected_reload_is_logged_with_located_errors_before_the_next_decision(
    tmp_path: Path,
) -> None:
    checked, recorder = rig(tmp_path)
    source = checked.enforcer.source
    source.on_load(
        lambda revision, in_force, errors: recorder.policy_loaded(
            load="reload", path="policy.yaml", revision=revision, in_force=in_force, errors=errors
        )
    )
    kept = source.current().revision
    source.path.write_text(POLICY + "\n  extra:\n    rules:\n      - {action: explode}\n")
    answer(await checked.call("forbidden", {}))
    load, decision = decoded(checked.sink.events)
    assert (load["type"], load["load"], load["ok"]) == ("policy_load", "reload", False)
    assert load["revision"] is None and load["in_force"] == kept
    assert load["errors"] and all(":" in error for error in load["errors"])
    assert decision["policy_revision"] == kept
    assert schema_errors(load) == []


async def test_shutdown_writes_open_calls_first_then_counts_decisions_by_outcome(
    tmp_path: Path,
) -> None:
    checked, recorder = rig(tmp_path)
    answer(await checked.call("forbidden", {}))
    await checked.call("pay", {"amount": 1})  # forwarded, never answered
    await recorder.stopped(3)
    *_, open_call, shutdown = decoded(checked.sink.events)
    assert open_call["upstream"] == "no_response"
    assert shutdown["type"] == "shutdown" and shutdown["exit_status"] == 3
    assert shutdown["decisions"] == {"allowed": 1, "denied": 1}
    assert schema_errors(shutdown) == []
