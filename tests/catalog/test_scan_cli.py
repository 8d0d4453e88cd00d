"""`toolgate scan` as a process: JSON report, starter policy round trip, table, clear failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.e2e.support import SHARED, require, time_server

pytestmark = [pytest.mark.e2e]

WAIT = 60.0
CATALOGUE = SHARED / "fixtures" / "binance-termix-tools.json"
CATALOG_SERVER = Path(__file__).resolve().parents[1] / "e2e" / "catalog_server.py"
TOOL_KEYS = {
    "name",
    "category",
    "band",
    "score",
    "confidence",
    "signals",
    "evidence",
    "recommended_rule",
    "definition_hash",
}


def catalogue_server() -> list[str]:
    path = require(CATALOGUE, "the shared Binance catalogue fixture")
    return [sys.executable, str(CATALOG_SERVER), path, "40"]


def toolgate(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "toolgate", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=env,
        check=False,
    )


def test_scan_prints_a_json_report_of_every_tool_of_the_catalogue() -> None:
    done = toolgate("scan", "--format", "json", "--", *catalogue_server())
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = orjson.loads(done.stdout)
    assert set(report) == {"server", "tools", "resources", "prompts"}
    assert report["server"]["era"] == "legacy"
    assert report["server"]["name"] == "catalogue"
    assert len(report["tools"]) == 156
    for tool in report["tools"]:
        assert set(tool) == TOOL_KEYS
        assert 1 <= tool["score"] <= 5
        assert tool["definition_hash"].startswith("sha256:")
        for evidence in tool["evidence"]:
            assert set(evidence) == {"signal", "detail", "points_to", "weight"}


def test_a_starter_policy_written_by_scan_is_accepted_by_validate(tmp_path: Path) -> None:
    policy = tmp_path / "starter.yaml"
    report = tmp_path / "report.yaml"
    done = toolgate("scan", "-o", str(report), "--policy-out", str(policy), "--", *time_server())
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(report.read_text())["server"]["era"] == "modern"
    checked = toolgate("validate", "-c", str(policy))
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.startswith(f"valid: {policy}")


def test_the_catalogue_starter_policy_is_accepted_by_validate(tmp_path: Path) -> None:
    policy = tmp_path / "binance.yaml"
    done = toolgate(
        "scan", "--format", "json", "--policy-out", str(policy), "--", *catalogue_server()
    )
    assert done.returncode == 0, done.stderr
    checked = toolgate("validate", "-c", str(policy))
    assert checked.returncode == 0, checked.stdout
    assert "(156 tools" in checked.stdout


def test_the_table_names_each_tool_with_its_class_and_rule() -> None:
    done = toolgate("scan", "--", *time_server())
    assert done.returncode == 0, done.stderr
    assert "get_current_time" in done.stdout
    assert "recommended rule" in done.stdout
    assert "2 tools" in done.stdout


def test_a_failing_server_exits_2_with_one_clear_line() -> None:
    done = toolgate("scan", "--", sys.executable, "-c", "raise SystemExit(3)")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"toolgate: server `{sys.executable} -c 'raise SystemExit(3)'` exited during "
        "server/discover (exit status 3)"
    ]


def test_a_silent_server_times_out_after_the_given_timeout() -> None:
    silent = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    done = toolgate("scan", "--timeout", "1", "--", *silent)
    assert done.returncode == 2
    assert "timed out after 1 s waiting for the answer to initialize" in done.stderr


def test_bad_input_exits_2() -> None:
    assert toolgate("scan").returncode == 2  # no command
    assert toolgate("scan", "--timeout", "0", "--", "x").returncode == 2
    assert toolgate("scan", "--format", "xml", "--", "x").returncode == 2
    missing = toolgate("scan", "--", "/no/such/server")
    assert missing.returncode == 2
    assert "cannot start" in missing.stderr
