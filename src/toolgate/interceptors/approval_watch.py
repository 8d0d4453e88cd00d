"""Noticing what happens to approvals outside the call that asked for them.

A person resolves an approval with `toolgate approvals`, the page or the API — perhaps in another
process or on another replica sharing the store — and approvals lapse unused. The gateway that
asked keeps track of its pending approvals and, on a short poll (and whenever a retry meets a
resolved approval first), writes the `approved` / `denied` / `expired` audit event and sends the
`approval_resolved` notice, exactly once per approval in this process.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from toolgate.audit.recorder import AuditRecorder
from toolgate.clock import Clock
from toolgate.errors import StoreError
from toolgate.policy.model import Approvals
from toolgate.stores.approvals import Approval, ApprovalStatus, ApprovalStore

log = logging.getLogger("toolgate.approvals")

SWEEP_SECONDS = 1.0
ADOPT_LIMIT = 1000
REPORTED_MEMORY = 4096
Resolved = Callable[[Approval, Approvals], None]


@dataclass(slots=True)
class _Tracked:
    approval: Approval
    config: Approvals


class ApprovalWatcher:
    def __init__(
        self,
        store: ApprovalStore,
        audit: AuditRecorder,
        clock: Clock,
        on_resolved: Resolved | None = None,
        config: Callable[[], Approvals | None] | None = None,
    ) -> None:
        self.store = store
        self.audit = audit
        self.clock = clock
        self.on_resolved = on_resolved
        self.config = config or (lambda: None)  # the approvals block of the policy in force
        self._tracked: dict[str, _Tracked] = {}
        self._reported: OrderedDict[str, None] = OrderedDict()

    async def adopt(self, server: str | None) -> None:
        """Watch the approvals still pending from an earlier run of this server's gateway."""
        for approval in await self.store.list(now=self.clock.now(), status=ApprovalStatus.PENDING,
                                              limit=ADOPT_LIMIT):  # fmt: skip
            if approval.request.server == server and approval.id not in self._tracked:
                config = self.config()
                if config is not None:
                    self.track(approval, config)

    @property
    def tracked(self) -> int:
        return len(self._tracked)

    def track(self, approval: Approval, config: Approvals) -> None:
        if approval.status is ApprovalStatus.PENDING:
            self._tracked[approval.id] = _Tracked(approval, config)

    async def settle(self, approval: Approval) -> None:
        """Report `approval`'s resolution now if it is one this gateway waits on."""
        if approval.status is ApprovalStatus.PENDING or approval.id in self._reported:
            return
        tracked = self._tracked.pop(approval.id, None)
        await self._report(approval, tracked.config if tracked else self.config())

    async def sweep(self) -> None:
        now = self.clock.now()
        for approval_id in list(self._tracked):
            current = await self.store.get(approval_id, now)
            if current is None:
                self._tracked.pop(approval_id, None)
            elif current.status is not ApprovalStatus.PENDING:
                await self.settle(current)
        for lapsed in await self.store.expire(now):
            tracked = self._tracked.pop(lapsed.id, None)
            await self._report(lapsed, tracked.config if tracked else None)

    async def run(self, server: str | None = None) -> None:
        try:
            await self.adopt(server)
        except StoreError as exc:
            log.warning("could not read pending approvals: %s", exc)
        while True:
            await anyio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except StoreError as exc:
                log.warning("could not check approvals: %s", exc)

    async def _report(self, approval: Approval, config: Approvals | None) -> None:
        self._reported[approval.id] = None
        if len(self._reported) > REPORTED_MEMORY:
            self._reported.popitem(last=False)
        change = {
            ApprovalStatus.APPROVED: "approved",
            ApprovalStatus.CONSUMED: "approved",
            ApprovalStatus.DENIED: "denied",
        }.get(approval.status, "expired")
        await self.audit.approval_changed(
            change,  # type: ignore[arg-type]
            approval,
            decision_id=approval.request.decision_id,
            by=approval.resolved_by,
            reason=approval.reason,
        )
        if config is not None and self.on_resolved is not None:
            self.on_resolved(approval, config)
