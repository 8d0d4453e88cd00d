"""Loading a gateway file: bytes, text, located tree, `GatewayConfig`; every failure located.

Whatever the input (binary junk, an empty file, a list at the top level, absurd nesting, a file
of many megabytes), the caller gets a `GatewayConfig` or a `GatewayConfigError` carrying every
error of the file at once, each as `file:line:col: path: message`, never a stray exception.
Relative paths in the file are taken from the file's directory, not the working directory.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final, NoReturn

from toolgate.app.gateway_config import (
    DEFAULT_AGGREGATE_PATH,
    DEFAULT_LISTEN,
    DEFAULT_SEPARATOR,
    LOG_LEVELS,
    SERVER_PATH_PREFIX,
    AggregateConfig,
    AuthConfig,
    GatewayConfig,
    GatewayConfigError,
    HttpLimits,
    ListenAddress,
    ServerConfig,
    default_home,
)
from toolgate.app.gateway_config_fields import Secrets, checked, path_field, strings
from toolgate.app.gateway_config_observability import read_metrics, read_tracing
from toolgate.app.gateway_config_sections import (
    AUDIT_KEYS,
    AUTH_KEYS,
    HTTP_KEYS,
    STATE_KEYS,
    SectionReader,
    read_replica,
)
from toolgate.app.gateway_config_servers import ServerReader
from toolgate.app.gateway_config_values import (
    check_aggregate_path,
    check_separator,
    parse_listen,
)
from toolgate.errors import LocatedError, Location
from toolgate.policy.json_source import parse_json
from toolgate.policy.located import LMap, LNode, LScalar, SourceError, describe
from toolgate.policy.schema import Fields, Issues
from toolgate.policy.yaml_source import parse_yaml

DOCUMENT: Final = "(document)"
SUFFIXES: Final = (".yaml", ".yml", ".json")
MAX_FILE_BYTES: Final = 1024 * 1024  # a gateway file is a page of settings
TOP_KEYS: Final = (
    "listen",
    "home",
    "log_level",
    "state",
    "audit",
    "auth",
    "http",
    "aggregate",
    "servers",
    "metrics",
    "tracing",
    "replica",
)
AGGREGATE_KEYS: Final = ("path", "servers", "separator")


def load_gateway_config(path: Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read, check and resolve the gateway file at `path` (.yaml, .yml or .json).

    `environ` is where `{env: NAME}` references and TOOLGATE_HOME are looked up (default: the
    process environment). Referenced secret files and every server's policy are read now.
    """
    file = str(path)
    if path.suffix.lower() not in SUFFIXES:
        shown = path.suffix or path.name
        _fail(file, 1, 1, f'unsupported gateway file type "{shown}" (use .yaml, .yml or .json)')
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        _fail(file, 1, 1, f"cannot read the gateway file: {exc.strerror or exc}")
    if len(data) > MAX_FILE_BYTES:
        _fail(file, 1, 1, f"the file is larger than {MAX_FILE_BYTES} bytes")
    root = _parse(data, file)
    environment = os.environ if environ is None else environ
    return _Compiler(file, path.resolve().parent, environment).compile(root, path)


def _parse(data: bytes, file: str) -> LMap:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start : exc.start + 1].hex()
        _fail(file, line, column, f"the file is not UTF-8 text (invalid byte 0x{byte})")
    if "\0" in text:
        index = text.index("\0")
        line = text.count("\n", 0, index) + 1
        _fail(file, line, index - text.rfind("\n", 0, index), "the file contains a NUL character")
    try:
        root = parse_json(text) if file.lower().endswith(".json") else parse_yaml(text)
    except SourceError as exc:  # the readers word some messages for policies
        _fail(file, exc.line, exc.column, exc.message.replace("a policy file", "a gateway file"))
    if root is None or (isinstance(root, LScalar) and root.value is None):
        _fail(file, 1, 1, "the gateway file is empty (it needs at least `servers:`)")
    if not isinstance(root, LMap):
        _fail(
            file,
            root.line,
            root.column,
            f"a gateway file must be a mapping of settings, got {describe(root)}",
        )
    return root


def _fail(file: str, line: int, column: int, message: str) -> NoReturn:
    raise GatewayConfigError([LocatedError(Location(file, line, column), DOCUMENT, message)])


