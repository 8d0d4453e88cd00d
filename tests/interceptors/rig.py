"""A test rig for the enforcement interceptor: a policy file, a memory store, a fake clock, and
an audit sink that keeps events in a list."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

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


@dataclass
class ListSink:
    events: list[DecisionEvent] = field(default_factory=list)

    async def emit(self, event: DecisionEvent) -> None:
        self.events.append(event)

    async def aclose(self) -> None:
        return None


class SilentClient:
    """A client endpoint that never says anything and ignores what it is sent."""

    async def receive(self) -> bytes:
        return b""

    async def send(self, data: bytes) -> None:
        return None


async def forward_unchanged(_: Message) -> Outcome:
    return Forward()


@dataclass
class Rig:
    enforcer: PolicyEnforcer
    sink: ListSink
    session: Session = field(default_factory=lambda: Session(SilentClient(), "ses_test"))
    next_id: int = 0

    async def call(self, name: Any, arguments: Any = None, *, modern: bool = False) -> Outcome:
        """A tools/call as the client would send it (arguments omitted when None)."""
        self.next_id += 1
        params: dict[str, Any] = {"name": name}
        if arguments is not None:
            params["arguments"] = arguments
        if modern:
            params["_meta"] = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call", "params": params}
        message = parse(orjson.dumps(request))
        assert isinstance(message, Message)
        return await self.enforcer(message, self.session, forward_unchanged)

    async def settle(self, outcome: Outcome, result: dict[str, Any]) -> DecisionEvent:
        """Answer a forwarded call with `result` and return the event it was logged as."""
        assert isinstance(outcome, Forward) and outcome.on_response is not None
        response = parse(result_response(self.next_id, result))
        assert isinstance(response, Message)
        await outcome.on_response(response)
        return self.sink.events[-1]


def build(
    tmp_path: Path,
    policy_text: str,
    *,
    store: MemoryCounterStore | None = None,
    identity: str | None = None,
) -> Rig:
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text)
    clock = FakeClock()
    sink = ListSink()
    enforcer = PolicyEnforcer(
        PolicySource(policy),
        Ledger(store if store is not None else MemoryCounterStore(clock), "test", clock),
        AuditRecorder(sink, clock),
        clock,
        EnforcementSettings(identity=identity, salt=b"s" * 32),
    )
    return Rig(enforcer, sink)


def answer(outcome: Outcome) -> dict[str, Any]:
    """The decoded local answer of a call toolgate refused."""
    assert isinstance(outcome, Respond)
    decoded: dict[str, Any] = orjson.loads(outcome.data)
    return decoded
