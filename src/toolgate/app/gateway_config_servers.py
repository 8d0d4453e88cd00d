"""Reading the `servers:` section of a gateway file: one `ServerConfig` per named server.

A server is a child process (`command`, with `env` and `cwd`) or an HTTP endpoint (`url`, with
`transport` and static `headers`), never both. Its policy is loaded while the gateway file is,
so a broken policy stops start-up; the policy's own located errors are passed on as they are
(they point into the policy file), after one error at the `policy:` line that introduces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from toolgate.app.gateway_config import STDIO, TRANSPORTS, ServerConfig
from toolgate.app.gateway_config_fields import (
    Secrets,
    checked,
    path_field,
    resolve_path,
    seconds,
)
from toolgate.app.gateway_config_values import (
    check_env_name,
    check_header_name,
    check_server_name,
    check_upstream_url,
    header_value_problem,
    split_command,
    url_is_loopback,
)
from toolgate.audit.redact import secret_key
from toolgate.errors import LocatedError, PolicyValidationError, ToolgateError
from toolgate.policy.loader import SUFFIXES as POLICY_SUFFIXES
from toolgate.policy.loader import load_policy
from toolgate.policy.located import LMap, LNode, LScalar, LSeq, describe
from toolgate.policy.schema import Fields, Issues, join

SERVER_KEYS: Final = (
    "command",
    "url",
    "transport",
    "headers",
    "env",
    "cwd",
    "policy",
    "namespace",
    "timeout_seconds",
)
COMMAND_ONLY: Final = ("env", "cwd")
URL_ONLY: Final = ("transport", "headers")
MAX_TIMEOUT_SECONDS: Final = 3600.0
MIN_TIMEOUT_SECONDS: Final = 0.1


@dataclass(slots=True)
class ServerReader:
    issues: Issues
    secrets: Secrets
    base: Path  # the gateway file's directory
    default_timeout: float
    policy_errors: list[LocatedError] = field(default_factory=list)
    name_nodes: dict[str, LScalar] = field(default_factory=dict)  # for cross-section checks
    _policies: dict[Path, str | None] = field(default_factory=dict)  # path -> problem, once

    def read(self, node: LMap) -> dict[str, ServerConfig]:
        servers: dict[str, ServerConfig] = {}
        if not node.entries:
            self.issues.add(node, "servers", "servers must name at least one server")
        for key, value in node.entries:
            name = self._name(key)
            shown = name or (key.value if isinstance(key, LScalar) else None)
            path = f"servers.{shown}"
            if not isinstance(value, LMap):
                self.issues.add(value, path, f"a server must be a mapping, got {describe(value)}")
                continue
            if shown is None:
                continue
            server = self._server(str(shown), value, path)  # checked even when the name is bad
            if server is not None and name is not None:
                servers[name] = server
        return servers

    def _name(self, key: LNode) -> str | None:
        if not isinstance(key, LScalar) or not isinstance(key.value, str):
            self.issues.add(key, "servers", f"server names must be strings, got {describe(key)}")
            return None
        name = checked(self.issues, key, "servers", check_server_name, key.value)
        if name is None:
            return None
        if name in self.name_nodes:
            first = self.name_nodes[name]
            self.issues.add(
                key,
                "servers",
                f'duplicate server "{name}" (first given at line {first.line}, '
                f"column {first.column})",
            )
            return None
        self.name_nodes[name] = key
        return name

    def _server(self, name: str, node: LMap, path: str) -> ServerConfig | None:
        errors_before = len(self.issues.errors)
        fields = Fields(node, path, self.issues, SERVER_KEYS)
        command, url = self._upstream(fields)
        kind = _kind(fields)
        for key in COMMAND_ONLY if kind == "url" else URL_ONLY if kind == "command" else ():
            if key in fields.values:
                other = "command" if kind == "url" else "url"
                fields.error(key, f"{key} applies to {other} servers only, not to a {kind} server")
        transport = STDIO
        if kind == "url":
            transport = fields.choice("transport", TRANSPORTS, "auto") or "auto"
        headers = self._headers(fields, url or "") if kind == "url" else {}
        env = self._env(fields) if kind == "command" else {}
        cwd = self._cwd(fields) if kind == "command" else None
        policy = self._policy(fields)
        namespace = self._namespace(fields, name)
        timeout = seconds(
            fields,
            "timeout_seconds",
            self.default_timeout,
            MIN_TIMEOUT_SECONDS,
            MAX_TIMEOUT_SECONDS,
        )
        if len(self.issues.errors) != errors_before or policy is None or timeout is None:
            return None
        return ServerConfig(
            name=name,
            policy=policy,
            namespace=namespace or f"server:{name}",
            timeout_seconds=timeout,
            command=command,
            url=url,
            transport=transport,
            headers=headers,
            env=env,
            cwd=cwd,
        )

    def _upstream(self, fields: Fields) -> tuple[tuple[str, ...] | None, str | None]:
        has_command, has_url = fields.present("command"), fields.present("url")
        if has_command and has_url:
            fields.error("url", "give either command or url, not both")
            return None, None
        if not has_command and not has_url:
            for key in ("command", "url"):
                if key in fields.values:  # given, but null
                    fields.error(key, f"{key} must not be null")
                    return None, None
            fields.issues.add(
                fields.node,
                fields.path,
                'missing "command" (a child process) or "url" (an HTTP MCP endpoint)',
            )
            return None, None
        if has_url:
            text = fields.string("url", required=True)
            node = fields.get("url")
            if text is None or node is None:
                return None, None
            return None, checked(self.issues, node, fields.path, check_upstream_url, text)
        return self._command(fields), None

    def _command(self, fields: Fields) -> tuple[str, ...] | None:
        node = fields.get("command")
        if isinstance(node, LScalar) and isinstance(node.value, str):
            return checked(self.issues, node, fields.path, split_command, node.value)
        if not isinstance(node, LSeq):
            at = node or fields.node
            self.issues.add(
                at,
                fields.path,
                f"command must be a list of strings or a string, got {describe(at)}",
            )
            return None
        if not node.items:
            self.issues.add(node, fields.path, "command must not be empty")
            return None
        words: list[str] = []
        for index, item in enumerate(node.items):
            where = f"{join(fields.path, 'command')}[{index}]"
            if not isinstance(item, LScalar) or not isinstance(item.value, str):
                hint = " (quote it)" if isinstance(item, LScalar) and item.value is not None else ""
                self.issues.add(item, where, f"must be a string, got {describe(item)}{hint}")
            elif "\0" in item.value or (index == 0 and not item.value.strip()):
                self.issues.add(item, where, "must be a non-empty string without NUL characters")
            else:
                words.append(item.value)
        return tuple(words) if len(words) == len(node.items) else None

    def _headers(self, fields: Fields, url: str) -> dict[str, str]:
        node = fields.mapping("headers")
        headers: dict[str, str] = {}
        if node is None:
            return headers
        seen: dict[str, LNode] = {}
        base = join(fields.path, "headers")
        for key, value in node.entries:
            if not isinstance(key, LScalar) or not isinstance(key.value, str):
                self.issues.add(key, base, f"header names must be strings, got {describe(key)}")
                continue
            name = checked(self.issues, key, base, check_header_name, key.value)
            if name is None:
                continue
            if name.lower() in seen:
                first = seen[name.lower()]
                self.issues.add(
                    key,
                    base,
                    f'duplicate header "{name}" (header names ignore case; first given at line '
                    f"{first.line}, column {first.column})",
                )
                continue
            seen[name.lower()] = key
            where = join(base, name)
            secret = self.secrets.read(value, where)
            if secret is None:
                continue
            problem = header_value_problem(secret.value)
            if problem is not None:
                self.issues.add(secret.node, where, f"{secret.source} {problem}")
                continue
            if secret.literal and secret_key(name):
                self.secrets.warn_literal(value, where, f'header "{name}"')
            if (
                secret_key(name)
                and not url.lower().startswith("https:")
                and not url_is_loopback(url)
            ):
                self.secrets.warn(
                    value,
                    where,
                    f'header "{name}" travels over plain http to another machine; use https',
                )
            headers[name] = secret.value
        return headers

    def _env(self, fields: Fields) -> dict[str, str]:
        node = fields.mapping("env")
        env: dict[str, str] = {}
        if node is None:
            return env
        base = join(fields.path, "env")
        for key, value in node.entries:
            if not isinstance(key, LScalar) or not isinstance(key.value, str):
                self.issues.add(key, base, f"variable names must be strings, got {describe(key)}")
                continue
            name = checked(self.issues, key, base, check_env_name, key.value)
            if name is None:
                continue
            if name in env:
                self.issues.add(key, base, f'duplicate variable "{name}"')
                continue
            where = join(base, name)
            secret = self.secrets.read(value, where)
            if secret is None:
                continue
            if "\0" in secret.value:
                self.issues.add(secret.node, where, f"{secret.source} contains a NUL character")
                continue
            if secret.literal and secret.value and secret_key(name):
                self.secrets.warn_literal(value, where, f'variable "{name}"')
            env[name] = secret.value
        return env

    def _cwd(self, fields: Fields) -> Path | None:
        cwd = path_field(fields, "cwd", self.base)
        if cwd is None:
            return self.base if "cwd" not in fields.values else None
        if not cwd.is_dir():
            fields.error("cwd", f'cwd "{cwd}" is not a directory')
            return None
        return cwd

    def _policy(self, fields: Fields) -> Path | None:
        text = fields.string("policy", required=True)
        node = fields.get("policy")
        if text is None or node is None:
            return None
        policy = resolve_path(text, self.base)
        if policy not in self._policies:
            self._policies[policy] = self._load(policy)
        problem = self._policies[policy]
        if problem is not None:
            self.issues.add(node, join(fields.path, "policy"), problem)
            return None
        return policy

    def _load(self, policy: Path) -> str | None:
        """Why the policy cannot be used, or None; its located errors join `policy_errors`."""
        if policy.suffix.lower() not in POLICY_SUFFIXES:
            shown = policy.suffix or policy.name
            return f'unsupported policy file type "{shown}" (use .yaml, .yml or .json)'
        if not policy.is_file():
            return f'policy file "{policy}" does not exist' + (
                " (it is a directory)" if policy.is_dir() else ""
            )
        try:
            load_policy(policy)
        except PolicyValidationError as exc:
            self.policy_errors.extend(exc.errors)
            count = len(exc.errors)
            return f'policy file "{policy}" is invalid ({count} error{"s" * (count != 1)} below)'
        except ToolgateError as exc:
            return str(exc)
        return None

    def _namespace(self, fields: Fields, name: str) -> str | None:
        text = fields.string("namespace")
        if text is not None and (not text.strip() or text != text.strip()):
            fields.error("namespace", "namespace must be non-empty text without surrounding spaces")
            return None
        return text


def _kind(fields: Fields) -> str | None:
    """ "command" or "url" when exactly one of them is given, else None."""
    has_command, has_url = "command" in fields.values, "url" in fields.values
    if has_command == has_url:
        return None
    return "command" if has_command else "url"