class _Compiler:
    def __init__(self, file: str, base: Path, environ: Mapping[str, str]) -> None:
        self.issues = Issues(file)
        self.base = base
        self.environ = environ
        self.warnings: list[LocatedError] = []

    def compile(self, root: LMap, source: Path) -> GatewayConfig:
        fields = Fields(root, "", self.issues, TOP_KEYS)
        listen_node = fields.get("listen") or root
        listen = self._listen(fields)
        home = path_field(fields, "home", self.base) or default_home(self.environ)
        log_level = fields.choice("log_level", LOG_LEVELS, "info")
        secrets = Secrets(self.issues, self.base, self.environ, self.warnings)
        sections = SectionReader(self.issues, secrets, self.base, home)
        http = sections.http(sections.section(fields, "http", HTTP_KEYS))
        state = sections.state(sections.section(fields, "state", STATE_KEYS))
        audit = sections.audit(sections.section(fields, "audit", AUDIT_KEYS))
        auth = sections.auth(sections.section(fields, "auth", AUTH_KEYS), state)
        timeout = http.upstream_timeout_seconds if http is not None else 60.0
        reader = ServerReader(self.issues, secrets, self.base, timeout)
        servers_node = fields.mapping("servers", required=True)
        servers = reader.read(servers_node) if servers_node is not None else {}
        aggregate = self._aggregate(fields, reader)
        metrics = read_metrics(fields, self.issues)
        tracing = read_tracing(fields, self.issues, self.environ)
        replica = read_replica(fields, self.environ)
        if listen is not None and http is not None and auth is not None:
            self._exposure(listen, listen_node, http, auth)
        errors = self.issues.sorted() + reader.policy_errors
        if errors:
            raise GatewayConfigError(errors)
        assert listen and state and audit and auth and http and log_level  # no errors: all read
        assert metrics is not None and tracing is not None
        return GatewayConfig(
            listen=listen,
            home=home,
            state=state,
            audit=audit,
            auth=auth,
            http=http,
            servers=_in_order(servers, reader),
            aggregate=aggregate,
            metrics=metrics,
            tracing=tracing,
            replica=replica,
            log_level=log_level,
            source=source.resolve(),
            warnings=tuple(
                sorted(self.warnings, key=lambda w: (w.location.line, w.location.column))
            ),
        )

    def _listen(self, fields: Fields) -> ListenAddress | None:
        node = fields.get("listen")
        if node is None or (isinstance(node, LScalar) and node.value is None):
            return parse_listen(DEFAULT_LISTEN)
        if not isinstance(node, LScalar) or not isinstance(node.value, str):
            message = f"listen must be a string like {DEFAULT_LISTEN}, got {describe(node)}"
            self.issues.add(node, "listen", message)
            return None
        return checked(self.issues, node, "listen", parse_listen, node.value)

    def _aggregate(self, root: Fields, reader: ServerReader) -> AggregateConfig | None:
        node = root.mapping("aggregate")
        if node is None:
            return None
        fields = Fields(node, "aggregate", self.issues, AGGREGATE_KEYS)
        path = fields.string("path")
        path_node = fields.get("path")
        if path is not None and path_node is not None:
            path = checked(self.issues, path_node, "aggregate", check_aggregate_path, path)
            for name in reader.name_nodes:
                if path is not None and (path + "/").startswith(f"{SERVER_PATH_PREFIX}{name}/"):
                    fields.error("path", f'path "{path}" is inside server "{name}"\'s path')
        given = fields.string("separator")
        separator = DEFAULT_SEPARATOR if given is None else given
        separator_ok = checked(
            self.issues, fields.get("separator") or node, "aggregate", check_separator, separator
        )
        names = self._aggregated(fields, reader)
        served_at = path or DEFAULT_AGGREGATE_PATH
        for name, name_node in reader.name_nodes.items():
            if f"{SERVER_PATH_PREFIX}{name}" in (f"{served_at}/sse", f"{served_at}/messages"):
                self.issues.add(
                    name_node,
                    f"servers.{name}",
                    f'server "{name}" would be served at {served_at}/{name}, where the aggregated '
                    "endpoint's legacy SSE transport is; rename the server or move aggregate.path",
                )
        if separator_ok is not None:
            for name in names:
                if separator in name:
                    self.issues.add(
                        reader.name_nodes[name],
                        f"servers.{name}",
                        f'the name contains the aggregate separator "{separator}", so aggregated '
                        "tool names would be ambiguous; rename the server or choose another "
                        "aggregate.separator",
                    )
        return AggregateConfig(
            servers=tuple(names), path=path or DEFAULT_AGGREGATE_PATH, separator=separator
        )

    def _aggregated(self, fields: Fields, reader: ServerReader) -> list[str]:
        """The servers the aggregate endpoint serves: the list given, else all of them."""
        known = list(reader.name_nodes)
        listed = strings(fields, "servers")
        if listed is None:
            return [] if "servers" in fields.values and fields.present("servers") else known
        if not listed:
            fields.error(
                "servers", "servers must name at least one server (or be left out for all)"
            )
        names: list[str] = []
        for name, node in listed:
            if name in names:
                self.issues.add(node, "aggregate.servers", f'server "{name}" is listed twice')
            elif name not in known:
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                self.issues.add(node, "aggregate.servers", f'no server is named "{name}"{hint}')
            else:
                names.append(name)
        return names

    def _exposure(
        self, listen: ListenAddress, node: LNode, http: HttpLimits, auth: AuthConfig
    ) -> None:
        """The rules for an address other machines can reach; `node` is the listen value."""
        if listen.loopback:
            return
        if not auth.authenticates and not auth.insecure_no_auth:
            self.issues.add(
                node,
                "listen",
                f'"{listen}" is reachable from other machines, so clients must authenticate: '
                "keep auth.grants: true (the default), configure auth.oauth, or set "
                "auth.insecure_no_auth: true to serve without authentication",
            )
        if listen.wildcard and not http.allowed_hosts and http.public_url is None:
            self.issues.add(
                node,
                "listen",
                f'"{listen}" binds every interface, so the Host names clients use are unknown: '
                "list them in http.allowed_hosts or set http.public_url",
            )


def _in_order(servers: dict[str, ServerConfig], reader: ServerReader) -> dict[str, ServerConfig]:
    return {name: servers[name] for name in reader.name_nodes if name in servers}
