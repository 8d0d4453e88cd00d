"""Answering a require_approval decision: ask a human, and forward the call once, if approved.

Three ways to ask (the rule's `approval_mode`, else the policy's `approvals.mode`):

- **inline** — the client asks its own user. A handshake-era client that declared elicitation gets
  an `elicitation/create` of toolgate's own while its call waits; a 2026-07-28 client that
  declares it gets an `input_required` result whose `requestState` is sealed by toolgate (call
  fingerprint, single-use nonce, expiry). A client that can do neither falls back to queue.
- **queue** — the call is answered `[APPROVAL REQUIRED] … apr_…`; a person approves it with
  `toolgate approvals approve`, the admin API or the page; the agent's retry of the same call
  is forwarded once.
- **hold** — like queue, but the call itself waits (up to `approvals.wait`), with progress
  notifications when the client asked for progress, and goes on as soon as it is approved.

Every approval is bound to the call's fingerprint (tool, arguments, rule, policy revision,
identity, server): changed arguments need a new approval. Counters are reserved only when the
approved call is forwarded, and consumption is atomic in the store, so of simultaneous retries of
one approved call exactly one goes through.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import orjson

from toolgate.approvals.fingerprint import approval_fingerprint
from toolgate.approvals.request_state import SealedState, StateRefusal, StateSealer, new_nonce
from toolgate.audit.event import timestamp
from toolgate.audit.recorder import AuditRecorder
from toolgate.audit.redact import Redactor
from toolgate.clock import Clock
from toolgate.interceptors.approval_watch import ApprovalWatcher
from toolgate.interceptors.enforcement import HeldCall
from toolgate.jsonrpc.message import Message, encode, result_response
from toolgate.mcp import elicitation
from toolgate.mcp.elicitation import Answer
from toolgate.mcp.results import APPROVAL_META_KEY, DECISION_META_KEY, approval_pending
from toolgate.pipeline.types import ClientLink, Deferred, Forward, Outcome, Respond, ResponseHook
from toolgate.policy.model import Approvals
from toolgate.stores.approvals import Approval, ApprovalRequest, ApprovalStatus, ApprovalStore

log = logging.getLogger("toolgate.approvals")

NoticeKind = Literal["approval_requested", "approval_resolved"]
Announce = Callable[[NoticeKind, Approval, Approvals], None]
PROGRESS_EVERY = 10.0  # seconds between progress notifications while a call is held
SHOWN_ARGUMENTS = 600  # characters of the arguments quoted in a question
DEFAULT_TIMEOUT = 900.0
NO_APPROVALS = Approvals()


@dataclass(slots=True)
class ApprovalSettings:
    server: str | None = None  # the named server of `toolgate serve`
    identity: str | None = None  # the gateway's own caller name (stdio --identity)


class ApprovalDesk:
    """Carries out require_approval decisions for one policy chain."""

    def __init__(
        self,
        store: ApprovalStore,
        sealer: StateSealer,
        audit: AuditRecorder,
        clock: Clock,
        settings: ApprovalSettings | None = None,
        announce: Announce | None = None,
        watcher: ApprovalWatcher | None = None,
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.audit = audit
        self.clock = clock
        self.settings = settings or ApprovalSettings()
        self.announce = announce
        self.watcher = watcher
        self._shown = Redactor.build()  # secrets are masked in what approvers see

    async def decide(self, call: HeldCall) -> Outcome:
        passage = call.passage
        config = call.policy.approvals or NO_APPROVALS
        mode = passage.decision.approval_mode or config.mode
        fingerprint = approval_fingerprint(
            tool=call.tool,
            arguments=call.arguments,
            rule_id=passage.decision.rule_id or "",
            policy_revision=call.policy.revision,
            identity=self._identity(call),
            server=self.settings.server,
        )
        params = passage.request.params
        if passage.modern and self.sealer.is_ours(elicitation.request_state(params)):
            return await self._modern_retry(call, fingerprint, mode)
        now = self.clock.now()
        existing = await self.store.current(fingerprint, now)
        if existing is not None:
            return await self._existing(call, existing, config)
        if mode == "inline":
            if passage.modern and elicitation.modern_client_can_elicit(params):
                return await self._ask_modern(call, fingerprint)
            if not passage.modern and call.session.client_can_elicit():
                return Deferred(lambda link: self._ask_inline(call, fingerprint, link, config))
            mode = "queue"  # the client cannot ask its user: a person decides out of band
        approval = await self._open(call, fingerprint, mode, config)
        if mode == "hold":
            return Deferred(lambda link: self._hold(call, approval, link, config))
        return await self._pending(call, approval, still=False)

    # an approval the store already holds for this call -------------------------------------

    async def _existing(self, call: HeldCall, approval: Approval, config: Approvals) -> Outcome:
        if self.watcher is not None:
            await self.watcher.settle(approval)  # its resolution is logged before its use
        if approval.status is ApprovalStatus.APPROVED:
            return await self._use(call, approval)
        if approval.status is ApprovalStatus.DENIED:
            return await call.passage.deny(_denied_text(approval))
        mode = call.passage.decision.approval_mode or config.mode
        if mode == "hold":
            return Deferred(lambda link: self._hold(call, approval, link, config))
        return await self._pending(call, approval, still=True)

    async def _use(self, call: HeldCall, approval: Approval) -> Forward | Respond:
        """Forward the call an approval allows, consuming it exactly once."""

        async def consume() -> str | None:
            used = await self.store.consume(approval.id, self.clock.now())
            if used is None:
                return (
                    f"approval {approval.id} was already used by another call (or lapsed); "
                    "a new approval is needed"
                )
            await self._event("consumed", approval, call)
            return None

        return await call.passage.forward(gate=consume, reason="approved")

    # queue and hold --------------------------------------------------------------------------

    async def _open(
        self, call: HeldCall, fingerprint: str, mode: str, config: Approvals
    ) -> Approval:
        request = self._request(call, fingerprint, mode)
        approval, created = await self.store.request(
            request, dedupe_seconds=config.dedupe_window_seconds, now=self.clock.now()
        )
        await self._event("requested" if created else "joined", approval, call)
        if self.watcher is not None:
            self.watcher.track(approval, config)
        if created and self.announce is not None:
            self.announce("approval_requested", approval, config)
        return approval

    async def _pending(self, call: HeldCall, approval: Approval, *, still: bool) -> Respond:
        passage = call.passage
        request = passage.request
        assert request.id is not None
        state = "is still pending" if still else "was requested"
        text = (
            f"{passage.decision.message}: approval id {approval.id} {state} — ask a human to "
            f"approve it (toolgate approvals approve {approval.id}), then retry the same call "
            f"with the same arguments before {_when(approval.expires_at)}"
        )
        meta = {
            DECISION_META_KEY: {
                "id": passage.event.decision_id,
                "rule": passage.event.rule,
                "reason": "approval_pending",
            },
            APPROVAL_META_KEY: {
                "id": approval.id,
                "status": approval.status.value,
                "expires_at": _when(approval.expires_at),
            },
        }
        data = approval_pending(request.id, text, modern=passage.modern, meta=meta)
        return await passage.answer(data, "approval_pending", text)

    async def _hold(
        self, call: HeldCall, approval: Approval, link: ClientLink, config: Approvals
    ) -> Forward | Respond:
        """Keep the call open until a human decides or the wait ends."""
        wait = min(config.wait_seconds, max(0.0, approval.expires_at - self.clock.now()))
        token = _progress_token(call.passage.request.params)
        current: Approval | None = approval
        beats = 0
        with anyio.move_on_after(wait):
            while current is not None and current.status is ApprovalStatus.PENDING:
                current = await self.store.wait(
                    approval.id, timeout=PROGRESS_EVERY, now=self.clock.now()
                )
                if current is not None and current.status is ApprovalStatus.PENDING:
                    beats += 1
                    if token is not None:
                        await link.notify(_progress(token, beats, approval.id))
        if current is None or current.status is ApprovalStatus.PENDING:
            current = await self.store.get(approval.id, self.clock.now())
        if current is not None and self.watcher is not None:
            await self.watcher.settle(current)
        if current is not None and current.status is ApprovalStatus.APPROVED:
            return await self._use(call, current)
        if current is not None and current.status is ApprovalStatus.DENIED:
            return await call.passage.deny(_denied_text(current))
        if current is not None and current.status is ApprovalStatus.PENDING:
            return await call.passage.deny(
                f"no human answered approval {approval.id} within {_span(wait)}; it stays "
                f"open until {_when(current.expires_at)}: once it is approved, retry the same "
                "call"
            )
        return await call.passage.deny(
            f"approval {approval.id} expired without an answer; a retry asks again"
        )

    # inline: the client asks its user -------------------------------------------------------

    async def _ask_inline(
        self, call: HeldCall, fingerprint: str, link: ClientLink, config: Approvals
    ) -> Forward | Respond:
        if not link.can_ask:  # this request's answer cannot carry a question: queue it
            approval = await self._open(call, fingerprint, "queue", config)
            return await self._pending(call, approval, still=False)
        request = self._request(call, fingerprint, "inline")
        approval_id = _new_id()
        placeholder = _placeholder(approval_id, request, self.clock.now())
        await self._event("requested", placeholder, call)
        response: Message | None = None
        with anyio.move_on_after(request.timeout_seconds):
            response = await link.ask(
                "elicitation/create", elicitation.approval_question(self._question(call))
            )
        answer = elicitation.read_response(response)
        return await self._answered(call, request, approval_id, answer)

    async def _ask_modern(self, call: HeldCall, fingerprint: str) -> Respond:
        passage = call.passage
        request = passage.request
        assert request.id is not None
        inner = elicitation.request_state(request.params)
        timeout = passage.decision.approval_timeout_seconds or DEFAULT_TIMEOUT
        sealed = SealedState(
            fingerprint=fingerprint,
            nonce=new_nonce(),
            expires_at=self.clock.now() + timeout,
            approved=False,
            inner=inner if isinstance(inner, str) else None,
        )
        placeholder = _placeholder(
            _nonce_id(sealed.nonce), self._request(call, fingerprint, "inline"), self.clock.now()
        )
        await self._event("requested", placeholder, call)
        data = elicitation.input_required(
            request.id, self._question(call), self.sealer.seal(sealed)
        )
        return await passage.answer(data, "approval_pending", "asked the client's user")

    async def _modern_retry(self, call: HeldCall, fingerprint: str, mode: str) -> Outcome:
        """A 2026-07-28 retry carrying a state toolgate sealed: the user's answer to toolgate's
        question, or an approved call's next round with its upstream."""
        passage = call.passage
        params = passage.request.params
        assert isinstance(params, Mapping)
        opened = self.sealer.open(params.get("requestState"))
        if isinstance(opened, StateRefusal):
            return await passage.deny(
                f"the approval state of this retry is not valid: {opened.reason}"
            )
        if opened.fingerprint != fingerprint:
            return await passage.deny(
                "this retry differs from the call that was approved (tool, arguments, rule or "
                "policy changed); a new approval is needed"
            )
        request = self._request(call, fingerprint, "inline")
        if opened.approved:
            answer: Answer | None = Answer.APPROVED
        else:
            answer = elicitation.read_answer(elicitation.own_input_response(params))
        by = self._in_band_by(call)
        approved = answer is Answer.APPROVED
        recorded = await self.store.record_answered(
            _nonce_id(opened.nonce), request, approved=approved, by=by, now=self.clock.now()
        )
        if recorded is None:
            return await passage.deny("this approval answer was already used; a new one is needed")
        if not opened.approved:
            await self._event("approved" if approved else "denied", recorded, call, by=by)
        if not approved:
            return await passage.deny(_declined_text(answer))
        await self._event("consumed", recorded, call)
        forwarded = encode(
            {**passage.request.obj, "params": elicitation.without_own_input(params, opened.inner)}
        )
        return await passage.forward(
            data=forwarded, wrap=self._wrap_upstream_state(fingerprint, opened), reason="approved"
        )

    def _wrap_upstream_state(self, fingerprint: str, opened: SealedState) -> ResponseHook:
        """When the upstream of an approved call asks its own question, its state is sealed in
        one of toolgate's, so the client's next round is known to be approved already."""

        async def wrap(response: Message) -> bytes | None:
            result = response.obj.get("result")
            if not elicitation.is_input_required(result):
                return None
            assert isinstance(result, dict)
            inner = result.get("requestState")
            sealed = SealedState(
                fingerprint=fingerprint,
                nonce=new_nonce(),
                expires_at=opened.expires_at,
                approved=True,
                inner=inner if isinstance(inner, str) else None,
            )
            rewritten = {**result, "requestState": self.sealer.seal(sealed)}
            assert response.id is not None
            return result_response(response.id, rewritten)

        return wrap

    async def _answered(
        self, call: HeldCall, request: ApprovalRequest, approval_id: str, answer: Answer | None
    ) -> Forward | Respond:
        by = self._in_band_by(call)
        approved = answer is Answer.APPROVED
        recorded = await self.store.record_answered(
            approval_id, request, approved=approved, by=by, now=self.clock.now()
        )
        if recorded is None:  # pragma: no cover - a fresh random id
            return await call.passage.deny("this approval could not be recorded")
        if answer is None:
            await self._event("expired", recorded, call, reason="no answer from the client")
            return await call.passage.deny(
                f"no answer to the approval question within {_span(request.timeout_seconds)}"
            )
        await self._event("approved" if approved else "denied", recorded, call, by=by)
        if not approved:
            return await call.passage.deny(_declined_text(answer))
        await self._event("consumed", recorded, call)
        return await call.passage.forward(reason="approved")

    # pieces ------------------------------------------------------------------------------------

    def _identity(self, call: HeldCall) -> str | None:
        return call.session.identity or self.settings.identity

    def _in_band_by(self, call: HeldCall) -> str:
        who = self._identity(call)
        return f"in-band:{who}" if who else f"in-band:{call.session.id}"

    def _request(self, call: HeldCall, fingerprint: str, mode: str) -> ApprovalRequest:
        """What the store keeps. An answer given in-band is kept under a fingerprint of its
        own: it is the record of one question, never an approval a later call could meet."""
        passage = call.passage
        decision = passage.decision
        return ApprovalRequest(
            fingerprint=f"in-band:{fingerprint}" if mode == "inline" else fingerprint,
            tool=call.tool,
            arguments=self._shown.arguments(call.arguments),
            rule_id=decision.rule_id or "",
            rule_name=decision.rule_name,
            policy_revision=call.policy.revision,
            identity=self._identity(call),
            server=self.settings.server,
            session=None if call.session.stateless else call.session.id,
            message=decision.message,
            decision_id=passage.event.decision_id,
            mode=mode,
            timeout_seconds=decision.approval_timeout_seconds or DEFAULT_TIMEOUT,
        )

    def _question(self, call: HeldCall) -> str:
        shown = orjson.dumps(self._shown.arguments(call.arguments)).decode()
        if len(shown) > SHOWN_ARGUMENTS:
            shown = shown[:SHOWN_ARGUMENTS] + "…"
        return f'{call.passage.decision.message}. Allow tool "{call.tool}" with arguments {shown}?'

    async def _event(
        self,
        change: Literal["requested", "joined", "approved", "denied", "consumed", "expired"],
        approval: Approval,
        call: HeldCall,
        *,
        by: str | None = None,
        reason: str | None = None,
    ) -> None:
        await self.audit.approval_changed(
            change, approval, decision_id=call.passage.event.decision_id, by=by, reason=reason
        )


