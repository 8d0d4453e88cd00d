"""The command line's own surface: version, help on every command, validate's output."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolgate import __version__
from toolgate.cli.main import app

runner = CliRunner()


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"toolgate {__version__}"


@pytest.mark.parametrize("command", [[], ["run"], ["validate"], ["demo"], ["scan"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_validate_reports_a_valid_policy_with_its_counts(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        'version: "1"\ntools:\n  a:\n    rules:\n      - rate_limit: 5/minute\n'
        "      - {name: x, action: deny}\n  b:\n    rules: []\n"
    )
    result = runner.invoke(app, ["validate", "-c", str(policy)])
    assert result.exit_code == 0
    assert result.output.strip() == f"valid: {policy} (2 tools, 2 rules)"


def test_validate_prints_every_error_located_and_exits_1(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        'version: "1"\n'
        "tools:\n"
        "  a:\n"
        "    rules:\n"
        "      - name: r\n"
        "        conditions: [{path: args.x, op: 'gte=', value: 1}]\n"
        "        on-deny: typo\n"
    )
    result = runner.invoke(app, ["validate", "-c", str(policy)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith(f"{policy}:") for line in lines)
    assert any("tools.a.rules[0].conditions[0]" in line and "gte=" in line for line in lines)
    assert any("on-deny" in line for line in lines)


@pytest.mark.parametrize(
    "content", [b"\x00\xff\xfe binary", b"- just\n- a list\n", b"", b"version: [unclosed"]
)
def test_validate_explains_garbage_without_a_traceback(tmp_path: Path, content: bytes) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_bytes(content)
    result = runner.invoke(app, ["validate", "-c", str(policy)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith(f"{policy}")


def test_validate_of_a_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["validate", "-c", str(missing)])
    assert result.exit_code == 1
    assert str(missing) in result.output
