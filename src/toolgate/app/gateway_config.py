"""The model of a `toolgate serve -c GATEWAY.yaml` file: one HTTP listener, several named MCP
servers behind their policies, and the state, audit, authentication and HTTP limits they share.

Everything here is resolved: paths are absolute, secrets referenced with `{env: NAME}` or
`{file: PATH}` are read, defaults are filled in. `load_gateway_config` (in
`gateway_config_load`) builds it from a file; `one_server_config` (in `gateway_config_single`)
from the `toolgate run --listen` flags. The file format is documented in docs/gateway.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from toolgate.audit.rotation import RotationPolicy
from toolgate.errors import ConfigError, LocatedError

DEFAULT_LISTEN: Final = "127.0.0.1:8080"
SERVER_PATH_PREFIX: Final = "/mcp/"  # every server is served at /mcp/<name>
DEFAULT_AGGREGATE_PATH: Final = "/mcp"
DEFAULT_SEPARATOR: Final = "__"
TRANSPORTS: Final = ("auto", "streamable", "sse")  # for `url` servers
STDIO: Final = "stdio"  # the transport of `command` servers
FAIL_MODES: Final = ("closed", "open")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
STATE_DIR_NAME: Final = "state"  # <home>/state holds counters, grants, pins and the audit salt
COUNTERS_FILE: Final = "counters.sqlite3"
GRANTS_FILE: Final = "grants.sqlite3"
AUDIT_LOG: Final = ("audit", "decisions.jsonl")
REPLICA_ENV: Final = "TOOLGATE_REPLICA"  # overrides the gateway file's `replica`


class GatewayConfigError(ConfigError):
    """A gateway file (or the flags standing in for one) has errors; all of them are carried,
    rendered one per line as `file:line:col: path: message`."""

    def __init__(self, errors: list[LocatedError]) -> None:
        self.errors = errors
        super().__init__("\n".join(error.render() for error in errors))


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """Where the HTTP face binds. `host` is an IP literal (IPv6 without brackets) or a name."""

    host: str
    port: int  # 0 asks the system for a free port
    loopback: bool  # 127.0.0.0/8, ::1 or "localhost": reachable from this machine only

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def wildcard(self) -> bool:
        """Binds every interface (0.0.0.0 or ::), so the address is no Host name clients use."""
        return self.host in ("0.0.0.0", "::")  # noqa: S104 - a comparison, not a bind


@dataclass(frozen=True, slots=True)
class StateConfig:
    """The counter store shared by every server (see `toolgate.app.counter_store`)."""

    dsn: str  # memory://, sqlite:///abs/path, redis://…, rediss://…, unix://…
    prefix: str = "toolgate"  # first part of every Redis key
    fail_mode: str = "closed"  # while the store is unreachable: deny (closed) or pass (open)


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """The decision log and where else events go (as `toolgate run`'s --audit-* flags)."""

    log: Path
    sinks: tuple[str, ...] = ()  # --audit-sink specs, paths made absolute; none: the JSONL log
    include_args: bool = False
    redact_paths: tuple[str, ...] = ()
    redact_patterns: tuple[str, ...] = ()
    rotation: RotationPolicy = field(default_factory=RotationPolicy)
    key_file: Path | None = None  # HMAC key for the hash chain; checked readable at load


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    """OAuth 2.1 resource-server settings: which access tokens the gateway accepts."""

    issuer: str
    audience: str  # the `aud` a token must carry: a token minted for this gateway
    jwks_url: str | None = None  # None: discovered from the issuer's metadata
    identity_claim: str = "sub"  # the claim that becomes identity.name
    required_scopes: tuple[str, ...] = ()
    leeway_seconds: float = 30.0  # clock skew tolerated on exp/nbf/iat
    authorization_servers: tuple[str, ...] = ()  # for resource metadata; resolved: (issuer,)


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """How clients prove who they are. At least one of grants and oauth, unless opted out."""

    grants_db: Path  # default <home>/state/grants.sqlite3
    grants: bool = True  # every request needs a grant token (`toolgate grants create ...`)
    oauth: OAuthConfig | None = None
    insecure_no_auth: bool = False  # explicit: serve without authenticating anyone

    @property
    def authenticates(self) -> bool:
        return self.grants or self.oauth is not None


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The HTTP face's addresses, allow-lists and limits."""

    public_url: str | None = None  # the external base URL, no trailing slash
    allowed_origins: tuple[str, ...] = ()  # Origin allow-list, normalised `scheme://host[:port]`
    allowed_hosts: tuple[str, ...] = ()  # more Host values; see GatewayConfig.host_allow_list
    max_body_bytes: int = 4 * 1024 * 1024
    max_header_bytes: int = 16 * 1024
    max_sessions: int = 1000  # per server
    session_idle_seconds: float = 1800.0
    upstream_timeout_seconds: float = 60.0  # default for every server's timeout_seconds
    shutdown_grace_seconds: float = 10.0

    @property
    def trusted_origins(self) -> tuple[str, ...]:
        """The allow-listed origins plus the origin of `public_url`."""
        if self.public_url is None:
            return self.allowed_origins
        scheme, _, rest = self.public_url.partition("://")
        own = f"{scheme}://{rest.split('/', 1)[0]}"
        return self.allowed_origins if own in self.allowed_origins else (*self.allowed_origins, own)


@dataclass(frozen=True, slots=True)
class AggregateConfig:
    """One endpoint serving the tools of several servers as `<server><separator><tool>`."""

    servers: tuple[str, ...]
    path: str = DEFAULT_AGGREGATE_PATH
    separator: str = DEFAULT_SEPARATOR


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Prometheus metrics (`metrics:`, see docs/observability.md): `/metrics` on the gateway's
    own listener, or only on `listen` when that is given."""

    enabled: bool = False
    listen: ListenAddress | None = None


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """OpenTelemetry traces (`tracing:`) exported over OTLP/HTTP."""

    enabled: bool = False
    otlp_endpoint: str | None = None  # the traces URL; None: from OTEL_EXPORTER_OTLP_* variables
    service_name: str = "toolgate"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One upstream MCP server: a child process (`command`) or an HTTP endpoint (`url`)."""

    name: str
    policy: Path
    namespace: str  # counter namespace; default "server:<name>"
    timeout_seconds: float
    command: tuple[str, ...] | None = None
    url: str | None = None
    transport: str = STDIO  # "stdio" for a command; auto|streamable|sse for a url
    headers: Mapping[str, str] = field(default_factory=dict)  # resolved, static, url only
    env: Mapping[str, str] = field(default_factory=dict)  # resolved, added to the child's env
    cwd: Path | None = None  # the child's working directory; command only

    @property
    def path(self) -> str:
        return f"{SERVER_PATH_PREFIX}{self.name}"


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    listen: ListenAddress
    home: Path
    state: StateConfig
    audit: AuditConfig
    auth: AuthConfig
    http: HttpLimits
    servers: Mapping[str, ServerConfig]  # in file order
    aggregate: AggregateConfig | None = None
    log_level: str = "info"
    source: Path | None = None  # the gateway file; None when built from flags
    warnings: tuple[LocatedError, ...] = ()  # e.g. a literal credential in the file
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)
    replica: str | None = None  # tags handshake-era session ids for sticky routing

    @property
    def state_dir(self) -> Path:
        """Where pins and the audit salt live (and counters and grants by default)."""
        return self.home / STATE_DIR_NAME

    def host_allow_list(self, bound_port: int | None = None) -> tuple[str, ...]:
        """The Host header values accepted: the listen address (unless it binds every
        interface) and, on loopback, its localhost forms; the host of `http.public_url`; and
        `http.allowed_hosts`. `bound_port` is the port bound when `listen` asked for port 0."""
        port = bound_port if bound_port is not None else self.listen.port
        hosts: list[str] = []
        if not self.listen.wildcard:
            hosts.append(str(ListenAddress(self.listen.host.lower(), port, self.listen.loopback)))
        if self.listen.loopback:
            hosts += [f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"]
        if self.http.public_url is not None:
            hosts.append(self.http.public_url.partition("://")[2].split("/", 1)[0])
        return tuple(dict.fromkeys([*hosts, *self.http.allowed_hosts]))


def default_home(environ: Mapping[str, str]) -> Path:
    """`$TOOLGATE_HOME` from `environ`, else `~/.toolgate` (as `toolgate.app.paths`)."""
    configured = environ.get("TOOLGATE_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".toolgate"


def default_counter_dsn(home: Path) -> str:
    return f"sqlite:///{home / STATE_DIR_NAME / COUNTERS_FILE}"


def default_grants_db(home: Path) -> Path:
    return home / STATE_DIR_NAME / GRANTS_FILE


def default_audit_log(home: Path) -> Path:
    return home.joinpath(*AUDIT_LOG)
