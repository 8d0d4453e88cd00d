"""`toolgate validate -c POLICY -- CMD`: catalogue lints against the tools a live server lists."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.e2e.support import everything_server, stub_server
from typer.testing import CliRunner

from toolgate.cli.main import app

POLICY = """version: "1"
tools:
  {tool}:
    rules:
      - {{name: r, conditions: [{{path: args.nope, op: exists, value: true}}]}}
  ghost_tool:
    rules: [{{name: x, action: deny}}]
"""


def _validate(tmp_path: Path, tool: str, *extra: str) -> tuple[int, str, str]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(tool=tool))
    result = CliRunner().invoke(app, ["validate", "-c", str(policy), *extra])
    return result.exit_code, result.stdout, result.stderr


def test_the_stub_server_s_tools_are_checked_like_a_catalogue_file(tmp_path: Path) -> None:
    code, out, _ = _validate(tmp_path, "echo", "--", *stub_server("3"))
    assert code == 0
    assert 'tool key "ghost_tool" matches no tool of the catalogue' in out
    assert "reads args.nope, an argument no matching tool declares (echo)" in out
    assert out.rstrip().endswith("(2 tools, 2 rules)")


def test_strict_makes_the_live_findings_errors(tmp_path: Path) -> None:
    code, out, _ = _validate(tmp_path, "echo", "--strict", "--", *stub_server())
    assert code == 1 and "error: " in out and "ghost_tool" in out


def test_the_everything_server_s_tools_are_listed_live(tmp_path: Path) -> None:
    code, out, _ = _validate(tmp_path, "echo", "--", *everything_server())
    assert code == 0
    assert "ghost_tool" in out
    assert "matches no tool" not in out.replace('"ghost_tool" matches no tool', "")


def test_a_server_that_cannot_start_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, out, err = _validate(tmp_path, "echo", "--", str(tmp_path / "no-such-server"))
    assert code == 2 and "valid:" not in out
    assert err.startswith("toolgate: cannot list the tools of the server: ")
    assert err.count("\n") == 1


def test_a_server_that_never_answers_times_out_in_one_line(tmp_path: Path) -> None:
    silent = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    code, _, err = _validate(tmp_path, "echo", "--timeout", "0.5", "--", *silent)
    assert code == 2 and "timed out after 0.5 s" in err and err.count("\n") == 1


def test_a_server_that_speaks_no_mcp_is_one_line(tmp_path: Path) -> None:
    code, _, err = _validate(tmp_path, "echo", "--", sys.executable, "-c", "print('garbage')")
    assert code == 2 and err.startswith("toolgate: cannot list the tools") and err.count("\n") == 1


def test_a_file_catalogue_and_a_server_together_are_refused(tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text('{"tools": []}')
    code, _, err = _validate(tmp_path, "echo", "--tools", str(tools), "--", *stub_server())
    assert code == 2 and "not both" in err


def test_a_non_positive_timeout_is_refused(tmp_path: Path) -> None:
    code, _, err = _validate(tmp_path, "echo", "--timeout", "0", "--", *stub_server())
    assert code == 2 and "--timeout must be a positive number" in err
