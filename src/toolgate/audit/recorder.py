"""Building decision events as a call progresses, and emitting each exactly once.

A call's event is begun when the request arrives, filled in as it is decided, and emitted when
it is answered locally or when the upstream's response settles it. Events still open when the
session ends are emitted with `upstream: no_response`.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from toolgate.audit.event import (
    ApprovalChange,
    ApprovalEvent,
    DecisionEvent,
    Outcome,
    PinEvent,
    PolicyLoadEvent,
    PolicyLoadKind,
    ShutdownEvent,
    StartupEvent,
    StoreFailureEvent,
    UpstreamOutcome,
    timestamp,
)
from toolgate.audit.redact import Redactor, redact_command, redact_url
from toolgate.audit.sink import AuditRecord, AuditSink
from toolgate.clock import Clock
from toolgate.stores.approvals import Approval

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
    args: dict[str, Any] | None = None  # redacted argument values, only with include_args
    server_name: str | None = None  # the named server of `toolgate serve`
    traceparent: str | None = None  # a W3C trace context the request carried in `_meta`

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
            args=self.args,
            server_name=self.server_name,
            traceparent=self.traceparent,
        )


class AuditRecorder:
    """Writes every event kind to the sink. `redactor` is set only when argument values are to
    be logged (`--audit-include-args`); without it no value ever reaches the sink.

    Events noticed where no await is possible (a policy reload seen by `PolicySource.current()`)
    are queued by `note()` and written before the next event, or by `flush()`."""

    def __init__(
        self,
        sink: AuditSink,
        clock: Clock,
        *,
        redactor: Redactor | None = None,
        instance: str | None = None,
        store_url: str = "",
        fail_mode: str = "closed",
        server: str | None = None,
    ) -> None:
        self._sink = sink
        self.server_name = server  # the named server of `toolgate serve`, on every event
        self._clock = clock
        self._open: dict[str, PendingEvent] = {}
        self.redactor = redactor
        self.instance = instance or f"tg_{secrets.token_hex(6)}"
        self.store_url = redact_url(store_url)
        self.fail_mode = fail_mode
        self._queued: list[AuditRecord] = []
        self._outcomes: Counter[str] = Counter()
        self._reloads = self._policy_failures = self._store_failures = 0
        # called with every event as it is emitted (metrics, traces); never with a pending one
        self.observers: list[Callable[[AuditRecord], None]] = []

    def argument_values(self, arguments: Mapping[str, Any]) -> dict[str, Any] | None:
        """The redacted values to log, or None when values are not logged at all."""
        return None if self.redactor is None else self.redactor.arguments(arguments)

    async def started(
        self, *, version: str, server: list[str], policy_revision: str | None
    ) -> None:
        kind = self.store_url.partition(":")[0] or "unknown"
        await self._emit(
            StartupEvent(
                ts=timestamp(self._clock.now()),
                instance=self.instance,
                version=version,
                server=redact_command(server),
                policy_revision=policy_revision,
                store=kind,
                store_url=self.store_url,
                include_args=self.redactor is not None,
                server_name=self.server_name,
            )
        )

    def policy_loaded(
        self,
        *,
        load: PolicyLoadKind,
        path: str,
        revision: str | None,
        in_force: str | None,
        errors: list[str],
    ) -> None:
        """Queue a policy_load event (success when `revision` is set, else a located failure)."""
        ok = revision is not None
        if load == "reload":
            if ok:
                self._reloads += 1
            else:
                self._policy_failures += 1
        self.note(
            PolicyLoadEvent(
                ts=timestamp(self._clock.now()),
                instance=self.instance,
                load=load,
                ok=ok,
                path=path,
                revision=revision,
                in_force=in_force,
                errors=[redact_url(e) for e in errors],
            )
        )

    async def store_failed(
        self, operation: str, error: BaseException, decision_id: str | None = None
    ) -> None:
        self._store_failures += 1
        await self._emit(
            StoreFailureEvent(
                ts=timestamp(self._clock.now()),
                instance=self.instance,
                operation=operation,
                error=redact_url(str(error)),
                store_url=self.store_url,
                fail_mode=self.fail_mode,
                decision_id=decision_id,
            )
        )

    async def stopped(self, exit_status: int | None) -> None:
        """Write the calls still open (`upstream: no_response`), then the shutdown event; call
        before `aclose()`."""
        await self._close_open()
        await self._emit(
            ShutdownEvent(
                ts=timestamp(self._clock.now()),
                instance=self.instance,
                exit_status=exit_status,
                decisions=dict(sorted(self._outcomes.items())),
                policy_reloads=self._reloads,
                policy_failures=self._policy_failures,
                store_failures=self._store_failures,
            )
        )

    def note(self, event: AuditRecord) -> None:
        self._queued.append(event)

    async def flush(self) -> None:
        queued, self._queued = self._queued, []
        for event in queued:
            await self._write(event)

    def begin(
        self, *, decision_id: str, session: str, identity: str | None, method: str, started: float
    ) -> PendingEvent:
        event = PendingEvent(decision_id, session, identity, method, started, self._clock.now())
        event.server_name = self.server_name
        return event

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

    async def approval_changed(
        self,
        change: ApprovalChange,
        approval: Approval,
        *,
        decision_id: str | None,
        by: str | None = None,
        reason: str | None = None,
    ) -> None:
        """An approval request was made, joined, resolved, consumed or expired."""
        request = approval.request
        await self._emit(
            ApprovalEvent(
                ts=timestamp(self._clock.now()),
                instance=self.instance,
                approval_id=approval.id,
                change=change,
                mode=request.mode,
                tool=request.tool,
                rule=request.rule_id,
                policy_revision=request.policy_revision,
                identity=request.identity,
                session=request.session,
                decision_id=decision_id,
                by=by,
                reason=reason,
                server_name=self.server_name,
            )
        )

    async def pin_changed(self, event: PinEvent) -> None:
        """A tool's definition pin changed (first pinned, new, changed, accepted, reset)."""
        await self._emit(event)

    async def aclose(self, *, close_sink: bool = True) -> None:
        """Finish open events and flush; `close_sink=False` when recorders share the sink."""
        await self._close_open()
        await self.flush()
        if close_sink:
            await self._sink.aclose()

    async def _close_open(self) -> None:
        for event in list(self._open.values()):
            await self._emit(event.build("allowed", "", "no_response", None))
        self._open.clear()

    async def _emit(self, event: AuditRecord) -> None:
        if self._queued:
            await self.flush()
        if isinstance(event, DecisionEvent):
            self._outcomes[event.outcome] += 1
        await self._write(event)

    async def _write(self, event: AuditRecord) -> None:
        for observe in self.observers:
            try:
                observe(event)
            except Exception:  # an observer (metrics, traces) never stops the log
                log.exception("an audit observer failed")
        try:
            await self._sink.emit(event)
        except OSError as exc:  # an audit failure is loud but does not take the gateway down
            log.error("could not write an audit event: %s", exc)
