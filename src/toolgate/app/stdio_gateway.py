"""Composition root of `toolgate run`: a stdio client face, a stdio child upstream, the policy.

Builds the concrete parts (policy source, counter store, audit sink, child process), wires them
into the relay, forwards signals to the child, and returns the child's exit status.
"""

from __future__ import annotations

import logging
import signal

import anyio

from toolgate import __version__
from toolgate.app.approval_parts import ApprovalParts
from toolgate.app.counter_store import open_counter_store, prepare_counter_store, window_clock
from toolgate.app.instances import Registration, register_run
from toolgate.app.observability import run_observability
from toolgate.app.policy_chain import PolicyChain, audit_redactor, policy_chain, watch_policies
from toolgate.app.settings import RunSettings
from toolgate.audit.chain import load_chain_key
from toolgate.audit.fanout import open_sinks, parse_sink_spec
from toolgate.audit.recorder import AuditRecorder
from toolgate.audit.sink import load_or_create_salt
from toolgate.catalog.pins_file import PinFile, pin_path
from toolgate.catalog.pins_keeper import PinKeeper
from toolgate.clock import SystemClock
from toolgate.interceptors.enforcement import EnforcementSettings
from toolgate.interceptors.list_changes import ListChangeAnnouncer
from toolgate.interceptors.policy_source import PolicySource
from toolgate.pipeline.relay import Relay, RelayLimits
from toolgate.quota.ledger import Ledger
from toolgate.transports.own_stdio import OwnStdio
from toolgate.transports.stdio_child import StdioChild, exit_status

log = logging.getLogger("toolgate")

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


async def run_stdio_gateway(settings: RunSettings) -> int:
    """Run until the upstream exits; returns its exit status. Raises ToolgateError subclasses
    (policy, config, upstream) for the CLI to report before anything starts."""
    source = PolicySource(settings.policy)
    store = open_counter_store(
        settings.counter_store_url, prefix=settings.state_prefix, server_time=True
    )
    clock = SystemClock()
    ledger = Ledger(store, settings.counter_namespace, window_clock(store, clock))
    salt = load_or_create_salt(settings.state_dir / "audit-salt")
    namespace = settings.counter_namespace
    pins = PinFile(pin_path(settings.state_dir, namespace), namespace)
    keeper = PinKeeper(pins, clock.now, required=source.current().pin != "off")
    sink = open_sinks(
        [parse_sink_spec(spec) for spec in settings.audit_sinks],
        default_log=settings.audit_log,
        key=load_chain_key(settings.audit_key_file),
        rotation=settings.audit_rotation,
    )
    recorder = AuditRecorder(
        sink,
        clock,
        redactor=audit_redactor(
            settings.audit_include_args,
            settings.audit_redact_paths,
            settings.audit_redact_patterns,
        ),
        store_url=settings.counter_store_url,
        fail_mode=settings.state_fail_mode,
    )
    policy = source.current()
    await recorder.started(
        version=__version__,
        server=list(settings.command) or [settings.upstream_url or ""],
        policy_revision=policy.revision,
    )
    _log_policy_loads(source, recorder)
    approvals = ApprovalParts.open(
        settings.state_dir, settings.counter_store_url, settings.state_prefix, clock, [policy]
    )
    watcher = approvals.watcher(recorder, source.current)
    observability = run_observability(settings, sink, recorder, approvals.pending_count)
    registration = register_run(settings, recorder.instance, policy.revision, clock)
    status: int | None = None
    try:
        if settings.upstream_url is not None:
            await prepare_counter_store(store)
            chain = _chain(settings, source, ledger, recorder, keeper, salt)
            approvals.attach(chain.enforcer, watcher, identity=settings.identity)
            status = await _relay_to_url(settings, chain, registration, approvals)
            return status
        child = await StdioChild.start(settings.command)
        await prepare_counter_store(store)
        chain = _chain(settings, source, ledger, recorder, keeper, salt)
        approvals.attach(chain.enforcer, watcher, identity=settings.identity)
        relay = Relay(
            OwnStdio(),
            child,
            chain.interceptors,
            limits=RelayLimits(max_line=settings.max_line),
            advertise_tools_list_changed=True,
        )
        announcer = ListChangeAnnouncer(source, chain.enforcer, relay.session)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_forward_signals, child)
            tg.start_soon(watch_policies, lambda: [(recorder, [source])])
            tg.start_soon(registration.heartbeat)
            tg.start_soon(announcer.run)
            tg.start_soon(approvals.run)
            await relay.run(on_client_eof=child.shutdown)
            returncode = await child.wait()
            tg.cancel_scope.cancel()
        child.close()
        status = exit_status(returncode)
        return status
    finally:
        registration.close()
        await recorder.stopped(status)
        await recorder.aclose()
        await observability.aclose()
        await approvals.aclose()
        await store.aclose()


def _chain(
    settings: RunSettings,
    source: PolicySource,
    ledger: Ledger,
    recorder: AuditRecorder,
    keeper: PinKeeper,
    salt: bytes,
) -> PolicyChain:
    enforcement = EnforcementSettings(
        identity=settings.identity, salt=salt, fail_open=settings.state_fail_mode == "open"
    )
    return policy_chain(source, ledger, recorder, keeper, SystemClock(), enforcement)


async def _relay_to_url(
    settings: RunSettings, chain: PolicyChain, registration: Registration, approvals: ApprovalParts
) -> int:
    """The stdio face in front of a remote server (`--upstream URL`); 0 when the client ends."""
    # imported here: a gateway in front of a command never loads the HTTP client
    from toolgate.transports.http_upstream import HttpUpstream  # noqa: PLC0415
    from toolgate.transports.upstream_endpoint import UpstreamEndpoint  # noqa: PLC0415

    assert settings.upstream_url is not None
    remote = HttpUpstream(
        settings.upstream_url,
        headers=dict(settings.upstream_headers),
        transport=settings.upstream_transport,  # type: ignore[arg-type]
    )
    async with remote, UpstreamEndpoint(remote.open_session()) as upstream:
        relay = Relay(
            OwnStdio(),
            upstream,
            chain.interceptors,
            limits=RelayLimits(max_line=settings.max_line),
            advertise_tools_list_changed=True,
        )
        enforcer = chain.enforcer
        announcer = ListChangeAnnouncer(enforcer.source, enforcer, relay.session)
        async with anyio.create_task_group() as tg:
            tg.start_soon(announcer.run)
            tg.start_soon(registration.heartbeat)
            tg.start_soon(approvals.run)
            await relay.run(on_client_eof=upstream.aclose)
            tg.cancel_scope.cancel()
    return 0


def _log_policy_loads(source: PolicySource, recorder: AuditRecorder) -> None:
    """The initial load's event now, and one per reload (or failed reload) from here on."""
    policy = source.current()
    recorder.policy_loaded(
        load="initial", path=str(source.path), revision=policy.revision, in_force=None, errors=[]
    )
    source.on_load(
        lambda revision, in_force, errors: recorder.policy_loaded(
            load="reload",
            path=str(source.path),
            revision=revision,
            in_force=in_force,
            errors=errors,
        )
    )


async def _forward_signals(child: StdioChild) -> None:
    with anyio.open_signal_receiver(*FORWARDED_SIGNALS) as signals:
        async for signum in signals:
            log.info("forwarding signal %s to the upstream server", signal.Signals(signum).name)
            child.forward_signal(signum)
