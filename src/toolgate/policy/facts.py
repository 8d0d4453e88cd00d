"""The facts a decision is made from: everything the evaluator may read, and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from toolgate.policy.decision import CounterRef


@dataclass(frozen=True, slots=True)
class CallFacts:
    """One tools/call as the evaluator sees it.

    `arguments` is the decoded JSON object of the call. `counters` holds the values (read before
    the call) of the counters the policy asked for via `counters_needed`; a counter missing from
    it reads as zero. `now` is epoch seconds (UTC) from the injected clock. `identity` is the
    caller's name (`identity.name`); `identity_attributes` what else is known about it.
    `tool_classification` is (category, risk) as the gateway classified the tool from its listed
    definition, or None for a tool not listed in this session; the policy's `classify:` map,
    when it names the tool, wins over it.
    """

    tool: str
    arguments: Mapping[str, object]
    now: float
    identity: str | None = None
    session: str | None = None
    counters: Mapping[CounterRef, Decimal] = field(default_factory=dict)
    identity_attributes: Mapping[str, object] = field(default_factory=dict)
    tool_classification: tuple[str, str] | None = None

    def with_counters(self, counters: Mapping[CounterRef, Decimal]) -> CallFacts:
        return replace(self, counters=counters)
