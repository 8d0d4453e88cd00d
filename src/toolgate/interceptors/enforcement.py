"""Policy enforcement on tools/call and tools/list: decide, reserve, forward, settle, log.

The decision comes from the pure evaluator; this module carries out what it obliges. Anything
that cannot be evaluated — malformed params, a failing store, an evaluator error — is refused
and never forwarded (fail closed).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from toolgate.audit.event import UpstreamOutcome, hash_arguments
from toolgate.audit.recorder import AuditRecorder, PendingEvent
from toolgate.clock import Clock
from toolgate.errors import StoreError
from toolgate.interceptors.hidden import UnknownToolAnswers
from toolgate.interceptors.policy_source import PolicySource
from toolgate.interceptors.tool_classes import ToolClasses
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import Message, error_response
from toolgate.mcp.calls import BadCall, read_tool_call
from toolgate.mcp.eras import is_modern_request
from toolgate.mcp.listing import filter_tools_response, tool_names
from toolgate.mcp.results import DECISION_META_KEY, denial
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Forward, Next, Outcome, Respond, ResponseHook
from toolgate.policy.decision import Charge, Decision, Effect, Reason, Would
from toolgate.policy.evaluator import counters_needed, evaluate, visible
from toolgate.policy.facts import CallFacts
from toolgate.policy.model import Policy
from toolgate.quota.ledger import Ledger, LimitExceeded, Reservation

log = logging.getLogger("toolgate.enforcement")
MAX_TRACEPARENT = 256  # a traceparent is 55 characters; anything longer is not one

APPROVAL_UNAVAILABLE = (
    "This call requires human approval, and approval is not available in this build of "
    "toolgate, so it is denied"
)


@dataclass(slots=True)
class EnforcementSettings:
    identity: str | None = None
    salt: bytes = b""
    # --state-fail-mode open: while the counter store fails, calls pass unchecked (counters read
    # as zero, nothing reserved) and their audit event says reason "fail_open"
    fail_open: bool = False


class PolicyEnforcer:
    """The interceptor that applies the policy in force to every tools/call and tools/list."""

    methods = frozenset({"tools/call", "tools/list"})

    def __init__(
        self,
        source: PolicySource,
        ledger: Ledger,
        audit: AuditRecorder,
        clock: Clock,
        settings: EnforcementSettings | None = None,
    ) -> None:
        self.source = source
        self.ledger = ledger
        self.audit = audit
        self.clock = clock
        self.settings = settings or EnforcementSettings()
        self.unknown_tools = UnknownToolAnswers()
        self.seen_tools: set[str] = set()
        self.tool_classes = ToolClasses()
        self.unfiltered_lists = False
        self.approvals: ApprovalFlow | None = None  # None: approval rules deny (no store)

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome:
        if request.method == "tools/list":
            policy = self.source.current()
            if not policy.hidden and not policy.hide_all:
                # Nothing to hide: the list passes as bytes (a 10,000-tool list is megabytes),
                # parsed only when a rule reads tool.category/tool.risk. Which tools it held
                # stays unknown, so a later reload that starts hiding tools is announced to the
                # client without comparing lists.
                self.unfiltered_lists = True
                return Forward(None, self._observe_list) if policy.reads_tool_class() else Forward()
            return Forward(None, self._filter_list)
        return await self._call(request, session)

    async def _observe_list(self, response: Message) -> bytes | None:
        self.tool_classes.observe(response.obj)
        return None

    async def _filter_list(self, response: Message) -> bytes | None:
        names = tool_names(response.obj)
        self.seen_tools.update(names)
        self.tool_classes.observe(response.obj)
        policy = self.source.current()
        return filter_tools_response(response.obj, lambda name: visible(policy, name))

    async def _call(self, request: Message, session: Session) -> Outcome:
        assert request.id is not None
        started = self.clock.monotonic()
        modern = is_modern_request(request.params)
        call = read_tool_call(request.params, request.raw)
        event = self.audit.begin(
            decision_id=f"dec_{secrets.token_hex(8)}",
            session=session.id,
            identity=session.identity or self.settings.identity,
            method="tools/call",
            started=started,
        )
        if isinstance(call, BadCall):
            await self.audit.finish_local(
                event, "error", Reason.INVALID_CALL.value, None, call.reason
            )
            return Respond(error_response(request.id, codes.INVALID_PARAMS, call.reason))
        event.tool = call.name
        event.traceparent = _traceparent(request.params)
        event.arg_keys = sorted(call.arguments)
        event.args_hash = hash_arguments(call.arguments, self.settings.salt)
        event.args = self.audit.argument_values(call.arguments)
        try:
            return await self._decide(request, session, call.name, call.arguments, event, modern)
        except StoreError as exc:
            log.error("counter store failed; denying %s: %s", call.name, exc)
            text = "the counter store is unavailable, so this call cannot be checked"
            return await self._deny(
                request, event, text, "error", Reason.INVALID_CALL, None, modern
            )

    async def _decide(
        self,
        request: Message,
        session: Session,
        tool: str,
        arguments: dict[str, Any],
        event: PendingEvent,
        modern: bool,
    ) -> Outcome:
        policy = self.source.current()
        event.policy_revision = policy.revision
        facts = CallFacts(
            tool=tool,
            arguments=arguments,
            now=self.clock.now(),
            identity=session.identity or self.settings.identity,
            identity_attributes=session.identity_attributes,
            session=None if session.stateless else session.id,
            tool_classification=(
                self.tool_classes.classification(tool) if policy.reads_tool_class() else None
            ),
        )
        refs = counters_needed(policy, facts)
        failed_open = False
        if refs:
            try:
                values = await self.ledger.snapshot(refs)
            except StoreError as exc:
                await self.audit.store_failed("snapshot", exc, event.decision_id)
                failed_open = self._fail_open(tool, exc)
                values = dict.fromkeys(refs, Decimal(0))
            facts = facts.with_counters(values)
        decision = evaluate(policy, facts)
        event.rule, event.rule_name = decision.rule_id, decision.rule_name
        if decision.effect is Effect.HIDE:
            await self.audit.finish_local(event, "hidden", decision.reason.value, None, "")
            return self.unknown_tools.answer(request, tool, modern=modern)
        passage = Passage(self, request, event, decision, modern, failed_open)
        if decision.effect is Effect.REQUIRE_APPROVAL:
            if self.approvals is None:
                return await passage.deny(APPROVAL_UNAVAILABLE)
            return await self.approvals.decide(HeldCall(passage, session, policy, tool, arguments))
        if decision.effect is Effect.DENY:
            outcome = "error" if decision.reason is Reason.INVALID_CALL else "denied"
            return await self._deny(
                request, event, decision.message, outcome, decision.reason, decision, modern
            )
        return await passage.forward()

    async def forward(
        self,
        passage: Passage,
        *,
        data: bytes | None = None,
        gate: Gate | None = None,
        wrap: ResponseHook | None = None,
        reason: str | None = None,
    ) -> Forward | Respond:
        """Reserve the call's counters and forward it (`data`: rewritten bytes). `gate` runs
        once the counters are reserved and may still refuse (an approval consumed by someone
        else): the reservation is then rolled back. `wrap` rewrites the upstream's response
        after the counters are settled."""
        request, event, decision, modern = (
            passage.request,
            passage.event,
            passage.decision,
            passage.modern,
        )
        failed_open = passage.failed_open
        enforced = [charge for charge in decision.charges if not charge.shadow]
        try:
            reserved: Reservation | LimitExceeded = await self.ledger.reserve(enforced)
        except StoreError as exc:
            await self.audit.store_failed("reserve", exc, event.decision_id)
            failed_open = self._fail_open(passage.tool, exc)
            reserved = Reservation((), ())
        if isinstance(reserved, LimitExceeded):
            charge = reserved.charge
            event.rule, event.rule_name = charge.rule_id, None
            text = charge.on_deny or f"limit reached (rule {charge.rule_id})"
            return await self._deny(request, event, text, "denied", Reason.LIMIT, None, modern)
        if gate is not None:
            refused = await gate()
            if refused is not None:
                await self._undo(event, [reserved])
                return await passage.deny(refused)
        reservations = [reserved]
        if decision.would is not None:
            note_shadow(event, decision.would)
        shadowed = [charge for charge in decision.charges if charge.shadow]
        if shadowed:
            reservations += await self._reserve_shadow(event, shadowed)
        event.reason = "fail_open" if failed_open else (reason or decision.reason.value)
        event.decided(self.clock.monotonic())
        self.audit.forwarded(event)
        return Forward(data, self._settle_hook(event, reservations, wrap))

    def _fail_open(self, tool: str, exc: StoreError) -> bool:
        """True when the fail mode is open (the call goes on unchecked); re-raises otherwise."""
        if not self.settings.fail_open:
            raise exc
        log.warning("counter store failed; %s passes unchecked (fail-open): %s", tool, exc)
        return True

    async def _reserve_shadow(
        self, event: PendingEvent, charges: list[Charge]
    ) -> list[Reservation]:
        """Shadow counters count like enforced ones, but a full one is reported, not enforced."""
        try:
            reserved = await self.ledger.reserve(charges)
        except StoreError as exc:  # a shadow rule never blocks, not even on a store failure
            log.error("could not reserve shadow counters: %s", exc)
            await self.audit.store_failed("reserve_shadow", exc, event.decision_id)
            return []
        if isinstance(reserved, LimitExceeded):
            charge = reserved.charge
            message = charge.on_deny or f"limit reached (rule {charge.rule_id})"
            if event.would is None:
                note_shadow(event, Would(Effect.DENY, Reason.LIMIT, charge.rule_id, message))
            return []
        return [reserved]

    async def _undo(self, event: PendingEvent, reservations: list[Reservation]) -> None:
        for reservation in reservations:
            if not reservation.charges:
                continue
            try:
                await self.ledger.rollback(reservation)
            except StoreError as exc:
                log.error("could not roll back counters after a failed call: %s", exc)
                await self.audit.store_failed("rollback", exc, event.decision_id)

    def _settle_hook(
        self, event: PendingEvent, reservations: list[Reservation], wrap: ResponseHook | None
    ) -> ResponseHook:
        async def settle(response: Message) -> bytes | None:
            failed = response.is_error or _is_error_result(response.obj.get("result"))
            if failed:
                await self._undo(event, reservations)
            upstream: UpstreamOutcome = (
                "error" if response.is_error else ("is_error" if failed else "ok")
            )
            await self.audit.finish_forwarded(event, upstream, self.clock.monotonic())
            return None if wrap is None else await wrap(response)

        return settle

    async def _deny(
        self,
        request: Message,
        event: PendingEvent,
        text: str,
        outcome: Any,
        reason: Reason,
        decision: Decision | None,
        modern: bool,
    ) -> Respond:
        assert request.id is not None
        rule = event.rule
        meta = {DECISION_META_KEY: {"id": event.decision_id, "rule": rule, "reason": reason.value}}
        await self.audit.finish_local(event, outcome, reason.value, rule, text)
        return Respond(denial(request.id, text, modern=modern, meta=meta))


Gate = Callable[[], Awaitable[str | None]]  # None: go on; a text: refuse with it


@dataclass(frozen=True, slots=True)
class Passage:
    """One call the policy has decided on, and the ways it can still end: forwarded (counters
    reserved) or answered here (with its audit event finished)."""

    enforcer: PolicyEnforcer
    request: Message
    event: PendingEvent
    decision: Decision
    modern: bool
    failed_open: bool = False

    @property
    def tool(self) -> str:
        return self.event.tool or ""

    async def forward(
        self,
        *,
        data: bytes | None = None,
        gate: Gate | None = None,
        wrap: ResponseHook | None = None,
        reason: str | None = None,
    ) -> Forward | Respond:
        return await self.enforcer.forward(self, data=data, gate=gate, wrap=wrap, reason=reason)

    async def deny(self, text: str, reason: Reason | None = None) -> Respond:
        """Answer `[POLICY DENIED] text` and finish the audit event as denied."""
        enforcer = self.enforcer
        return await enforcer._deny(
            self.request, self.event, text, "denied", reason or self.decision.reason,
            self.decision, self.modern,
        )  # fmt: skip

    async def answer(self, data: bytes, reason: str, text: str) -> Respond:
        """Answer with `data` (built by the caller) and finish the audit event as denied."""
        await self.enforcer.audit.finish_local(self.event, "denied", reason, self.event.rule, text)
        return Respond(data)


@dataclass(frozen=True, slots=True)
class HeldCall:
    """A call a require_approval rule holds until a human decides."""

    passage: Passage
    session: Session
    policy: Policy
    tool: str
    arguments: dict[str, Any]


class ApprovalFlow(Protocol):
    """What answers a require_approval decision (toolgate.interceptors.approval_flow)."""

    async def decide(self, call: HeldCall) -> Outcome: ...


def note_shadow(event: PendingEvent, would: Would) -> None:
    """Record in the audit event what enforcing the policy would have done."""
    event.mode = "shadow"
    event.would = {
        "effect": would.effect.value,
        "reason": would.reason.value,
        "rule": would.rule_id,
        "message": would.message,
    }


def _traceparent(params: object) -> str | None:
    """A W3C trace context the client put in `_meta` (OpenTelemetry continues that trace)."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    value = meta.get("traceparent") if isinstance(meta, dict) else None
    return value if isinstance(value, str) and len(value) <= MAX_TRACEPARENT else None


def _is_error_result(result: object) -> bool:
    return isinstance(result, dict) and result.get("isError") is True
