"""Finding MCP client configs and reading the stdio servers they start.

Each client keeps its servers in a JSON file under a known key: Claude Desktop, Claude Code (the
project's `.mcp.json` and the user's `~/.claude.json`), Cursor (user and project), VS Code (the
project's `.vscode/mcp.json`, key `servers`) and Windsurf. Home and project directories are
parameters, so tests (and `toolgate init --home/--project`) point them anywhere. A file that is not
a JSON object with a well-formed server map is a `ClientConfigError` naming the file and the
reason; nothing here writes. Rewriting lives in `clients_rewrite`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolgate.errors import ConfigError

MCP_SERVERS, SERVERS = "mcpServers", "servers"
TOOLGATE_NAMES = frozenset({"toolgate", "toolgate.exe"})


class ClientConfigError(ConfigError):
    """A client config that cannot be read as one; it is reported and never overwritten."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, slots=True)
class ConfigLocation:
    client: str
    path: Path
    key: str = MCP_SERVERS


@dataclass(frozen=True, slots=True)
class StdioServer:
    """One stdio server entry; `wrapped_policy` is set when it already runs behind toolgate."""

    name: str
    command: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    wrapped_policy: str | None = None
    original: tuple[str, ...] = ()

    @property
    def argv(self) -> tuple[str, ...]:
        """The real server command: unwrapped if toolgate already wraps it."""
        return self.original or (self.command, *self.args)


@dataclass(frozen=True, slots=True)
class ClientConfig:
    location: ConfigLocation
    text: str
    document: dict[str, Any]
    servers: tuple[StdioServer, ...]


def config_locations(home: Path, project: Path) -> list[ConfigLocation]:
    """Every place a supported client keeps its MCP servers, for this home and project."""
    return [
        ConfigLocation("Claude Desktop", home / ".config/Claude/claude_desktop_config.json"),
        ConfigLocation(
            "Claude Desktop",
            home / "Library/Application Support/Claude/claude_desktop_config.json",
        ),
        ConfigLocation("Claude Code (project)", project / ".mcp.json"),
        ConfigLocation("Claude Code (user)", home / ".claude.json"),
        ConfigLocation("Cursor (user)", home / ".cursor/mcp.json"),
        ConfigLocation("Cursor (project)", project / ".cursor/mcp.json"),
        ConfigLocation("VS Code (project)", project / ".vscode/mcp.json", SERVERS),
        ConfigLocation("Windsurf", home / ".codeium/windsurf/mcp_config.json"),
    ]


def discover(
    locations: list[ConfigLocation],
) -> tuple[list[ClientConfig], list[ClientConfigError]]:
    """The configs that exist and parse, and a reported error for each one that does not."""
    found: list[ClientConfig] = []
    broken: list[ClientConfigError] = []
    seen: set[Path] = set()
    for location in locations:
        resolved = location.path.resolve()
        if resolved in seen or not location.path.is_file():
            continue
        seen.add(resolved)
        try:
            found.append(read_config(location))
        except ClientConfigError as exc:
            broken.append(exc)
    return found, broken


def read_config(location: ConfigLocation) -> ClientConfig:
    path = location.path
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientConfigError(path, f"cannot read it: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        raise ClientConfigError(path, reason) from None
    if not isinstance(document, dict):
        raise ClientConfigError(path, "the top level is not a JSON object")
    entries = document.get(location.key, {})
    if not isinstance(entries, dict):
        raise ClientConfigError(path, f'"{location.key}" is not an object')
    servers = [_server(path, name, entry) for name, entry in entries.items()]
    stdio = tuple(server for server in servers if server is not None)
    return ClientConfig(location, text, document, stdio)


def _server(path: Path, name: str, entry: object) -> StdioServer | None:
    if not isinstance(entry, dict):
        raise ClientConfigError(path, f'server "{name}" is not an object')
    command = entry.get("command")
    if command is None:
        return None  # a remote (url) server: nothing to wrap over stdio
    args = entry.get("args", [])
    env = entry.get("env", {})
    if not isinstance(command, str) or not command:
        raise ClientConfigError(path, f'server "{name}": "command" is not a non-empty string')
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise ClientConfigError(path, f'server "{name}": "args" is not a list of strings')
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ClientConfigError(path, f'server "{name}": "env" is not an object of strings')
    policy, original = wrapped(command, tuple(args))
    return StdioServer(name, command, tuple(args), env, policy, original)


def wrapped(command: str, args: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """(policy, original command) when `command args` is `toolgate run -c P … -- CMD …`
    (also `python -m toolgate run …`); (None, ()) otherwise."""
    argv = (command, *args)
    for index, word in enumerate(argv):
        if (
            Path(word).name in TOOLGATE_NAMES
            and argv[index + 1 : index + 2] == ("run",)
            and "--" in argv[index:]
        ):
            split = argv.index("--", index)
            options = argv[index + 2 : split]
            policy = _option(options, ("-c", "--config"))
            return policy, argv[split + 1 :]
    return None, ()


def _option(options: tuple[str, ...], names: tuple[str, ...]) -> str | None:
    for index, word in enumerate(options[:-1]):
        if word in names:
            return options[index + 1]
    return None
