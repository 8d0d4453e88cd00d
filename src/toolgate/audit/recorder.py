"""Building decision events as a call progresses, and emitting each exactly once.

A call's event is begun when the request arrives, filled in as it is decided, and emitted when
it is answered locally or when the upstream's response settles it. Events still open when the
session ends are emitted with `upstream: no_response`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from toolgate.audit.event import (
    DecisionEvent,
    Outcome,
    PinEvent,
    UpstreamOutcome,
    timestamp,
)
from toolgate.audit.sink import AuditRecord, AuditSink
from toolgate.clock import Clock

log = logging.getLogger("toolgate.audit")


@dataclass(slots=True)
class PendingEvent:
    """The mutable draft of one decision event."""

    decision_id: str
    session: str
    identity: str | None
    method: str
    started: float  # monotonic
    ts: float  # wall clock
    tool: str | None = None
    reason: str = ""
    rule: str | None = None
    rule_name: str | None = None
    arg_keys: list[str] = field(default_factory=list)
    args_hash: str | None = None
    policy_revision: str | None = None
    mode: str = "enforce"
    decided_at: float | None = None
    would: dict[str, Any] | None = None  # set in shadow mode when enforcing would have blocked

    def decided(self, monotonic: float) -> None:
        self.decided_at = monotonic

    def build(
        self,
        outcome: Outcome,
        message: str,
        upstream: UpstreamOutcome,
        upstream_ms: float | None,
    ) -> DecisionEvent:
        decided_at = self.decided_at if self.decided_at is not None else self.started
        return DecisionEvent(
            ts=timestamp(self.ts),
            decision_id=self.decision_id,
            session=self.session,
            identity=self.identity,
            method=self.method,
            tool=self.tool,
            outcome=outcome,
            reason=self.reason,
            rule=self.rule,
            rule_name=self.rule_name,
            message=message,
            arg_keys=self.arg_keys,
            args_hash=self.args_hash,
            policy_revision=self.policy_revision,
            mode=self.mode,
            decision_ms=round((decided_at - self.started) * 1000, 4),
            upstream=upstream,
            upstream_ms=upstream_ms,
            would=self.would,
        )


class AuditRecorder:
    def __init__(self, sink: AuditSink, clock: Clock) -> None:
        self._sink = sink
        self._clock = clock
        self._open: dict[str, PendingEvent] = {}

    def begin(
        self, *, decision_id: str, session: str, identity: str | None, method: str, started: float
    ) -> PendingEvent:
        return PendingEvent(decision_id, session, identity, method, started, self._clock.now())

    async def finish_local(
        self, event: PendingEvent, outcome: Outcome, reason: str, rule: str | None, message: str
    ) -> None:
        """The call was answered by toolgate itself."""
        event.decided(self._clock.monotonic())
        event.reason, event.rule = reason, rule if rule is not None else event.rule
        await self._emit(event.build(outcome, message, "not_sent", None))

    def forwarded(self, event: PendingEvent) -> None:
        self._open[event.decision_id] = event

    async def finish_forwarded(
        self, event: PendingEvent, upstream: UpstreamOutcome, monotonic: float
    ) -> None:
        self._open.pop(event.decision_id, None)
        decided_at = event.decided_at if event.decided_at is not None else event.started
        upstream_ms = round((monotonic - decided_at) * 1000, 4)
        await self._emit(event.build("allowed", "", upstream, upstream_ms))

    async def pin_changed(self, event: PinEvent) -> None:
        """A tool's definition pin changed (first pinned, new, changed, accepted, reset)."""
        await self._emit(event)

    async def aclose(self) -> None:
        for event in list(self._open.values()):
            await self._emit(event.build("allowed", "", "no_response", None))
        self._open.clear()
        await self._sink.aclose()

    async def _emit(self, event: AuditRecord) -> None:
        try:
            await self._sink.emit(event)
        except OSError as exc:  # an audit failure is loud but does not take the gateway down
            log.error("could not write an audit event: %s", exc)
