"""A one-server `GatewayConfig` from flags: `toolgate run -c POLICY --listen HOST:PORT -- CMD`
(or `--upstream URL --header "Name: value"`), so the HTTP face has a single input shape.

The server is named `default` unless told otherwise, so it is served at `/mcp/default`. The
replica name that tags its session ids comes from $TOOLGATE_REPLICA (there is no flag). A
`--header` value may say `${NAME}` to take text from the environment (write it in single quotes
so the shell leaves it alone and the secret never appears in the process list); `$$` is a `$`.
Errors are `ConfigError`s naming the flag, never showing a header's value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from toolgate.app.gateway_config import (
    LOG_LEVELS,
    STDIO,
    TRANSPORTS,
    AuditConfig,
    AuthConfig,
    GatewayConfig,
    HttpLimits,
    ServerConfig,
    StateConfig,
    default_audit_log,
    default_counter_dsn,
    default_grants_db,
    default_home,
)
from toolgate.app.gateway_config_sections import environ_replica
from toolgate.app.gateway_config_values import (
    check_header_name,
    check_server_name,
    check_upstream_url,
    header_value_problem,
    parse_listen,
)
from toolgate.errors import ConfigError
from toolgate.policy.loader import load_policy

DEFAULT_SERVER_NAME: Final = "default"
_REFERENCE: Final = re.compile(r"\$\$|\$\{([^}]*)\}")


def one_server_config(
    policy: Path,
    command: Sequence[str] | None,
    url: str | None,
    headers: Sequence[str],
    listen: str,
    *,
    name: str = DEFAULT_SERVER_NAME,
    transport: str = "auto",
    namespace: str | None = None,
    home: Path | None = None,
    state: StateConfig | None = None,
    audit: AuditConfig | None = None,
    auth: AuthConfig | None = None,
    http: HttpLimits | None = None,
    log_level: str = "info",
    environ: Mapping[str, str] | None = None,
) -> GatewayConfig:
    """The gateway for one server given by flags; ConfigError (or the policy's own
    PolicyValidationError) when something is wrong. Unset parts take the gateway file's
    defaults; `auth` defaults to grants, as in a gateway file."""
    environment = os.environ if environ is None else environ
    address = parse_listen(listen)
    check_server_name(name)
    if (command is None or not command) == (url is None):
        raise ConfigError("give the upstream either as a command after -- or as --upstream URL")
    if command and not command[0].strip():
        raise ConfigError("the upstream command must not start with an empty word")
    if url is not None:
        check_upstream_url(url)
        if transport not in TRANSPORTS:
            raise ConfigError(
                f"--transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}"
            )
    elif headers:
        raise ConfigError("--header applies to an --upstream URL, not to a command")
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    if namespace is not None and (not namespace.strip() or namespace != namespace.strip()):
        raise ConfigError("--namespace must be non-empty text without surrounding spaces")
    replica = environ_replica(environment)
    load_policy(policy)
    root = default_home(environment) if home is None else home
    limits = http or HttpLimits()
    access = auth or AuthConfig(grants_db=default_grants_db(root))
    if not address.loopback and not access.authenticates and not access.insecure_no_auth:
        raise ConfigError(
            f"--listen {address} is reachable from other machines, so clients must "
            "authenticate: use grants, configure OAuth, or disable authentication explicitly"
        )
    if address.wildcard and not limits.allowed_hosts and limits.public_url is None:
        raise ConfigError(
            f"--listen {address} binds every interface: name the Host clients use "
            "(allowed hosts or a public URL)"
        )
    server = ServerConfig(
        name=name,
        policy=policy.resolve(),
        namespace=namespace or f"server:{name}",
        timeout_seconds=limits.upstream_timeout_seconds,
        command=tuple(command) if command else None,
        url=url,
        transport=transport if url is not None else STDIO,
        headers=parse_header_flags(headers, environment),
        cwd=Path.cwd() if command else None,
    )
    return GatewayConfig(
        listen=address,
        home=root,
        state=state or StateConfig(dsn=default_counter_dsn(root)),
        audit=audit or AuditConfig(log=default_audit_log(root)),
        auth=access,
        http=limits,
        servers={name: server},
        log_level=log_level,
        replica=replica,
    )


def parse_header_flags(flags: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """`Name: value` strings as headers, `${NAME}` taken from `environ`; ConfigError naming the
    header (never its value) for a malformed one."""
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for index, flag in enumerate(flags, 1):
        raw_name, colon, raw_value = flag.partition(":")
        if not colon or not raw_name:
            raise ConfigError(f"--header #{index} must look like 'Name: value'")
        name = check_header_name(raw_name)
        if name.lower() in seen:
            raise ConfigError(f'--header "{name}" is given twice')
        seen.add(name.lower())
        value = _expand(raw_value.strip(" \t"), environ, name)
        problem = header_value_problem(value)
        if problem is not None:
            raise ConfigError(f'--header "{name}": the value {problem}')
        headers[name] = value
    return headers


def _expand(text: str, environ: Mapping[str, str], header: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        variable = match.group(1)
        if variable is None:
            return "$"
        if not variable:
            raise ConfigError(f'--header "{header}": "${{}}" names no environment variable')
        if environ.get(variable) is None:
            raise ConfigError(f'--header "{header}": environment variable "{variable}" is not set')
        return environ[variable]

    return _REFERENCE.sub(substitute, text)
