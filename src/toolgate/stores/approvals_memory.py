"""MemoryApprovalStore: approvals in this process only, for unit tests and for a gateway run
without a state directory.

It is the reference the SQLite and Redis stores are held to, and it holds the pieces they share:
approval ids, the argument codec (JSON that keeps numbers exact, so every backend hands back the
same values) and `Wakeups`, the in-process signal a `wait` gets the moment `resolve` runs in the
same store.

Finished approvals (consumed, or expired) are forgotten `RETENTION_SECONDS` after they ended, when
`expire` runs; the Redis store lets its keys expire after the same period.
"""

from __future__ import annotations

import builtins
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import anyio

from toolgate.errors import StoreError
from toolgate.jsonrpc.message import decode_exact, encode
from toolgate.stores.approvals import (
    Approval,
    ApprovalError,
    ApprovalNotFound,
    ApprovalNotPending,
    ApprovalRequest,
    ApprovalStatus,
    SelfApprovalError,
)

RETENTION_SECONDS = 7 * 86_400.0  # how long a finished approval is kept after it ended
APPROVAL_ID_RE = re.compile(r"apr_[0-9a-f]{16}")
LIVE = frozenset({ApprovalStatus.PENDING, ApprovalStatus.APPROVED, ApprovalStatus.DENIED})
POLL_SECONDS = 0.1  # how often a `wait` looks for a change made by another process


def new_approval_id() -> str:
    """A fresh id: "apr_" and 16 random lowercase hex digits (64 bits)."""
    return "apr_" + secrets.token_hex(8)


def check_approval_id(approval_id: str) -> None:
    """ValueError unless `approval_id` has the form every store issues."""
    if not isinstance(approval_id, str) or APPROVAL_ID_RE.fullmatch(approval_id) is None:
        raise ValueError(
            f"approval id {approval_id!r} is malformed: expected apr_ and 16 lowercase hex digits"
        )


def check_request(request: ApprovalRequest) -> None:
    """ValueError when a request could not be kept faithfully (its times, its fingerprint)."""
    if not isinstance(request.fingerprint, str) or not request.fingerprint:
        raise ValueError("an approval request needs a non-empty fingerprint")
    timeout = request.timeout_seconds
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ValueError(f"timeout_seconds must be a number, got {type(timeout).__name__}")
    if not (math.isfinite(timeout) and timeout >= 0):
        raise ValueError(f"timeout_seconds must be finite and not negative, got {timeout}")


def check_now(now: float) -> None:
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise ValueError(f"now must be a finite number of epoch seconds, got {now!r}")


def check_dedupe(dedupe_seconds: float | None) -> None:
    if dedupe_seconds is None:
        return
    if not (isinstance(dedupe_seconds, int | float) and dedupe_seconds >= 0):
        raise ValueError(f"dedupe_seconds must be a number >= 0 or None, got {dedupe_seconds!r}")


def check_timeout(timeout: float) -> None:
    if not (isinstance(timeout, int | float) and timeout >= 0):
        raise ValueError(f"a wait timeout must be a number >= 0, got {timeout!r}")


def check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a whole number >= 1, got {limit!r}")


def check_approver(by: str) -> None:
    if not isinstance(by, str) or not by.strip():
        raise ApprovalError("an approval must be resolved by someone: name the approver")


def encode_arguments(arguments: Mapping[str, Any]) -> str:
    """The arguments as JSON text; exact decimals and big integers stay JSON numbers.

    StoreError when they are not JSON (a key that is not text, a value of another type)."""
    try:
        return encode(dict(arguments)).decode()
    except (TypeError, ValueError) as exc:  # not a mapping, or a value JSON has no form for
        raise StoreError(f"approval arguments cannot be stored as JSON: {exc}") from None


