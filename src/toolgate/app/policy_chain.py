"""The interceptors every gateway face puts a policy to work with, in their order: tool pins,
then the policy on tools/call and tools/list, then resources and prompts. One place builds
them for `toolgate run` and `toolgate serve` alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import anyio

from toolgate.audit.recorder import AuditRecorder
from toolgate.audit.redact import Redactor
from toolgate.catalog.pins_keeper import PinKeeper
from toolgate.clock import Clock
from toolgate.interceptors.enforcement import EnforcementSettings, PolicyEnforcer
from toolgate.interceptors.pinning import PinGuard
from toolgate.interceptors.policy_source import POLL_SECONDS, PolicySource
from toolgate.interceptors.surfaces import SurfaceGuard
from toolgate.pipeline.types import Interceptor
from toolgate.quota.ledger import Ledger


@dataclass(frozen=True, slots=True)
class PolicyChain:
    enforcer: PolicyEnforcer
    interceptors: tuple[Interceptor, ...]


def policy_chain(
    source: PolicySource,
    ledger: Ledger,
    recorder: AuditRecorder,
    keeper: PinKeeper,
    clock: Clock,
    settings: EnforcementSettings,
) -> PolicyChain:
    """`settings.identity` is the gateway's own caller name (stdio); an HTTP session's
    identity, when it has one, takes its place call by call."""
    enforcer = PolicyEnforcer(source, ledger, recorder, clock, settings)
    return PolicyChain(
        enforcer,
        (
            PinGuard(source, keeper, recorder, clock, settings.identity),
            enforcer,
            SurfaceGuard(source, recorder, clock, settings.identity),
        ),
    )


def audit_redactor(
    include_args: bool, paths: Sequence[str], patterns: Sequence[str]
) -> Redactor | None:
    """What masks argument values in the log, or None when values are not logged at all."""
    if not include_args:
        return None
    return Redactor.build(paths, patterns)


Watched = Callable[[], Iterable[tuple[AuditRecorder, Iterable[PolicySource]]]]


async def watch_policies(watched: Watched) -> None:
    """Poll every policy file and write its load events at once, even when no call arrives:
    `watched` lists, each time, the recorders and the policy sources whose events they write."""
    while True:
        await anyio.sleep(POLL_SECONDS)
        for recorder, sources in watched():
            for source in list(sources):
                source.current()
            await recorder.flush()
