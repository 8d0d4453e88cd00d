"""`toolgate validate` lints: warnings by default, errors with --strict, --tools catalogues."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from toolgate.cli.main import app

SHARED = Path(__file__).resolve().parents[3] / "shared"
BINANCE = SHARED / "fixtures" / "binance-termix-tools.json"

LINTED = """version: "1"
tools:
  BinanceWalletWithdraw:
    rules:
      - {name: block, action: deny}
      - {name: later, rate_limit: 3/minute}
"""

CLEAN = """version: "1"
tools:
  BinanceNewOrder:
    rules:
      - name: small
        conditions: [{path: args.quantity, op: lte, value: 10}]
"""


def _validate(tmp_path: Path, text: str, *extra: str) -> tuple[int, str]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    result = CliRunner().invoke(app, ["validate", "-c", str(policy), *extra])
    return result.exit_code, result.output


def test_lints_are_located_warnings_and_exit_zero(tmp_path: Path) -> None:
    code, output = _validate(tmp_path, LINTED)
    assert code == 0
    first = output.splitlines()[0]
    assert first.startswith(
        f"warning: {tmp_path / 'policy.yaml'}:6:9: tools.BinanceWalletWithdraw.rules[1]: "
    )
    assert output.splitlines()[-1].startswith("valid:")


def test_strict_turns_lints_into_errors_and_exits_one(tmp_path: Path) -> None:
    code, output = _validate(tmp_path, LINTED, "--strict")
    assert code == 1 and output.startswith("error: ") and "valid:" not in output


def test_a_clean_policy_passes_strict(tmp_path: Path) -> None:
    assert _validate(tmp_path, CLEAN, "--strict") == (
        0,
        f"valid: {tmp_path / 'policy.yaml'} (1 tools, 1 rules)\n",
    )


def _binance() -> Path:
    if not BINANCE.exists():
        if os.environ.get("TOOLGATE_REQUIRE_E2E"):
            pytest.fail(f"{BINANCE} is missing")
        pytest.skip(f"{BINANCE} is missing")
    return BINANCE


def test_tools_catalogue_from_the_binance_fixture_flags_unknown_names_and_arguments(
    tmp_path: Path,
) -> None:
    text = (
        CLEAN.replace("args.quantity", "args.qty")
        + "  BinanceNewOrdr:\n    rules: []\nhide: [BinanceWithdraw]\n"
    )
    code, output = _validate(tmp_path, text, "--tools", str(_binance()))
    assert code == 0
    assert 'hide entry "BinanceWithdraw" matches no tool' in output
    assert 'tool key "BinanceNewOrdr" matches no tool' in output
    assert "reads args.qty, an argument no matching tool declares" in output


def test_tools_catalogue_accepts_the_real_names_of_the_binance_fixture(tmp_path: Path) -> None:
    code, output = _validate(tmp_path, CLEAN, "--tools", str(_binance()), "--strict")
    assert code == 0 and "warning" not in output


def test_tools_catalogue_accepts_scan_json_output(tmp_path: Path) -> None:
    scan = tmp_path / "scan.json"
    scan.write_bytes(orjson.dumps({"server": {"name": "x"}, "tools": [{"name": "Other"}]}))
    code, output = _validate(tmp_path, CLEAN, "--tools", str(scan))
    assert code == 0 and 'tool key "BinanceNewOrder" matches no tool' in output


def test_an_unreadable_catalogue_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "tools.json"
    bad.write_text("[1, 2]")
    code, _ = _validate(tmp_path, CLEAN, "--tools", str(bad))
    assert code == 2
