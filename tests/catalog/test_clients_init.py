"""`toolgate init --yes` on a temporary home and project: policies written, configs wrapped
behind a backup, a second run changes nothing, `--undo` restores the original bytes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from toolgate.catalog.clients_rewrite import backups
from toolgate.cli.main import app
from toolgate.policy.loader import load_policy

DEMO = [sys.executable, "-m", "toolgate.demo.exchange_server"]


def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    home, project = tmp_path / "home", tmp_path / "project"
    config = project / ".mcp.json"
    config.parent.mkdir(parents=True)
    servers = {
        "exchange": {"type": "stdio", "command": DEMO[0], "args": DEMO[1:], "env": {"X": "1"}},
        "broken": {"command": str(tmp_path / "no-such-server")},
        "remote": {"type": "http", "url": "https://example.com/mcp"},
    }
    config.write_text(json.dumps({"mcpServers": servers}, indent=2) + "\n", encoding="utf-8")
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor/mcp.json").write_text('{"mcpServers": {', encoding="utf-8")
    return home, project, config


def init(home: Path, project: Path, *extra: str) -> tuple[int, str]:
    arguments = ["init", "--home", str(home), "--project", str(project), "--timeout", "20"]
    result = CliRunner().invoke(app, [*arguments, *extra])
    return result.exit_code, result.output


def test_init_yes_writes_starter_policies_wraps_the_config_and_undo_restores_it(
    tmp_path: Path,
) -> None:
    home, project, config = setup(tmp_path)
    original = config.read_bytes()
    code, output = init(home, project, "--yes", "--no-browser")
    assert code == 0, output
    policy = home / ".toolgate" / "policies" / "exchange.yaml"
    assert load_policy(policy).tool_count > 0
    entry = json.loads(config.read_text())["mcpServers"]["exchange"]
    assert entry["args"] == ["run", "-c", str(policy), "--", *DEMO]
    assert entry["env"] == {"X": "1"} and entry["type"] == "stdio"
    assert json.loads(config.read_text())["mcpServers"]["broken"] == {
        "command": str(tmp_path / "no-such-server")
    }
    assert "could not scan broken" in output
    assert "not valid JSON" in output and str(home / ".cursor/mcp.json") in output
    assert "+" in output and "backup" in output
    assert len(backups(config)) == 1

    code, output = init(home, project, "--yes", "--no-browser")
    assert code == 0 and "No config needs rewriting." in output
    assert len(backups(config)) == 1

    code, output = init(home, project, "--undo")
    assert code == 0 and "Restored" in output
    assert config.read_bytes() == original
    assert (home / ".cursor/mcp.json").read_text() == '{"mcpServers": {'


def test_init_with_no_client_config_says_so(tmp_path: Path) -> None:
    code, output = init(tmp_path / "home", tmp_path / "project", "--yes")
    assert code == 0 and "No MCP client config" in output
