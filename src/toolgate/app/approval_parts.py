"""The approval machinery of one gateway process: the store, the key that seals in-band state,
the webhook notifiers, and the per-server watchers — built once, shared by every policy chain.

The store is the SQLite file under the state directory (shared with `toolgate approvals …`), or
Redis when the counter store is Redis, so every replica sees every approval.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from toolgate.approvals.keys import approval_key
from toolgate.approvals.request_state import StateSealer
from toolgate.audit.recorder import AuditRecorder
from toolgate.clock import Clock
from toolgate.errors import ConfigError, StoreError
from toolgate.interceptors.approval_flow import ApprovalDesk, ApprovalSettings, NoticeKind
from toolgate.interceptors.approval_watch import ApprovalWatcher
from toolgate.interceptors.enforcement import PolicyEnforcer
from toolgate.policy.model import Approvals, Policy
from toolgate.stores.approvals import Approval, ApprovalStatus, ApprovalStore
from toolgate.stores.approvals_sqlite import SqliteApprovalStore, approvals_path
from toolgate.stores.redis_url import is_redis_url

if TYPE_CHECKING:
    from toolgate.approvals.webhook import WebhookNotifier

log = logging.getLogger("toolgate.approvals")

COUNT_SECONDS = 5.0
COUNT_LIMIT = 100_000


def open_approval_store(state_dir: Path, counter_store_url: str, prefix: str) -> ApprovalStore:
    """Redis when the counters are in Redis (so replicas share approvals), else SQLite."""
    if is_redis_url(counter_store_url):
        # imported here: the Redis client is heavy and most gateways never use it
        from toolgate.stores.approvals_redis import RedisApprovalStore  # noqa: PLC0415

        return RedisApprovalStore.from_url(counter_store_url.strip(), prefix=f"{prefix}:")
    return SqliteApprovalStore(approvals_path(None, state_dir))


def check_webhook_secrets(policies: list[Policy], environ: Mapping[str, str] | None = None) -> None:
    """A policy that announces approvals by webhook needs its signing secret: refuse to start
    without it rather than send unsigned notices."""
    env = os.environ if environ is None else environ
    for policy in policies:
        config = policy.approvals
        if config is None or config.webhook_url is None:
            continue
        if not env.get(config.webhook_secret_env):
            raise ConfigError(
                f"{policy.file}: approvals.notify.webhook needs its signing secret in the "
                f"environment variable {config.webhook_secret_env}, which is not set"
            )


@dataclass(slots=True)
class Notices:
    """One webhook notifier per configured endpoint, made on first use (a reloaded policy may
    name a new one) and run in the gateway's task group."""

    clock: Clock
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _notifiers: dict[tuple[str, str, str, str | None], WebhookNotifier] = field(
        default_factory=dict
    )
    _tasks: TaskGroup | None = None
    _missing: set[str] = field(default_factory=set)

    def announce(self, kind: NoticeKind, approval: Approval, config: Approvals) -> None:
        if config.webhook_url is None:
            return
        key = (config.webhook_url, config.webhook_format, config.webhook_secret_env,
               config.review_url)  # fmt: skip
        notifier = self._notifiers.get(key)
        if notifier is None:
            secret = self.environ.get(config.webhook_secret_env)
            if not secret:
                if config.webhook_secret_env not in self._missing:
                    self._missing.add(config.webhook_secret_env)
                    log.error(
                        "approval notices are not sent: the webhook secret variable %s is unset",
                        config.webhook_secret_env,
                    )
                return
            # imported here: the HTTP client stack loads only when a policy has a webhook
            from toolgate.approvals.webhook import WebhookNotifier  # noqa: PLC0415

            notifier = WebhookNotifier(
                config.webhook_url,
                secret.encode(),
                self.clock,
                slack=config.webhook_format == "slack",
                review_url=config.review_url,
            )
            self._notifiers[key] = notifier
            if self._tasks is not None:
                self._tasks.start_soon(notifier.run)
        notifier.submit(kind, approval)

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            self._tasks = tg
            for notifier in self._notifiers.values():
                tg.start_soon(notifier.run)
            await anyio.sleep_forever()

    async def aclose(self) -> None:
        for notifier in self._notifiers.values():
            await notifier.aclose()


class ApprovalParts:
    """What every policy chain of this process uses to ask for approvals."""

    def __init__(self, store: ApprovalStore, state_dir: Path, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.sealer = StateSealer(approval_key(state_dir), clock)
        self.notices = Notices(clock)
        self.watchers: list[tuple[ApprovalWatcher, str | None]] = []
        self.pending = 0  # pending approvals in the store, counted every COUNT_SECONDS

    @classmethod
    def open(
        cls,
        state_dir: Path,
        counter_store_url: str,
        prefix: str,
        clock: Clock,
        policies: list[Policy],
    ) -> ApprovalParts:
        """Check the policies' webhook secrets, then open the store and the sealing key."""
        check_webhook_secrets(policies)
        return cls(open_approval_store(state_dir, counter_store_url, prefix), state_dir, clock)

    def watcher(
        self, recorder: AuditRecorder, policy: Callable[[], Policy], server: str | None = None
    ) -> ApprovalWatcher:
        """One per audit recorder (per served server): it logs the resolutions it sees."""
        watcher = ApprovalWatcher(
            self.store,
            recorder,
            self.clock,
            on_resolved=lambda approval, config: self.notices.announce(
                "approval_resolved", approval, config
            ),
            config=lambda: policy().approvals,
        )
        self.watchers.append((watcher, server))
        return watcher

    def attach(
        self,
        enforcer: PolicyEnforcer,
        watcher: ApprovalWatcher,
        *,
        server: str | None = None,
        identity: str | None = None,
    ) -> None:
        """Let `enforcer` answer require_approval decisions."""
        enforcer.approvals = ApprovalDesk(
            self.store,
            self.sealer,
            watcher.audit,
            self.clock,
            ApprovalSettings(server=server, identity=identity),
            announce=self.notices.announce,
            watcher=watcher,
        )

    async def run(self) -> None:
        """The background work: notifier deliveries and every watcher's sweep."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.notices.run)
            for watcher, server in self.watchers:
                tg.start_soon(watcher.run, server)
            tg.start_soon(self._count_pending)

    def pending_count(self) -> int:
        return self.pending

    async def _count_pending(self) -> None:
        while True:
            try:
                found = await self.store.list(
                    now=self.clock.now(), status=ApprovalStatus.PENDING, limit=COUNT_LIMIT
                )
                self.pending = len(found)
            except StoreError as exc:
                log.warning("could not count pending approvals: %s", exc)
            await anyio.sleep(COUNT_SECONDS)

    async def aclose(self) -> None:
        await self.notices.aclose()
        await self.store.aclose()
