"""The ApprovalStore contract: approval requests a human resolves, and their single use.

An approval is asked for one call, named by its fingerprint (tool, canonical arguments, rule,
policy revision, identity, server). Its life:

    pending ──approve──▶ approved ──consume──▶ consumed
       │  └──deny────▶ denied
       └──(expires_at passes)──▶ expired      (approved and denied ones expire too)

`expires_at` is when a pending request lapses; once resolved it is reset to `resolved_at +
timeout_seconds`, the time the agent has to retry an approved call (or during which retries of a
denied one are answered with the denial). Consumption is atomic, also across processes sharing
the store: of any number of simultaneous retries of one approved call, exactly one consumes it.

Stores keep times as given (epoch seconds from the caller's clock) and never read a clock
themselves, so tests drive expiry with a fake clock.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    CONSUMED = "consumed"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """What the gateway asks a human to approve."""

    fingerprint: str  # toolgate.approvals.fingerprint: binds every field that matters
    tool: str
    arguments: Mapping[str, Any]  # shown to the approver; the caller has masked secrets already
    rule_id: str
    rule_name: str | None
    policy_revision: str
    identity: str | None  # who asked (a grant label or --identity); None when anonymous
    server: str | None  # the named server of `toolgate serve`; None for `toolgate run`
    session: str | None
    message: str  # why approval is needed: the rule's on_deny or the engine's message
    decision_id: str  # the audit decision that asked
    mode: str  # "inline", "queue" or "hold": how the request is being answered
    timeout_seconds: float  # how long it waits, and how long its resolution then stays usable


@dataclass(frozen=True, slots=True)
class Approval:
    """One approval request and what became of it."""

    id: str  # "apr_" + 16 lowercase hex digits
    request: ApprovalRequest
    status: ApprovalStatus
    created_at: float
    expires_at: float
    resolved_at: float | None = None
    resolved_by: str | None = None
    reason: str | None = None
    consumed_at: float | None = None
    joined: int = 0  # identical requests that shared this one (dedupe)

    @property
    def fingerprint(self) -> str:
        return self.request.fingerprint


class ApprovalError(Exception):
    """Base of what resolving an approval can refuse; the message is shown to the person."""


class ApprovalNotFound(ApprovalError):  # noqa: N818 - reads as what happened
    pass


class ApprovalNotPending(ApprovalError):  # noqa: N818 - reads as what happened
    """It was already approved, denied, consumed or has expired."""

    def __init__(self, approval: Approval) -> None:
        super().__init__(f"approval {approval.id} is {approval.status.value}, not pending")
        self.approval = approval


class SelfApprovalError(ApprovalError):
    """An identity tried to resolve its own request."""


class ApprovalStore(Protocol):
    """Pending and resolved approvals. Implementations: memory, SQLite (the embedded default,
    shared by the gateway and `toolgate approvals …`), Redis."""

    async def request(
        self, request: ApprovalRequest, *, dedupe_seconds: float | None, now: float
    ) -> tuple[Approval, bool]:
        """Open a pending approval for `request`, or join the newest pending, unexpired one with
        the same fingerprint (created within `dedupe_seconds` of `now`, when given; joining
        increments `joined`). Returns the approval and whether it was created."""
        ...

    async def current(self, fingerprint: str, now: float) -> Approval | None:
        """What a retry of the call `fingerprint` names would meet: the newest unexpired
        approval for it that is pending, approved (not yet consumed) or denied. Lapsed ones are
        marked expired on the way and never returned."""
        ...

    async def get(self, approval_id: str, now: float) -> Approval | None:
        """One approval by id (marked expired first if it has lapsed); None when unknown."""
        ...

    async def list(
        self, *, now: float, status: ApprovalStatus | None = None, limit: int = 100
    ) -> list[Approval]:
        """The newest first, lapsed ones marked expired first."""
        ...

    async def resolve(
        self, approval_id: str, *, approve: bool, by: str, reason: str | None, now: float
    ) -> Approval:
        """Approve or deny a pending approval. Raises ApprovalNotFound, ApprovalNotPending (also
        when it has lapsed, after marking it expired) or SelfApprovalError when `by` is the
        identity that asked. Atomic: of two simultaneous resolutions one wins, the other gets
        ApprovalNotPending."""
        ...

    async def consume(self, approval_id: str, now: float) -> Approval | None:
        """Use an approved, unexpired, unconsumed approval: atomically mark it consumed and
        return it; None when it is not (or no longer) usable. Exactly-once across processes."""
        ...

    async def record_answered(
        self,
        approval_id: str,
        request: ApprovalRequest,
        *,
        approved: bool,
        by: str,
        now: float,
    ) -> Approval | None:
        """Record a request answered in-band (the client asked its user): stored already
        resolved — consumed when approved, denied otherwise. None when `approval_id` exists
        already (a replayed answer: the caller refuses it)."""
        ...

    async def expire(self, now: float) -> builtins.list[Approval]:
        """Mark every lapsed pending, approved or denied approval expired (a denied one lapses
        when its refusal period ends); returns those just marked."""
        ...

    async def wait(
        self,
        approval_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 - the protocol's bound on the wait
        now: float,
    ) -> Approval | None:
        """Return as soon as the approval is no longer pending (resolved here or by another
        process sharing the store), or after `timeout` seconds with its state then. None when
        unknown."""
        ...

    async def aclose(self) -> None: ...
