"""The in-process micro-benchmarks owned by others (policy evaluation, counter reservation,
policy scaling by flavour): run their scripts when they exist, keep what they print, and read the
JSON they write if they write one. A script that only prints a table is parsed from its output
when the table has the expected shape (name, then numeric columns); otherwise its output is shown
verbatim."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tgbench.paths import BENCH, PYTHON, RESULTS

TIMEOUT_S = 600


@dataclass(frozen=True)
class Micro:
    title: str
    script: str
    json_names: tuple[str, ...]  # where the script writes its JSON, if it does

    @property
    def output(self) -> Path:
        return RESULTS / f"{Path(self.script).stem}.txt"


MICROS = (
    Micro("policy evaluation", "bench_policy_eval.py", ("policy_eval.json", "policy.json")),
    Micro("counter reservation", "bench_counters.py", ("counters.json",)),
    Micro("policy scaling", "bench_policy_scaling.py", ("policy_scaling.json",)),
)

# bench_policy_eval.py prints: scenario, tools, rules, p50 µs, p99 µs, mean µs [(over target)]
EVAL_ROW = re.compile(
    r"^(?P<name>\S.*?)\s+(?P<tools>\d+)\s+(?P<rules>\d+)\s+(?P<p50>[\d.]+)\s+(?P<p99>[\d.]+)"
    r"\s+(?P<mean>[\d.]+)(?:\s+\(over target\))?\s*$"
)
EVAL_TARGET = re.compile(r"target: p50 <= ([\d.]+)")


def run_all(log: Callable[[str], None]) -> None:
    for micro in MICROS:
        path = BENCH / micro.script
        if not path.exists():
            log(f"  micro-benchmark {micro.title}: {micro.script} does not exist yet, skipped")
            continue
        log(f"  micro-benchmark {micro.title}: running {micro.script}")
        try:
            done = subprocess.run(
                [PYTHON, str(path)],
                check=False,
                cwd=BENCH.parent,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            log(f"    {micro.script} took more than {TIMEOUT_S} s, stopped")
            continue
        if done.returncode != 0:
            log(f"    {micro.script} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
            continue
        RESULTS.mkdir(parents=True, exist_ok=True)
        micro.output.write_text(done.stdout, encoding="utf-8")


def parse_eval_table(text: str) -> list[dict[str, Any]]:
    target = EVAL_TARGET.search(text)
    rows = []
    for line in text.splitlines():
        match = EVAL_ROW.match(line)
        if match is None or match["name"].startswith(("python", "scenario", "target")):
            continue
        row: dict[str, Any] = {
            "name": match["name"],
            "tools": int(match["tools"]),
            "rules": int(match["rules"]),
            "p50_us": float(match["p50"]),
            "p99_us": float(match["p99"]),
            "mean_us": float(match["mean"]),
        }
        if target:
            row["target_us"] = float(target[1])
        rows.append(row)
    return rows


def load_one(micro: Micro) -> dict[str, Any] | None:
    document: dict[str, Any] | None = None
    for name in micro.json_names:
        path = RESULTS / name
        if path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(loaded, dict):
                document = loaded | {"_file": f"bench/results/{name}"}
                break
    if document is None and micro.output.exists():
        text = micro.output.read_text(encoding="utf-8")
        written = datetime.fromtimestamp(micro.output.stat().st_mtime, UTC)
        document = {
            "date": written.isoformat(timespec="seconds"),
            "results": parse_eval_table(text) if micro.script == "bench_policy_eval.py" else [],
            "printed": text,
            "_file": f"bench/results/{micro.output.name}",
        }
    if document is not None:
        document["_script"] = f"bench/{micro.script}"
    return document


def load() -> dict[str, dict[str, Any]]:
    """Each micro-benchmark's results by title (absent ones left out)."""
    found = {}
    for micro in MICROS:
        document = load_one(micro)
        if document is not None:
            found[micro.title] = document
    return found


def rows_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = data.get("results") or data.get("rows") or []
    return [r for r in rows if isinstance(r, dict)]
