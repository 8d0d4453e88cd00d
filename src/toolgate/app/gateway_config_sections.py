"""Reading the shared sections of a gateway file: `state`, `audit`, `auth` (with `oauth`) and
`http`. Each reader records every problem in the shared `Issues` and returns None when its
section cannot be used, so the loader reports all errors of the file at once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from toolgate.app.counter_store import redact_url
from toolgate.app.gateway_config import (
    FAIL_MODES,
    REPLICA_ENV,
    AuditConfig,
    AuthConfig,
    HttpLimits,
    OAuthConfig,
    StateConfig,
    default_audit_log,
    default_counter_dsn,
    default_grants_db,
)
from toolgate.app.gateway_config_fields import (
    Secrets,
    boolean,
    checked,
    integer,
    path_field,
    resolve_path,
    seconds,
    strings,
)
from toolgate.app.gateway_config_values import (
    check_https_url,
    check_public_url,
    normalise_allowed_host,
    normalise_origin,
)
from toolgate.audit.chain import load_chain_key
from toolgate.audit.fanout import parse_sink_spec
from toolgate.audit.redact import Redactor
from toolgate.audit.rotation import MIN_MAX_BYTES, RotationPolicy
from toolgate.errors import ConfigError
from toolgate.httpface.replica import replica_name_problem
from toolgate.policy.located import LMap
from toolgate.policy.schema import Fields, Issues, join
from toolgate.stores.redis_url import is_redis_url, url_scheme

STATE_KEYS: Final = ("dsn", "prefix", "fail_mode")
AUDIT_KEYS: Final = (
    "log",
    "sinks",
    "include_args",
    "redact_paths",
    "redact_patterns",
    "rotate",
    "key_file",
)
ROTATE_KEYS: Final = ("max_bytes", "daily", "keep")
AUTH_KEYS: Final = ("grants", "grants_db", "oauth", "insecure_no_auth")
OAUTH_KEYS: Final = (
    "issuer",
    "audience",
    "jwks_url",
    "identity_claim",
    "required_scopes",
    "leeway_seconds",
    "authorization_servers",
)
HTTP_KEYS: Final = (
    "public_url",
    "allowed_origins",
    "allowed_hosts",
    "max_body_bytes",
    "max_header_bytes",
    "max_sessions",
    "session_idle_seconds",
    "upstream_timeout_seconds",
    "shutdown_grace_seconds",
)
GIB: Final = 1024**3


@dataclass(slots=True)
class SectionReader:
    issues: Issues
    secrets: Secrets
    base: Path
    home: Path

    def section(self, root: Fields, key: str, allowed: tuple[str, ...]) -> Fields:
        """The section's fields; an absent or null section reads as an empty one."""
        node = root.mapping(key) or LMap(root.node.line, root.node.column)
        return Fields(node, key, self.issues, allowed)

    def state(self, fields: Fields) -> StateConfig | None:
        dsn: str | None = default_counter_dsn(self.home)
        node = fields.get("dsn")
        if node is not None and fields.present("dsn"):
            secret = self.secrets.read(node, "state.dsn")
            dsn = (
                None
                if secret is None
                else checked(self.issues, node, "state.dsn", self._dsn, secret.value)
            )
            if dsn is not None and secret is not None and secret.literal and _has_password(dsn):
                self.secrets.warn_literal(node, "state.dsn", "the DSN's password")
        errors = len(self.issues.errors)
        prefix = fields.string("prefix")
        if prefix is not None and (not prefix or prefix != prefix.strip()):
            fields.error("prefix", "prefix must be non-empty text without surrounding spaces")
        fail_mode = fields.choice("fail_mode", FAIL_MODES, "closed")
        if dsn is None or fail_mode is None or len(self.issues.errors) != errors:
            return None
        return StateConfig(dsn=dsn, prefix=prefix or "toolgate", fail_mode=fail_mode)

    def _dsn(self, text: str) -> str:
        """A counter store URL; paths (plain or sqlite://relative) made absolute from the file."""
        text = text.strip()
        found = url_scheme(text)
        if not text:
            raise ConfigError("dsn must not be empty")
        if found is None:
            return f"sqlite:///{resolve_path(text, self.base)}"
        scheme, rest = found
        if scheme == "memory" and rest == "//":
            return "memory://"
        if scheme == "sqlite" and rest.startswith("//") and rest[2:] not in ("", "/"):
            if "?" in rest or "#" in rest:
                raise ConfigError("dsn: sqlite URLs take no query string or fragment")
            return f"sqlite:///{resolve_path(rest[2:], self.base)}"
        if is_redis_url(text):
            return text
        raise ConfigError(
            f"dsn {redact_url(text)!r} is not a counter store URL (memory://, sqlite:///PATH, "
            "a file path, redis://HOST:PORT/DB, rediss://… or unix:///PATH)"
        )

    def audit(self, fields: Fields) -> AuditConfig | None:
        errors = len(self.issues.errors)
        log = path_field(fields, "log", self.base) or default_audit_log(self.home)
        sinks = [
            checked(self.issues, node, "audit.sinks", self._sink, text)
            for text, node in strings(fields, "sinks") or ()
        ]
        include_args = boolean(fields, "include_args", False)
        paths = strings(fields, "redact_paths") or []
        for text, node in paths:
            checked(self.issues, node, "audit.redact_paths", _redact_path, text)
        patterns = strings(fields, "redact_patterns") or []
        for text, node in patterns:
            checked(self.issues, node, "audit.redact_patterns", _redact_pattern, text)
        rotation = self._rotation(fields)
        key_file = path_field(fields, "key_file", self.base)
        key_node = fields.get("key_file")
        if key_file is not None and key_node is not None:
            checked(self.issues, key_node, "audit.key_file", lambda _: load_chain_key(key_file), "")
        if len(self.issues.errors) != errors or include_args is None or rotation is None:
            return None
        return AuditConfig(
            log=log,
            sinks=tuple(sink for sink in sinks if sink is not None),
            include_args=include_args,
            redact_paths=tuple(text for text, _ in paths),
            redact_patterns=tuple(text for text, _ in patterns),
            rotation=rotation,
            key_file=key_file,
        )

    def _sink(self, text: str) -> str:
        spec = parse_sink_spec(text)
        if spec.path is not None and not spec.path.is_absolute():
            return f"{spec.kind}:{resolve_path(str(spec.path), self.base)}"
        return spec.render()

    def _rotation(self, audit: Fields) -> RotationPolicy | None:
        node = audit.mapping("rotate")
        if node is None:
            return RotationPolicy()
        fields = Fields(node, join(audit.path, "rotate"), self.issues, ROTATE_KEYS)
        given = {key: key in fields.values for key in ROTATE_KEYS}
        max_bytes = integer(fields, "max_bytes", 0, MIN_MAX_BYTES, 1024 * GIB)
        daily = boolean(fields, "daily", False)
        keep = integer(fields, "keep", 0, 0, 1_000_000)
        if max_bytes is None or daily is None or keep is None:
            return None
        return RotationPolicy(
            max_bytes=max_bytes if given["max_bytes"] else None,
            daily=daily,
            keep=keep if given["keep"] else None,
        )

    def auth(self, fields: Fields, state: StateConfig | None = None) -> AuthConfig | None:
        """The `auth` section; `state` (the section read before it) is checked against it:
        with a Redis state store the grants live in Redis, so a `grants_db` is a contradiction."""
        errors = len(self.issues.errors)
        insecure = boolean(fields, "insecure_no_auth", False)
        grants = boolean(fields, "grants", not insecure)
        grants_db = path_field(fields, "grants_db", self.base) or default_grants_db(self.home)
        if state is not None and fields.present("grants_db") and is_redis_url(state.dsn):
            fields.error(
                "grants_db",
                "grants_db names an SQLite grants file, but state.dsn is Redis, where the "
                "gateway keeps its grants; drop grants_db (create grants with "
                "`toolgate grants create --state-dsn …`)",
            )
        oauth_node = fields.mapping("oauth")
        oauth = self.oauth(oauth_node) if oauth_node is not None else None
        if insecure and grants and "grants" in fields.values:
            fields.error(
                "insecure_no_auth", "insecure_no_auth: true contradicts grants: true; drop one"
            )
        if insecure and oauth_node is not None:
            fields.error("insecure_no_auth", "insecure_no_auth: true contradicts oauth; drop one")
        if len(self.issues.errors) != errors or insecure is None or grants is None:
            return None
        return AuthConfig(
            grants=grants, grants_db=grants_db, oauth=oauth, insecure_no_auth=insecure
        )

    def oauth(self, node: LMap) -> OAuthConfig | None:
        errors = len(self.issues.errors)
        fields = Fields(node, "auth.oauth", self.issues, OAUTH_KEYS)
        issuer = self._https(fields, "issuer", required=True)
        audience = fields.string("audience", required=True)
        jwks_url = self._https(fields, "jwks_url", required=False)
        claim = fields.string("identity_claim")
        if claim is not None and not claim.strip():
            fields.error("identity_claim", "identity_claim must not be empty")
        scopes = strings(fields, "required_scopes") or []
        for scope, scope_node in scopes:
            if any(c.isspace() or c in '"\\' for c in scope):
                self.issues.add(
                    scope_node,
                    "auth.oauth.required_scopes",
                    "a scope has no spaces, quotes or backslashes",
                )
        leeway = seconds(fields, "leeway_seconds", 30.0, 0.0, 600.0)
        servers = [
            checked(
                self.issues,
                item,
                "auth.oauth.authorization_servers",
                _HttpsCheck("authorization server"),
                text,
            )
            for text, item in strings(fields, "authorization_servers") or ()
        ]
        if (
            len(self.issues.errors) != errors
            or issuer is None
            or audience is None
            or leeway is None
        ):
            return None
        return OAuthConfig(
            issuer=issuer,
            audience=audience,
            jwks_url=jwks_url,
            identity_claim=claim or "sub",
            required_scopes=tuple(scope for scope, _ in scopes),
            leeway_seconds=leeway,
            authorization_servers=tuple(s for s in servers if s is not None) or (issuer,),
        )

    def _https(self, fields: Fields, key: str, *, required: bool) -> str | None:
        text = fields.string(key, required=required)
        node = fields.get(key)
        if text is None or node is None:
            return None
        return checked(self.issues, node, fields.path, _HttpsCheck(key), text)

    def http(self, fields: Fields) -> HttpLimits | None:
        errors = len(self.issues.errors)
        public_url = fields.string("public_url")
        public_node = fields.get("public_url")
        if public_url is not None and public_node is not None:
            public_url = checked(self.issues, public_node, "http", check_public_url, public_url)
        origins = [
            checked(self.issues, node, "http.allowed_origins", normalise_origin, text)
            for text, node in strings(fields, "allowed_origins") or ()
        ]
        hosts = [
            checked(self.issues, node, "http.allowed_hosts", normalise_allowed_host, text)
            for text, node in strings(fields, "allowed_hosts") or ()
        ]
        numbers = {
            "max_body_bytes": integer(fields, "max_body_bytes", 4 * 1024 * 1024, 1024, GIB),
            "max_header_bytes": integer(fields, "max_header_bytes", 16 * 1024, 1024, 1024 * 1024),
            "max_sessions": integer(fields, "max_sessions", 1000, 1, 1_000_000),
        }
        durations = {
            "session_idle_seconds": seconds(
                fields, "session_idle_seconds", 1800.0, 1.0, 7 * 86400.0
            ),
            "upstream_timeout_seconds": seconds(
                fields, "upstream_timeout_seconds", 60.0, 0.1, 3600.0
            ),
            "shutdown_grace_seconds": seconds(fields, "shutdown_grace_seconds", 10.0, 0.0, 3600.0),
        }
        if len(self.issues.errors) != errors:
            return None
        return HttpLimits(
            public_url=public_url,
            allowed_origins=tuple(dict.fromkeys(o for o in origins if o is not None)),
            allowed_hosts=tuple(dict.fromkeys(h for h in hosts if h is not None)),
            max_body_bytes=numbers["max_body_bytes"] or 0,
            max_header_bytes=numbers["max_header_bytes"] or 0,
            max_sessions=numbers["max_sessions"] or 0,
            session_idle_seconds=durations["session_idle_seconds"] or 0.0,
            upstream_timeout_seconds=durations["upstream_timeout_seconds"] or 0.0,
            shutdown_grace_seconds=durations["shutdown_grace_seconds"] or 0.0,
        )


