"""Composition root of `toolgate serve` (and `toolgate run --listen`): the HTTP face in front of
every configured server, each with its own policy, counters, pins and audit identity.

Builds the concrete parts from a `GatewayConfig` — counter store, audit sink, authenticator,
upstream factories, one interceptor chain per policy file (a grant may carry its own) — and runs
them under uvicorn until SIGTERM/SIGINT, finishing in-flight calls within the grace period.
"""

from __future__ import annotations

import functools
import logging
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolgate import __version__
from toolgate.app.approval_parts import ApprovalParts, check_webhook_secrets
from toolgate.app.counter_store import open_counter_store, prepare_counter_store, window_clock
from toolgate.app.gateway_config import GatewayConfig, ServerConfig
from toolgate.app.gateway_parts import (
    make_authenticator,
    make_upstreams,
    oauth_settings,
)
from toolgate.app.instances import Registration, register_serve
from toolgate.app.observability import Observability, build_observability
from toolgate.app.policy_chain import Watched, audit_redactor, policy_chain, watch_policies
from toolgate.audit.chain import load_chain_key
from toolgate.audit.fanout import open_sinks, parse_sink_spec
from toolgate.audit.recorder import AuditRecorder
from toolgate.audit.sink import AuditSink, load_or_create_salt
from toolgate.catalog.pins_file import PinFile, pin_path
from toolgate.catalog.pins_keeper import PinKeeper
from toolgate.clock import Clock, SystemClock
from toolgate.errors import ConfigError
from toolgate.httpface.aggregate import AggregateRouter, Member, NoUpstream
from toolgate.httpface.app import build_app
from toolgate.httpface.guard import FaceLimits
from toolgate.httpface.served import Face, ServedServer
from toolgate.httpface.server import serve
from toolgate.httpface.sessions import SessionTable
from toolgate.identity.principal import Principal
from toolgate.identity.resource_metadata import (
    gateway_metadata,
    server_metadata,
    well_known_paths,
)
from toolgate.interceptors.approval_watch import ApprovalWatcher
from toolgate.interceptors.enforcement import EnforcementSettings, PolicyEnforcer
from toolgate.interceptors.list_changes import ListChangeAnnouncer
from toolgate.interceptors.policy_source import PolicySource
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Interceptor
from toolgate.policy.model import Policy
from toolgate.quota.ledger import Ledger
from toolgate.stores.approvals import ApprovalStore
from toolgate.stores.base import CounterStore

log = logging.getLogger("toolgate")

Task = Callable[[], Coroutine[Any, Any, None]]
AGGREGATE_NAME = "aggregate"  # what grants for the aggregated endpoint name as their server


@dataclass(slots=True)
class _Chain:
    """The interceptors of one (server, policy file) pair, and what keeps them current."""

    source: PolicySource
    enforcer: PolicyEnforcer
    interceptors: tuple[Interceptor, ...]


@dataclass(slots=True)
class _ServerParts:
    """Everything one server's requests share; chains are built per policy file on demand."""

    config: ServerConfig
    ledger: Ledger
    recorder: AuditRecorder
    keeper: PinKeeper
    salt: bytes
    fail_open: bool
    chains: dict[Path, _Chain] = field(default_factory=dict)
    sessions: Callable[[], list[Session]] = list
    background: list[Task] = field(default_factory=list)
    table: SessionTable | None = None
    approvals: ApprovalParts | None = None
    watcher: ApprovalWatcher | None = None

    def chain(self, policy: Path) -> _Chain:
        found = self.chains.get(policy)
        if found is not None:
            return found
        clock = SystemClock()
        source = PolicySource(policy)
        source.on_load(
            lambda revision, in_force, errors: self.recorder.policy_loaded(
                load="reload", path=str(policy), revision=revision, in_force=in_force, errors=errors
            )
        )
        settings = EnforcementSettings(salt=self.salt, fail_open=self.fail_open)
        built = policy_chain(source, self.ledger, self.recorder, self.keeper, clock, settings)
        enforcer = built.enforcer
        chain = _Chain(source, enforcer, built.interceptors)
        self.chains[policy] = chain
        if self.approvals is not None and self.watcher is not None:
            self.approvals.attach(enforcer, self.watcher, server=self.config.name)
        announcer = ListChangeAnnouncer(source, enforcer, self._live_sessions)
        if self.table is not None and self.table.bound:
            self.table.spawn(announcer.run)  # a grant's own policy, first used while serving
        else:
            self.background.append(announcer.run)
        return chain

    def _live_sessions(self) -> list[Session]:
        return self.sessions()

    def interceptors_for(self, principal: Principal | None) -> Sequence[Interceptor]:
        policy = principal.policy if principal is not None and principal.policy else None
        return self.chain(policy or self.config.policy).interceptors


