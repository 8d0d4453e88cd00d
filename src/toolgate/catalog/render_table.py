"""The scan report as a rich table: one row per tool with its class, band, score, rule, evidence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table
from rich.text import Text

from toolgate.catalog.starter_yaml import one_line

BAND_STYLES = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}


def scan_table(report: Mapping[str, Any]) -> Table:
    server = report["server"]
    title = f"{server.get('name') or server['command']} ({server['era']} era)"
    table = Table(title=one_line(title, 100), title_justify="left")
    for column in ("tool", "class", "band", "score", "recommended rule", "top evidence"):
        table.add_column(column, overflow="fold")
    for tool in report["tools"]:
        band = str(tool["band"])
        table.add_row(
            Text(one_line(tool["name"], 80)),
            tool["category"],
            Text(band, style=BAND_STYLES.get(band, "")),
            str(tool["score"]),
            Text(one_line(tool["recommended_rule"], 60)),
            Text(top_evidence(tool)),
        )
    return table


def top_evidence(tool: Mapping[str, Any]) -> str:
    """The heaviest evidence for the tool's own class, or for anything when there is none."""
    evidence = list(tool["evidence"])
    own = [e for e in evidence if e["points_to"] == tool["category"]] or evidence
    if not own:
        return "-"
    best = max(own, key=lambda e: e["weight"])
    return one_line(f"{best['signal']}: {best['detail']}", 80)


def summary_line(report: Mapping[str, Any]) -> str:
    counts: dict[str, int] = {}
    for tool in report["tools"]:
        counts[tool["category"]] = counts.get(tool["category"], 0) + 1
    classes = ", ".join(f"{n} {name}" for name, n in sorted(counts.items(), key=lambda c: -c[1]))
    return (
        f"{len(report['tools'])} tools ({classes or 'none'}), "
        f"{len(report['resources'])} resources, {len(report['prompts'])} prompts"
    )
