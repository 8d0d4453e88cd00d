"""Smoke test of the benchmark harness (bench/run_all.py), so the bench code cannot rot.

Runs the harness in its quickest mode against the in-repo stub only and checks that it produced a
well-formed result for every contender it ran, and that the document section renders. There is no
timing assertion: the numbers are only checked to be numbers (p50 <= p95 <= p99 holds by
construction, so it checks the summariser, not the machine).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_ALL = ROOT / "bench" / "run_all.py"
OURS = {"direct", "toolgate-empty", "toolgate-100", "toolgate-sqlite"}

pytestmark = pytest.mark.e2e


def run(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, str(RUN_ALL), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def finite(row: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert isinstance(row[key], int | float) and math.isfinite(row[key]), (key, row)


def check_latency(data: dict[str, Any], ran: set[str]) -> None:
    calls = data["method"]["timed_calls_per_contender"]
    for client in ("raw", "sdk"):
        rows = {r["contender"]: r for r in data["latency"] if r["client"] == client}
        assert set(rows) == ran, client
        for key, row in rows.items():
            if "error" in row:
                assert key not in OURS, row  # only a peer may fail, and then it says why
                assert row["error"]
                continue
            assert row["samples"] == calls
            finite(row, "p50_ms", "p95_ms", "p99_ms", "added_p50_ms", "added_p99_ms", "ratio_p50")
            assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
            if key.startswith("toolgate") and client == "raw":
                finite(row, "audit_decision_ms_p50")


def test_quick_run_produces_well_formed_results(tmp_path: Path) -> None:
    out = tmp_path / "stdio.json"
    run(
        "--quick",
        "--upstreams",
        "stub",
        "--no-micro",
        "--no-docs",
        "--out",
        str(out),
        "--work-dir",
        str(tmp_path),
    )
    data = json.loads(out.read_text())

    skipped = {c["key"] for c in data["contenders"] if c["skipped"]}
    ran = {c["key"] for c in data["contenders"]} - skipped
    assert ran >= OURS
    check_latency(data, ran)

    throughput = {r["contender"]: r for r in data["throughput"] if r["upstream"] == "stub"}
    assert set(throughput) == ran
    for key in OURS:
        finite(throughput[key], "calls_per_s", "ratio_to_direct")
        assert throughput[key]["error_answers"] == 0

    rss = {r["contender"]: r for r in data["rss"]}
    for key in OURS:
        finite(rss[key], "rss_idle_mib")

    listing = {r["contender"]: r for r in data["listing"]["rows"]}
    assert {"direct", "toolgate-hide100"} <= set(listing)
    for key in OURS | {"toolgate-hide100"}:
        assert listing[key]["fields_preserved"] is True, listing[key]
    assert listing["toolgate-hide100"]["tools_returned"] < listing["direct"]["tools_returned"]

    assert data["targets"] and all(t["met"] in (True, False) for t in data["targets"])

    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nprose kept\n")
    run("--report-only", "--out", str(out), "--docs", str(docs))
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\nprose kept\n")
    assert "<!-- results:start" in text and "toolgate, 100-rule policy" in text