Pages = Callable[["PageContext"], Sequence[tuple[str, Any]]]


@dataclass(frozen=True, slots=True)
class PageContext:
    """What a page mounted on the gateway (the approvals page) is given: the approval store,
    the clock, the Host names the gateway answers to, and whether callers must authenticate."""

    approvals: ApprovalStore
    clock: Clock
    hosts: tuple[str, ...]
    authenticated: bool


async def serve_http(config: GatewayConfig, pages: Pages | None = None) -> int:
    """Serve until stopped; returns the exit status. Raises ToolgateError subclasses (policy,
    config, store) for the CLI to report before anything listens."""

    clock = SystemClock()
    state_dir = config.home / "state"
    store = open_counter_store(config.state.dsn, prefix=config.state.prefix, server_time=True)
    sink = _open_sink(config)
    salt = load_or_create_salt(state_dir / "audit-salt")
    parts: dict[str, _ServerParts] = {}
    registration: Registration | None = None
    observability = Observability()
    approvals = ApprovalParts.open(state_dir, config.state.dsn, config.state.prefix, clock, [])
    try:
        observability = build_observability(
            config.metrics, config.tracing, sink=sink, pending_approvals=approvals.pending_count
        )
        await prepare_counter_store(store)
        for name, server in config.servers.items():
            parts[name] = await _server_parts(
                config, server, store, sink, salt, state_dir, clock, approvals
            )
            observability.attach(parts[name].recorder, name)  # its policy_load is still queued
        check_webhook_secrets([p.chain(p.config.policy).source.current() for p in parts.values()])
        observability.start_listener()
        registration = register_serve(config, _revisions(parts), clock)
        served = {name: _served(part, config) for name, part in parts.items()}
        sock = bind_listener(config.listen.host, config.listen.port)
        port = sock.getsockname()[1]
        aggregate = _aggregate(config, served)
        if aggregate is not None:
            assert config.aggregate is not None
            _announce_to_aggregate(config.aggregate.servers, parts, served, aggregate[1])
        app = build_app(
            served,
            Face(_limits(config, port), make_authenticator(config, clock)),
            aggregate=aggregate,
            documents=metadata_documents(config),
            background=[
                *(task for part in parts.values() for task in part.background),
                functools.partial(watch_policies, _watched(parts)),
                registration.heartbeat,
                approvals.run,
            ],
            metrics=observability.route(),
            mounts=_pages(pages, config, approvals, clock, port),
        )
        announce_urls(config, port)
        await serve(
            app, sock, log_level=config.log_level, grace_seconds=config.http.shutdown_grace_seconds
        )
        return 0
    finally:
        if registration is not None:
            registration.close()
        for part in parts.values():
            await part.recorder.stopped(0)
            await part.recorder.aclose(close_sink=False)
        await observability.aclose()
        await approvals.aclose()
        await sink.aclose()
        await store.aclose()


def _pages(
    pages: Pages | None, config: GatewayConfig, approvals: ApprovalParts, clock: Clock, port: int
) -> Sequence[tuple[str, Any]]:
    if pages is None:
        return ()
    hosts = tuple(config.host_allow_list(port))
    return pages(PageContext(approvals.store, clock, hosts, config.auth.authenticates))


def _revisions(parts: dict[str, _ServerParts]) -> dict[str, tuple[str, str | None]]:
    """Each server's audit instance id and loaded policy revision, for the instance file."""
    return {
        name: (part.recorder.instance, part.chain(part.config.policy).source.current().revision)
        for name, part in parts.items()
    }


def _served(part: _ServerParts, config: GatewayConfig) -> ServedServer:
    upstreams = make_upstreams(part.config)
    table = SessionTable(
        upstreams,
        part.interceptors_for,
        max_sessions=config.http.max_sessions,
        idle_seconds=config.http.session_idle_seconds,
        advertise_tools_list_changed=True,
        replica=config.replica,
    )
    server = ServedServer(part.config.name, upstreams, part.interceptors_for, table)
    part.sessions = server.sessions
    part.table = table
    return server