def decode_arguments(text: str | bytes, where: str) -> dict[str, Any]:
    """Arguments stored by `encode_arguments`; non-integers come back as Decimal."""
    try:
        value = decode_exact(text)
    except (ValueError, RecursionError) as exc:
        raise StoreError(f"{where}: stored arguments are not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise StoreError(f"{where}: stored arguments are not a JSON object")
    return value


def lapsed(approval: Approval, now: float) -> bool:
    """Whether a live approval's time is up (it is then marked expired)."""
    return approval.status in LIVE and approval.expires_at <= now


class Wakeups:
    """One anyio Event per approval someone waits on; set when it stops being pending here.

    An approval never becomes pending again, so an event, once set, is dropped: later waiters
    read the resolved state directly.
    """

    def __init__(self) -> None:
        self._events: dict[str, anyio.Event] = {}
        self._waiters: dict[str, int] = {}

    def event(self, approval_id: str) -> anyio.Event:
        event = self._events.get(approval_id)
        if event is None:
            event = self._events[approval_id] = anyio.Event()
        self._waiters[approval_id] = self._waiters.get(approval_id, 0) + 1
        return event

    def done_waiting(self, approval_id: str) -> None:
        left = self._waiters.get(approval_id, 1) - 1
        if left > 0:
            self._waiters[approval_id] = left
            return
        self._waiters.pop(approval_id, None)
        self._events.pop(approval_id, None)

    def wake(self, approval_ids: Iterable[str]) -> None:
        for approval_id in approval_ids:
            event = self._events.pop(approval_id, None)
            if event is not None:
                event.set()

    def wake_all(self) -> None:
        self.wake(builtins.list(self._events))


@dataclass(slots=True)
class _Entry:
    approval: Approval
    seq: int  # insertion order: breaks ties between equal created_at


class MemoryApprovalStore:
    """An ApprovalStore in a dict; `wait` wakes as soon as `resolve` runs in this process."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._seq = 0
        self._wakeups = Wakeups()
        self._closed = False

    async def request(
        self, request: ApprovalRequest, *, dedupe_seconds: float | None, now: float
    ) -> tuple[Approval, bool]:
        self._check_open()
        check_request(request)
        check_dedupe(dedupe_seconds)
        check_now(now)
        arguments = decode_arguments(encode_arguments(request.arguments), "memory")
        same = [e for e in self._entries.values() if e.approval.fingerprint == request.fingerprint]
        self._lapse(same, now)
        pending = [e for e in same if e.approval.status is ApprovalStatus.PENDING]
        if pending:
            newest = max(pending, key=_order)
            if dedupe_seconds is None or now - newest.approval.created_at <= dedupe_seconds:
                newest.approval = replace(newest.approval, joined=newest.approval.joined + 1)
                return newest.approval, False
        approval = Approval(
            id=self._free_id(),
            request=replace(request, arguments=arguments),
            status=ApprovalStatus.PENDING,
            created_at=float(now),
            expires_at=float(now) + float(request.timeout_seconds),
        )
        self._add(approval)
        return approval, True

    async def current(self, fingerprint: str, now: float) -> Approval | None:
        self._check_open()
        check_now(now)
        mine = [e for e in self._entries.values() if e.approval.fingerprint == fingerprint]
        self._lapse(mine, now)
        live = [e for e in mine if e.approval.status in LIVE]
        return max(live, key=_order).approval if live else None

    async def get(self, approval_id: str, now: float) -> Approval | None:
        self._check_open()
        check_now(now)
        entry = self._entries.get(approval_id)
        if entry is None:
            return None
        self._lapse([entry], now)
        return entry.approval

    async def list(
        self, *, now: float, status: ApprovalStatus | None = None, limit: int = 100
    ) -> builtins.list[Approval]:
        self._check_open()
        check_now(now)
        check_limit(limit)
        self._lapse(self._entries.values(), now)
        chosen = [
            e for e in self._entries.values() if status is None or e.approval.status is status
        ]
        chosen.sort(key=_order, reverse=True)
        return [e.approval for e in chosen[:limit]]

    async def resolve(
        self, approval_id: str, *, approve: bool, by: str, reason: str | None, now: float
    ) -> Approval:
        self._check_open()
        check_now(now)
        check_approver(by)
        entry = self._entries.get(approval_id)
        if entry is None:
            raise ApprovalNotFound(f"no approval {approval_id}")
        self._lapse([entry], now)
        approval = entry.approval
        if approval.status is not ApprovalStatus.PENDING:
            raise ApprovalNotPending(approval)
        if approval.request.identity is not None and approval.request.identity == by:
            raise SelfApprovalError(f"{by} asked for approval {approval.id} and cannot resolve it")
        entry.approval = replace(
            approval,
            status=ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED,
            resolved_at=float(now),
            resolved_by=by,
            reason=reason,
            expires_at=float(now) + float(approval.request.timeout_seconds),
        )
        self._wakeups.wake([approval.id])
        return entry.approval

    async def consume(self, approval_id: str, now: float) -> Approval | None:
        self._check_open()
        check_now(now)
        entry = self._entries.get(approval_id)
        if entry is None:
            return None
        approval = entry.approval
        if approval.status is not ApprovalStatus.APPROVED or approval.expires_at <= now:
            return None
        entry.approval = replace(approval, status=ApprovalStatus.CONSUMED, consumed_at=float(now))
        return entry.approval

    async def record_answered(
        self,
        approval_id: str,
        request: ApprovalRequest,
        *,
        approved: bool,
        by: str,
        now: float,
    ) -> Approval | None:
        self._check_open()
        check_approval_id(approval_id)
        check_request(request)
        check_now(now)
        check_approver(by)
        arguments = decode_arguments(encode_arguments(request.arguments), "memory")
        if approval_id in self._entries:
            return None
        at = float(now)
        approval = Approval(
            id=approval_id,
            request=replace(request, arguments=arguments),
            status=ApprovalStatus.CONSUMED if approved else ApprovalStatus.DENIED,
            created_at=at,
            expires_at=at + float(request.timeout_seconds),
            resolved_at=at,
            resolved_by=by,
            consumed_at=at if approved else None,
        )
        self._add(approval)
        return approval

    async def expire(self, now: float) -> builtins.list[Approval]:
        self._check_open()
        check_now(now)
        marked = self._lapse(self._entries.values(), now)
        self._forget(now)
        return marked

    async def wait(
        self,
        approval_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 - the protocol's bound on the wait, not a cancellation
        now: float,
    ) -> Approval | None:
        check_timeout(timeout)
        approval = await self.get(approval_id, now)
        if approval is None or approval.status is not ApprovalStatus.PENDING:
            return approval
        event = self._wakeups.event(approval_id)
        try:
            with anyio.move_on_after(timeout):
                await event.wait()
        finally:
            self._wakeups.done_waiting(approval_id)
        return await self.get(approval_id, now)

    async def aclose(self) -> None:
        self._closed = True
        self._wakeups.wake_all()

    def _add(self, approval: Approval) -> None:
        self._seq += 1
        self._entries[approval.id] = _Entry(approval, self._seq)

    def _free_id(self) -> str:
        while True:
            candidate = new_approval_id()
            if candidate not in self._entries:
                return candidate

    def _lapse(self, entries: Iterable[_Entry], now: float) -> builtins.list[Approval]:
        """Mark the lapsed ones among `entries` expired; return them, oldest first."""
        marked: builtins.list[_Entry] = []
        for entry in builtins.list(entries):
            if lapsed(entry.approval, now):
                entry.approval = replace(entry.approval, status=ApprovalStatus.EXPIRED)
                marked.append(entry)
        marked.sort(key=_order)
        self._wakeups.wake(e.approval.id for e in marked)
        return [e.approval for e in marked]

    def _forget(self, now: float) -> None:
        for approval_id, entry in builtins.list(self._entries.items()):
            approval = entry.approval
            ended = (
                approval.consumed_at if approval.consumed_at is not None else approval.expires_at
            )
            final = approval.status in (ApprovalStatus.CONSUMED, ApprovalStatus.EXPIRED)
            if final and ended + RETENTION_SECONDS <= now:
                del self._entries[approval_id]

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the in-memory approval store is closed")


def _order(entry: _Entry) -> tuple[float, int]:
    return (entry.approval.created_at, entry.seq)
