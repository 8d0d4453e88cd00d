"""Shadow mode and identity through the enforcement interceptor (memory store, fake clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from toolgate.audit.event import DecisionEvent
from toolgate.audit.recorder import AuditRecorder
from toolgate.clock import FakeClock
from toolgate.interceptors.enforcement import EnforcementSettings, PolicyEnforcer
from toolgate.interceptors.policy_source import PolicySource
from toolgate.jsonrpc.message import Message, parse, result_response
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Forward, Outcome, Respond
from toolgate.quota.ledger import Ledger
from toolgate.stores.memory import MemoryCounterStore

pytestmark = pytest.mark.anyio

POLICY = """
version: "1"
tools:
  order:
    rules:
      - name: small orders
        mode: shadow
        conditions: [{path: args.qty, op: lte, value: 5}]
        on_deny: orders above 5 would be refused
      - name: burst
        mode: shadow
        rate_limit: 2/minute
      - name: enforced
        rate_limit: 3/hour
  whoami:
    rules:
      - name: alice only
        conditions: [{path: identity.name, op: eq, value: alice}]
"""


@dataclass
class ListSink:
    events: list[DecisionEvent] = field(default_factory=list)

    async def emit(self, event: DecisionEvent) -> None:
        self.events.append(event)

    async def aclose(self) -> None:
        return None


class SilentClient:
    async def receive(self) -> bytes:
        return b""

    async def send(self, data: bytes) -> None:
        return None


@dataclass
class Rig:
    enforcer: PolicyEnforcer
    sink: ListSink
    session: Session = field(default_factory=lambda: Session(SilentClient(), "ses_t"))
    next_id: int = 0

    async def call(self, name: str, arguments: dict[str, Any]) -> Outcome:
        self.next_id += 1
        params = {"name": name, "arguments": arguments}
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call", "params": params}
        message = parse(orjson.dumps(request))
        assert isinstance(message, Message)

        async def forward(_: Message) -> Outcome:
            return Forward()

        return await self.enforcer(message, self.session, forward)

    async def settle(self, outcome: Outcome, result: dict[str, Any]) -> DecisionEvent:
        assert isinstance(outcome, Forward) and outcome.on_response is not None
        response = parse(result_response(self.next_id, result))
        assert isinstance(response, Message)
        await outcome.on_response(response)
        return self.sink.events[-1]


def build(tmp_path: Path, identity: str | None = None) -> Rig:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    clock = FakeClock()
    sink = ListSink()
    enforcer = PolicyEnforcer(
        PolicySource(policy),
        Ledger(MemoryCounterStore(clock), "test", clock),
        AuditRecorder(sink, clock),
        clock,
        EnforcementSettings(identity=identity, salt=b"s" * 32),
    )
    return Rig(enforcer, sink)


async def test_a_shadow_denial_is_forwarded_and_logged_as_would_deny(tmp_path: Path) -> None:
    rig = build(tmp_path)
    event = await rig.settle(await rig.call("order", {"qty": 9}), {"content": []})
    assert (event.outcome, event.mode) == ("allowed", "shadow")
    assert event.would == {
        "effect": "deny",
        "reason": "condition_failed",
        "rule": "tools.order.rules[0]",
        "message": "orders above 5 would be refused",
    }


async def test_a_shadow_limit_never_blocks_but_the_enforced_limit_does(tmp_path: Path) -> None:
    rig = build(tmp_path)
    events = [await rig.settle(await rig.call("order", {"qty": 1}), {"content": []})]
    events.append(await rig.settle(await rig.call("order", {"qty": 1}), {"content": []}))
    events.append(await rig.settle(await rig.call("order", {"qty": 1}), {"content": []}))
    assert [e.mode for e in events] == ["enforce", "enforce", "shadow"]
    assert events[2].would is not None and events[2].would["reason"] == "limit"
    assert events[2].would["rule"] == "tools.order.rules[1]"
    refused = await rig.call("order", {"qty": 1})
    assert isinstance(refused, Respond)  # the fourth call meets the enforced 3/hour


async def test_a_failed_call_rolls_back_shadow_counters_too(tmp_path: Path) -> None:
    rig = build(tmp_path)
    for _ in range(3):
        event = await rig.settle(await rig.call("order", {"qty": 1}), {"isError": True})
        assert event.would is None  # nothing was counted, so the shadow limit never fills


async def test_the_configured_identity_is_readable_in_conditions_and_logged(
    tmp_path: Path,
) -> None:
    alice = build(tmp_path, identity="alice")
    event = await alice.settle(await alice.call("whoami", {}), {"content": []})
    assert (event.outcome, event.identity) == ("allowed", "alice")
    nobody = build(tmp_path)
    assert isinstance(await nobody.call("whoami", {}), Respond)
    assert nobody.sink.events[-1].outcome == "denied"