async def _server_parts(
    config: GatewayConfig,
    server: ServerConfig,
    store: CounterStore,
    sink: AuditSink,
    salt: bytes,
    state_dir: Path,
    clock: SystemClock,
    approvals: ApprovalParts,
) -> _ServerParts:
    recorder = AuditRecorder(
        sink,
        clock,
        redactor=audit_redactor(
            config.audit.include_args, config.audit.redact_paths, config.audit.redact_patterns
        ),
        store_url=config.state.dsn,
        fail_mode=config.state.fail_mode,
        server=server.name,
    )
    ledger = Ledger(store, server.namespace, window_clock(store, clock))
    pins = PinFile(pin_path(state_dir, server.namespace), server.namespace)
    part = _ServerParts(
        config=server,
        ledger=ledger,
        recorder=recorder,
        keeper=PinKeeper(pins, clock.now, required=False),
        salt=salt,
        fail_open=config.state.fail_mode == "open",
        approvals=approvals,
    )

    def in_force() -> Policy:  # read when needed: the chain is built below, once watched
        return part.chain(server.policy).source.current()

    part.watcher = approvals.watcher(recorder, in_force, server.name)
    chain = part.chain(server.policy)
    policy = chain.source.current()
    await recorder.started(
        version=__version__,
        server=list(server.command) if server.command else [server.url or ""],
        policy_revision=policy.revision,
    )
    recorder.policy_loaded(
        load="initial", path=str(server.policy), revision=policy.revision, in_force=None, errors=[]
    )
    return part


def _open_sink(config: GatewayConfig) -> AuditSink:
    audit = config.audit
    return open_sinks(
        [parse_sink_spec(spec) for spec in audit.sinks],
        default_log=audit.log,
        key=load_chain_key(audit.key_file),
        rotation=audit.rotation,
    )


def _limits(config: GatewayConfig, port: int) -> FaceLimits:
    http = config.http
    return FaceLimits(
        hosts=frozenset(config.host_allow_list(port)),
        origins=frozenset(http.trusted_origins),
        max_body_bytes=http.max_body_bytes,
        max_header_bytes=http.max_header_bytes,
        max_sessions=http.max_sessions,
        session_idle_seconds=http.session_idle_seconds,
    )


def _aggregate(
    config: GatewayConfig, served: dict[str, ServedServer]
) -> tuple[str, ServedServer] | None:
    aggregate = config.aggregate
    if aggregate is None:
        return None
    members = {
        name: Member(
            name,
            served[name].upstreams,
            served[name].interceptors,
            config.servers[name].timeout_seconds,
        )
        for name in aggregate.servers
    }
    upstreams = NoUpstream()
    table: SessionTable

    def interceptors(principal: Principal | None) -> Sequence[Interceptor]:
        return (AggregateRouter(members, aggregate.separator, principal, table.spawn),)

    table = SessionTable(
        upstreams,
        interceptors,
        max_sessions=config.http.max_sessions,
        idle_seconds=config.http.session_idle_seconds,
        advertise_tools_list_changed=False,
        replica=config.replica,
    )
    return aggregate.path, ServedServer(AGGREGATE_NAME, upstreams, interceptors, table)


def _announce_to_aggregate(
    members: Sequence[str],
    parts: dict[str, _ServerParts],
    served: dict[str, ServedServer],
    aggregate: ServedServer,
) -> None:
    """A member's policy reload that changes its visible tools is announced to the aggregated
    endpoint's sessions too (their lists hold the member's tools)."""
    for name in members:
        parts[name].sessions = _joined(served[name], aggregate)


def _joined(own: ServedServer, aggregate: ServedServer) -> Callable[[], list[Session]]:
    def sessions() -> list[Session]:
        return [*own.sessions(), *aggregate.sessions()]

    return sessions


def metadata_documents(config: GatewayConfig) -> dict[str, dict[str, Any]]:
    """RFC 9728 protected-resource metadata, served when OAuth is configured."""
    if config.auth.oauth is None:
        return {}
    settings = oauth_settings(config.auth.oauth)
    names = [*config.servers, *([AGGREGATE_NAME] if config.aggregate else [])]
    return {
        path: gateway_metadata(settings) if name is None else server_metadata(settings, name)
        for path, name in well_known_paths(settings, names).items()
    }


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind before serving, so port 0 (any free port) can be reported and allowed as Host."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def announce_urls(config: GatewayConfig, port: int) -> None:
    """One line per endpoint on stderr, so an operator (or a test) knows where to connect."""
    host = f"[{config.listen.host}]" if ":" in config.listen.host else config.listen.host
    for name in config.servers:
        print(f"toolgate: serving {name} at http://{host}:{port}/mcp/{name}", file=sys.stderr)
    if config.aggregate is not None:
        path = config.aggregate.path
        print(f"toolgate: serving the aggregate at http://{host}:{port}{path}", file=sys.stderr)
    sys.stderr.flush()


def _watched(parts: dict[str, _ServerParts]) -> Watched:
    """Each server's recorder with the policy files of its chains (a grant's own policy adds
    one while serving)."""
    return lambda: [
        (part.recorder, [chain.source for chain in part.chains.values()]) for part in parts.values()
    ]