@dataclass(frozen=True, slots=True)
class _HttpsCheck:
    what: str

    def __call__(self, text: str) -> str:
        return check_https_url(text, self.what)


def _redact_path(text: str) -> None:
    try:
        Redactor.build(paths=[text])
    except ConfigError:
        raise ConfigError(f"{text!r} must look like args.card.number") from None


def _redact_pattern(text: str) -> None:
    try:
        re.compile(text)
    except re.error as exc:
        raise ConfigError(f"{text!r} is not a valid regular expression: {exc}") from None


def _has_password(dsn: str) -> bool:
    parts = urlsplit(dsn)
    return bool(parts.password) or "password=" in parts.query.lower()


# the top-level `replica` key ----------------------------------------------------------------------


def read_replica(root: Fields, environ: Mapping[str, str]) -> str | None:
    """The gateway file's top-level `replica` (the tag of this replica's session ids), unless
    $TOOLGATE_REPLICA names one, which wins. A bad file value is recorded at the value; a bad
    environment value at the top of the file, saying it came from the environment. None when
    neither names a replica, or after recording an error."""
    given: str | None = None
    node = root.get("replica")
    if node is not None and root.present("replica"):
        text = root.string("replica")
        given = None if text is None else checked(root.issues, node, "replica", _replica, text)
    try:
        from_environ = environ_replica(environ)
    except ConfigError as exc:
        root.issues.add(root.node, "replica", str(exc))
        return None
    return from_environ or given


def environ_replica(environ: Mapping[str, str]) -> str | None:
    """$TOOLGATE_REPLICA when set and not empty; ConfigError naming the variable if it is not
    a replica name."""
    text = environ.get(REPLICA_ENV)
    if not text:
        return None
    problem = replica_name_problem(text)
    if problem is not None:
        raise ConfigError(f"environment variable {REPLICA_ENV}: {problem}")
    return text


def _replica(text: str) -> str:
    problem = replica_name_problem(text)
    if problem is not None:
        raise ConfigError(f"replica: {problem}")
    return text
