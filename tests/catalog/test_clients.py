"""Finding client configs and rewriting them, on copies of real-format config files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from toolgate.catalog.clients import (
    ClientConfigError,
    config_locations,
    discover,
    read_config,
    wrapped,
)
from toolgate.catalog.clients_rewrite import (
    apply_rewrite,
    backups,
    plan_rewrite,
    restore_latest,
)

CLAUDE_DESKTOP = """{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
    },
    "github": {
      "command": "docker",
      "args": ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN",
               "ghcr.io/github/github-mcp-server"],
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_example"}
    }
  },
  "globalShortcut": "Ctrl+Space"
}
"""
CLAUDE_CODE_PROJECT = """{
    "mcpServers": {
        "time": {"type": "stdio", "command": "uvx", "args": ["mcp-server-time"], "env": {}},
        "docs": {"type": "http", "url": "https://example.com/mcp"}
    }
}
"""
CLAUDE_CODE_USER = """{
  "numStartups": 12,
  "theme": "dark",
  "mcpServers": {"git": {"type": "stdio", "command": "uvx", "args": ["mcp-server-git"]}},
  "projects": {"/home/me/app": {"allowedTools": []}}
}
"""
CURSOR = """{
  "mcpServers": {
    "everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]}
  }
}"""
VSCODE = """{
\t"inputs": [{"type": "promptString", "id": "key", "description": "API key", "password": true}],
\t"servers": {
\t\t"fetch": {"type": "stdio", "command": "uvx", "args": ["mcp-server-fetch"],
\t\t\t"envFile": "${workspaceFolder}/.env"}
\t}
}
"""
WINDSURF = (
    '{"mcpServers": {"memory": {"command": "npx", "args": ["-y",'
    ' "@modelcontextprotocol/server-memory"], "disabled": false}}}'
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def machine(tmp_path: Path) -> tuple[Path, Path]:
    home, project = tmp_path / "home", tmp_path / "project"
    write(home / ".config/Claude/claude_desktop_config.json", CLAUDE_DESKTOP)
    write(project / ".mcp.json", CLAUDE_CODE_PROJECT)
    write(home / ".claude.json", CLAUDE_CODE_USER)
    write(home / ".cursor/mcp.json", CURSOR)
    write(project / ".vscode/mcp.json", VSCODE)
    write(home / ".codeium/windsurf/mcp_config.json", WINDSURF)
    return home, project


def servers_by_client(home: Path, project: Path) -> dict[str, list[str]]:
    configs, broken = discover(config_locations(home, project))
    assert broken == []
    return {c.location.client: [s.name for s in c.servers] for c in configs}


def test_every_supported_client_config_is_found_with_its_stdio_servers(
    machine: tuple[Path, Path],
) -> None:
    assert servers_by_client(*machine) == {
        "Claude Desktop": ["filesystem", "github"],
        "Claude Code (project)": ["time"],
        "Claude Code (user)": ["git"],
        "Cursor (user)": ["everything"],
        "VS Code (project)": ["fetch"],
        "Windsurf": ["memory"],
    }


def test_the_macos_claude_desktop_path_and_cursor_project_file_are_found_too(
    tmp_path: Path,
) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    mac = "Library/Application Support/Claude/claude_desktop_config.json"
    write(home / mac, CLAUDE_DESKTOP)
    write(project / ".cursor/mcp.json", CURSOR)
    assert servers_by_client(home, project) == {
        "Claude Desktop": ["filesystem", "github"],
        "Cursor (project)": ["everything"],
    }


def test_a_toolgate_run_command_is_recognised_with_its_policy_and_original_command() -> None:
    assert wrapped("npx", ("-y", "x")) == (None, ())
    assert wrapped("npx", ("toolgate", "x")) == (None, ())
    assert wrapped("python3", ("-m", "toolgate", "run", "--config", "q.yaml", "--", "srv")) == (
        "q.yaml",
        ("srv",),
    )
    assert wrapped("toolgate", ("run", "-c", "p.yaml", "--", "npx", "x")) == (
        "p.yaml",
        ("npx", "x"),
    )


@pytest.mark.parametrize(
    ("relative", "text", "server"),
    [
        (".config/Claude/claude_desktop_config.json", CLAUDE_DESKTOP, "github"),
        (".claude.json", CLAUDE_CODE_USER, "git"),
        (".cursor/mcp.json", CURSOR, "everything"),
        (".codeium/windsurf/mcp_config.json", WINDSURF, "memory"),
    ],
)
def test_wrapping_a_server_keeps_every_other_field_and_the_file_indentation(
    tmp_path: Path, relative: str, text: str, server: str
) -> None:
    home = tmp_path
    path = write(home / relative, text)
    config = next(c for c in discover(config_locations(home, home))[0] if c.location.path == path)
    policy = tmp_path / "policies" / f"{server}.yaml"
    rewrite = plan_rewrite(config, {server: policy})
    assert rewrite is not None
    before, after = json.loads(text), json.loads(rewrite.new_text)
    original = before["mcpServers"][server]
    entry = after["mcpServers"][server]
    assert entry["command"] == "toolgate"
    assert entry["args"] == ["run", "-c", str(policy), "--", original["command"], *original["args"]]
    assert {k: v for k, v in entry.items() if k not in ("command", "args")} == {
        k: v for k, v in original.items() if k not in ("command", "args")
    }
    assert list(entry) == list(original)
    assert {k: v for k, v in after.items() if k != "mcpServers"} == {
        k: v for k, v in before.items() if k != "mcpServers"
    }
    assert rewrite.new_text.endswith("\n") == text.endswith("\n")
    diff = rewrite.diff()
    assert str(path) in diff
    assert any(line.startswith("+") and '"toolgate"' in line for line in diff.splitlines())


def test_a_vscode_config_is_rewritten_under_servers_with_its_tabs_kept(
    machine: tuple[Path, Path], tmp_path: Path
) -> None:
    home, project = machine
    configs, _ = discover(config_locations(home, project))
    vscode = next(c for c in configs if c.location.client == "VS Code (project)")
    rewrite = plan_rewrite(vscode, {"fetch": tmp_path / "fetch.yaml"})
    assert rewrite is not None
    entry = json.loads(rewrite.new_text)["servers"]["fetch"]
    assert entry["envFile"] == "${workspaceFolder}/.env"
    assert entry["args"][-2:] == ["uvx", "mcp-server-fetch"]
    assert '\n\t"servers"' in rewrite.new_text


def test_rewrite_backs_up_first_and_undo_restores_the_exact_bytes(
    machine: tuple[Path, Path], tmp_path: Path
) -> None:
    home, project = machine
    path = home / ".config/Claude/claude_desktop_config.json"
    original = path.read_bytes()
    os.chmod(path, 0o600)
    config = next(
        c for c in discover(config_locations(home, project))[0] if c.location.path == path
    )
    rewrite = plan_rewrite(config, {"filesystem": tmp_path / "fs.yaml"})
    assert rewrite is not None
    backup = apply_rewrite(rewrite)
    assert backup.read_bytes() == original
    assert backups(path) == [backup]
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["mcpServers"]["filesystem"]["command"] == "toolgate"
    assert restore_latest(path) == backup
    assert path.read_bytes() == original
    assert backups(path) == []
    assert restore_latest(path) is None


def test_wrapping_is_idempotent_and_an_already_wrapped_server_is_recognised(
    machine: tuple[Path, Path], tmp_path: Path
) -> None:
    home, project = machine
    path = home / ".cursor/mcp.json"
    locations = config_locations(home, project)
    config = next(c for c in discover(locations)[0] if c.location.path == path)
    policy = tmp_path / "everything.yaml"
    first = plan_rewrite(config, {"everything": policy})
    assert first is not None
    apply_rewrite(first)
    again = next(c for c in discover(locations)[0] if c.location.path == path)
    server = again.servers[0]
    assert server.wrapped_policy == str(policy)
    assert server.argv == ("npx", "-y", "@modelcontextprotocol/server-everything")
    assert plan_rewrite(again, {"everything": policy}) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"mcpServers": {"a": {"command": "npx",}}}', "not valid JSON (line 1"),
        ("// comment\n{}", "not valid JSON"),
        ("[1, 2]", "top level is not a JSON object"),
        ('{"mcpServers": []}', '"mcpServers" is not an object'),
        ('{"mcpServers": {"a": "npx"}}', 'server "a" is not an object'),
        ('{"mcpServers": {"a": {"command": "npx", "args": "-y"}}}', '"args" is not a list'),
        ('{"mcpServers": {"a": {"command": 3}}}', '"command" is not a non-empty string'),
        ('{"mcpServers": {"a": {"command": "x", "env": {"K": 1}}}}', '"env" is not an object'),
        (b"\xff\xfe{}", "cannot read it"),
    ],
)
def test_a_malformed_config_is_reported_with_file_and_reason_and_never_rewritten(
    tmp_path: Path, text: str | bytes, reason: str
) -> None:
    home = tmp_path
    path = home / ".cursor/mcp.json"
    path.parent.mkdir(parents=True)
    data = text if isinstance(text, bytes) else text.encode()
    path.write_bytes(data)
    configs, broken = discover(config_locations(home, home))
    assert configs == []
    assert [error.path for error in broken] == [path]
    assert reason in broken[0].reason
    assert str(path) in str(broken[0])
    assert path.read_bytes() == data
    assert list(path.parent.iterdir()) == [path]


def test_a_config_changed_after_it_was_read_is_not_overwritten(
    machine: tuple[Path, Path], tmp_path: Path
) -> None:
    home, project = machine
    path = home / ".cursor/mcp.json"
    config = read_config(next(loc for loc in config_locations(home, project) if loc.path == path))
    rewrite = plan_rewrite(config, {"everything": tmp_path / "e.yaml"})
    assert rewrite is not None
    path.write_text(CURSOR + " ", encoding="utf-8")
    with pytest.raises(ClientConfigError, match="changed since it was read"):
        apply_rewrite(rewrite)
    assert path.read_text(encoding="utf-8") == CURSOR + " "
    assert backups(path) == []
