"""Composition root of `toolgate run`: a stdio client face, a stdio child upstream, the policy.

Builds the concrete parts (policy source, counter store, audit sink, child process), wires them
into the relay, forwards signals to the child, and returns the child's exit status.
"""

from __future__ import annotations

import logging
import signal

import anyio

from toolgate.app.counter_store import open_counter_store, prepare_counter_store, window_clock
from toolgate.app.settings import RunSettings
from toolgate.audit.chain import load_chain_key
from toolgate.audit.recorder import AuditRecorder
from toolgate.audit.sink import JsonlAuditSink, load_or_create_salt
from toolgate.catalog.pins_file import PinFile, pin_path
from toolgate.catalog.pins_keeper import PinKeeper
from toolgate.clock import SystemClock
from toolgate.interceptors.enforcement import EnforcementSettings, PolicyEnforcer
from toolgate.interceptors.list_changes import ListChangeAnnouncer
from toolgate.interceptors.pinning import PinGuard
from toolgate.interceptors.policy_source import PolicySource
from toolgate.interceptors.surfaces import SurfaceGuard
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
    key = load_chain_key(settings.audit_key_file)
    sink = JsonlAuditSink(settings.audit_log, key=key, rotation=settings.audit_rotation)
    recorder = AuditRecorder(sink, clock)
    try:
        child = await StdioChild.start(settings.command)
        await prepare_counter_store(store)
        enforcement = EnforcementSettings(
            identity=settings.identity, salt=salt, fail_open=settings.state_fail_mode == "open"
        )
        enforcer = PolicyEnforcer(source, ledger, recorder, clock, enforcement)
        relay = Relay(
            OwnStdio(),
            child,
            [
                PinGuard(source, keeper, recorder, clock, settings.identity),
                enforcer,
                SurfaceGuard(source, recorder, clock, settings.identity),
            ],
            limits=RelayLimits(max_line=settings.max_line),
            advertise_tools_list_changed=True,
        )
        announcer = ListChangeAnnouncer(source, enforcer, relay.session)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_forward_signals, child)
            tg.start_soon(source.watch)
            tg.start_soon(announcer.run)
            await relay.run(on_client_eof=child.shutdown)
            returncode = await child.wait()
            tg.cancel_scope.cancel()
        child.close()
        return exit_status(returncode)
    finally:
        await recorder.aclose()
        await store.aclose()


async def _forward_signals(child: StdioChild) -> None:
    with anyio.open_signal_receiver(*FORWARDED_SIGNALS) as signals:
        async for signum in signals:
            log.info("forwarding signal %s to the upstream server", signal.Signals(signum).name)
            child.forward_signal(signum)
