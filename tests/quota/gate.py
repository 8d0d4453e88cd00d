"""A pocket gateway for counter tests: evaluate a call, then reserve its charges."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from toolgate.clock import FakeClock
from toolgate.policy import CallFacts, Decision, Policy, counters_needed, evaluate, load_policy_text
from toolgate.quota.ledger import Ledger, LimitExceeded
from toolgate.stores.base import CounterStore
from toolgate.stores.memory import MemoryCounterStore


@dataclass
class Gate:
    """A policy over a counter store; `call` answers "allow", "limit" or the denial's reason."""

    policy: Policy
    clock: FakeClock = field(default_factory=FakeClock)
    store: CounterStore | None = None
    identity: str | None = None
    session: str | None = "s1"
    last: Decision | None = None
    last_message: str = ""

    def __post_init__(self) -> None:
        self.store = self.store or MemoryCounterStore(self.clock)
        self.ledger = Ledger(self.store, "ns", self.clock)

    async def call(self, tool: str = "t", arguments: object = None, **who: str | None) -> str:
        facts = CallFacts(
            tool, {} if arguments is None else arguments,  # type: ignore[arg-type]
            now=self.clock.now(),
            identity=who.get("identity", self.identity),
            session=who.get("session", self.session),
        )  # fmt: skip
        refs = counters_needed(self.policy, facts)
        if refs:
            facts = facts.with_counters(await self.ledger.snapshot(refs))
        decision = self.last = evaluate(self.policy, facts)
        self.last_message = decision.message
        if not decision.allowed:
            return decision.reason.value
        reserved = await self.ledger.reserve(decision.charges)
        if isinstance(reserved, LimitExceeded):
            self.last_message = reserved.on_deny or ""
            return "limit"
        return "allow"

    async def calls(self, count: int, tool: str = "t", arguments: object = None) -> list[str]:
        return [await self.call(tool, arguments) for _ in range(count)]


def gate(body: str, **settings: object) -> Gate:
    text = textwrap.dedent(body)
    if not text.lstrip().startswith("version"):
        text = 'version: "1"\n' + text
    return Gate(load_policy_text(text, "policy.yaml"), **settings)  # type: ignore[arg-type]
