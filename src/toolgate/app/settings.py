"""The settings of one `toolgate run`, resolved from flags, environment and defaults."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path

import orjson

from toolgate.app.gateway_config import TRANSPORTS
from toolgate.app.gateway_config_single import parse_header_flags
from toolgate.app.gateway_config_values import check_upstream_url
from toolgate.app.observability import check_observability
from toolgate.app.paths import default_audit_log, default_state_dir
from toolgate.audit.fanout import parse_sink_spec
from toolgate.audit.redact import Redactor
from toolgate.audit.rotation import RotationPolicy
from toolgate.errors import ConfigError
from toolgate.pipeline.relay import DEFAULT_MAX_LINE

MIN_MAX_LINE = 1024
# `toolgate run` hands its resolved settings to the lean gateway process in this environment
# variable (never on the command line, where `ps` shows it to everyone).
SETTINGS_ENV = "TOOLGATE_GATEWAY_SETTINGS"
LOG_LEVELS = ("debug", "info", "warning", "error")
FAIL_MODES = ("closed", "open")  # --state-fail-mode: what a call needing a counter gets when
# the shared state store is unreachable: denied (closed), or passed unchecked (open)


@dataclass(frozen=True, slots=True)
class RunSettings:
    policy: Path
    command: tuple[str, ...]
    state_dir: Path
    audit_log: Path
    max_line: int = DEFAULT_MAX_LINE
    namespace: str | None = None
    store_url: str | None = None
    log_level: str = "warning"
    identity: str | None = None  # who the stdio client is (--identity / TOOLGATE_IDENTITY)
    audit_rotation: RotationPolicy = field(default_factory=RotationPolicy)
    audit_key_file: Path | None = None  # the key itself never travels in settings
    state_prefix: str = "toolgate"  # first part of every Redis key (--state-prefix)
    state_fail_mode: str = "closed"  # --state-fail-mode
    audit_sinks: tuple[str, ...] = ()  # --audit-sink KIND[:PATH]; none: the chained JSONL log
    audit_include_args: bool = False  # --audit-include-args: log argument values, redacted
    audit_redact_paths: tuple[str, ...] = ()  # --audit-redact-path args.card.number
    audit_redact_patterns: tuple[str, ...] = ()  # --audit-redact-pattern REGEX
    upstream_url: str | None = None  # --upstream URL: a remote server instead of a command
    upstream_headers: tuple[tuple[str, str], ...] = ()  # resolved --header values
    upstream_transport: str = "auto"  # --transport auto|streamable|sse
    metrics_listen: str | None = None  # --metrics-listen HOST:PORT: serve /metrics there
    otel_endpoint: str | None = None  # --otel-endpoint: the OTLP/HTTP traces URL
    otel: bool = False  # --otel: traces to the collector OTEL_EXPORTER_OTLP_* names

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "policy": str(self.policy),
                "command": list(self.command),
                "state_dir": str(self.state_dir),
                "audit_log": str(self.audit_log),
                "max_line": self.max_line,
                "namespace": self.namespace,
                "store_url": self.store_url,
                "log_level": self.log_level,
                "identity": self.identity,
                "audit_rotation": list(astuple(self.audit_rotation)),
                "audit_key_file": str(self.audit_key_file) if self.audit_key_file else None,
                "state_prefix": self.state_prefix,
                "state_fail_mode": self.state_fail_mode,
                "audit_sinks": list(self.audit_sinks),
                "audit_include_args": self.audit_include_args,
                "audit_redact_paths": list(self.audit_redact_paths),
                "audit_redact_patterns": list(self.audit_redact_patterns),
                "upstream_url": self.upstream_url,
                "upstream_headers": [list(pair) for pair in self.upstream_headers],
                "upstream_transport": self.upstream_transport,
                "metrics_listen": self.metrics_listen,
                "otel_endpoint": self.otel_endpoint,
                "otel": self.otel,
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str) -> RunSettings:
        try:
            data = orjson.loads(text)
            return cls(
                policy=Path(data["policy"]),
                command=tuple(data["command"]),
                state_dir=Path(data["state_dir"]),
                audit_log=Path(data["audit_log"]),
                max_line=int(data["max_line"]),
                namespace=data["namespace"],
                store_url=data["store_url"],
                log_level=str(data["log_level"]),
                identity=data.get("identity"),
                audit_rotation=RotationPolicy(*data.get("audit_rotation", ())),
                audit_key_file=Path(data["audit_key_file"]) if data.get("audit_key_file") else None,
                state_prefix=str(data.get("state_prefix", "toolgate")),
                state_fail_mode=str(data.get("state_fail_mode", "closed")),
                audit_sinks=tuple(str(spec) for spec in data.get("audit_sinks", ())),
                audit_include_args=bool(data.get("audit_include_args", False)),
                audit_redact_paths=tuple(data.get("audit_redact_paths", ())),
                audit_redact_patterns=tuple(data.get("audit_redact_patterns", ())),
                upstream_url=data.get("upstream_url"),
                upstream_headers=tuple(
                    (str(name), str(value)) for name, value in data.get("upstream_headers", ())
                ),
                upstream_transport=str(data.get("upstream_transport", "auto")),
                metrics_listen=data.get("metrics_listen"),
                otel_endpoint=data.get("otel_endpoint"),
                otel=bool(data.get("otel", False)),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"unreadable gateway settings: {exc}") from None

    @property
    def counter_namespace(self) -> str:
        """Counters are kept per guarded server unless a namespace is given explicitly, so two
        toolgate processes guarding different servers never share a counter by accident."""
        if self.namespace:
            return self.namespace
        what = [self.upstream_url] if self.upstream_url else list(self.command)
        digest = hashlib.sha256(orjson.dumps(what)).hexdigest()[:16]
        return f"server:{digest}"

    @property
    def counter_store_url(self) -> str:
        return self.store_url or f"sqlite:///{(self.state_dir / 'counters.sqlite3').resolve()}"


def resolve_run_settings(
    policy: Path,
    command: Sequence[str],
    *,
    state_dir: Path | None,
    audit_log: Path | None,
    max_line: int | None,
    namespace: str | None,
    store_url: str | None,
    log_level: str = "warning",
    identity: str | None = None,
    audit_rotation: RotationPolicy | None = None,
    audit_key_file: Path | None = None,
    state_prefix: str = "toolgate",
    state_fail_mode: str = "closed",
    audit_sinks: Sequence[str] = (),
    audit_include_args: bool = False,
    audit_redact_paths: Sequence[str] = (),
    audit_redact_patterns: Sequence[str] = (),
    upstream_url: str | None = None,
    upstream_headers: Sequence[str] = (),
    upstream_transport: str = "auto",
    metrics_listen: str | None = None,
    otel_endpoint: str | None = None,
    otel: bool = False,
) -> RunSettings:
    _check_upstream(command, upstream_url, upstream_headers, upstream_transport)
    otel_endpoint = check_observability(metrics_listen, otel_endpoint, otel, os.environ)
    headers = parse_header_flags(upstream_headers, os.environ)
    if max_line is not None and max_line < MIN_MAX_LINE:
        raise ConfigError(f"--max-line-bytes must be at least {MIN_MAX_LINE}, got {max_line}")
    if namespace is not None and not namespace.strip():
        raise ConfigError("--namespace must not be empty")
    if identity is not None and not identity.strip():
        raise ConfigError("--identity must not be empty")
    if log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    if not state_prefix or state_prefix != state_prefix.strip():
        raise ConfigError(f"--state-prefix must be non-empty text, got {state_prefix!r}")
    if state_fail_mode.lower() not in FAIL_MODES:
        raise ConfigError(f"--state-fail-mode must be closed or open, got {state_fail_mode!r}")
    Redactor.build(audit_redact_paths, audit_redact_patterns)  # malformed rules fail here
    for spec in audit_sinks:
        parse_sink_spec(spec)  # a bad --audit-sink fails here, naming it
    return RunSettings(
        policy=policy,
        command=tuple(command),
        state_dir=state_dir or default_state_dir(),
        audit_log=audit_log or default_audit_log(),
        max_line=max_line or DEFAULT_MAX_LINE,
        namespace=namespace,
        store_url=store_url,
        log_level=log_level.lower(),
        identity=identity,
        audit_rotation=audit_rotation or RotationPolicy(),
        audit_key_file=audit_key_file,
        state_prefix=state_prefix,
        state_fail_mode=state_fail_mode.lower(),
        audit_sinks=tuple(audit_sinks),
        audit_include_args=audit_include_args,
        audit_redact_paths=tuple(audit_redact_paths),
        audit_redact_patterns=tuple(audit_redact_patterns),
        upstream_url=upstream_url,
        upstream_headers=tuple(headers.items()),
        upstream_transport=upstream_transport,
        metrics_listen=metrics_listen,
        otel_endpoint=otel_endpoint,
        otel=otel,
    )


def _check_upstream(
    command: Sequence[str], url: str | None, headers: Sequence[str], transport: str
) -> None:
    """Exactly one upstream: a command after `--`, or `--upstream URL` (with its flags)."""
    if url is not None:
        if command:
            raise ConfigError("give the upstream either as a command after -- or as --upstream")
        check_upstream_url(url)
        if transport not in TRANSPORTS:
            raise ConfigError(
                f"--transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}"
            )
    elif not command:
        raise ConfigError(
            "no upstream server: put its command after `--` (e.g. -- npx my-server) "
            "or give --upstream URL"
        )
    elif headers:
        raise ConfigError("--header applies to an --upstream URL, not to a command")