def _placeholder(approval_id: str, request: ApprovalRequest, now: float) -> Approval:
    """An in-band approval before its answer is recorded (for its `requested` event)."""
    return Approval(
        approval_id, request, ApprovalStatus.PENDING, now, now + request.timeout_seconds
    )


def _new_id() -> str:
    return f"apr_{secrets.token_hex(8)}"


def _nonce_id(nonce: str) -> str:
    """The approval id of an in-band answer: derived from its single-use nonce, so a replayed
    answer finds its id taken."""
    return f"apr_{nonce[:16]}"


def _denied_text(approval: Approval) -> str:
    who = f" by {approval.resolved_by}" if approval.resolved_by else ""
    why = f": {approval.reason}" if approval.reason else ""
    return (
        f"approval {approval.id} was denied{who}{why}; retries are refused until "
        f"{_when(approval.expires_at)}"
    )


def _declined_text(answer: Answer | None) -> str:
    if answer is Answer.CANCELLED:
        return "the approval question was dismissed; the call was not made"
    if answer is Answer.INVALID:
        return "the answer to the approval question could not be read; the call was not made"
    return "the user declined this call"


def _progress_token(params: object) -> str | int | None:
    meta = params.get("_meta") if isinstance(params, Mapping) else None
    token = meta.get("progressToken") if isinstance(meta, Mapping) else None
    if isinstance(token, str) or (isinstance(token, int) and not isinstance(token, bool)):
        return token
    return None


def _progress(token: str | int, beats: int, approval_id: str) -> bytes:
    message: dict[str, Any] = {
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {
            "progressToken": token,
            "progress": beats,
            "message": f"waiting for a human to approve {approval_id}",
        },
    }
    return encode(message)


def _when(epoch: float) -> str:
    return timestamp(epoch)[:19] + "Z"


def _span(seconds: float) -> str:
    whole = math.ceil(seconds)
    if whole % 3600 == 0 and whole:
        return f"{whole // 3600}h"
    if whole % 60 == 0 and whole:
        return f"{whole // 60}m"
    return f"{whole}s"
