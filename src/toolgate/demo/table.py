"""The demo's rich tables: the calls as decided through toolgate, and the same calls direct."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import orjson
from rich.table import Table
from rich.text import Text

from toolgate.demo.agent import CallRecord
from toolgate.demo.outcome import (
    APPROVAL,
    ERROR,
    EXECUTED,
    REFUSED,
    Verdict,
    direct_verdict,
    gateway_verdict,
)
from toolgate.demo.rule_names import rule_label
from toolgate.demo.script import ALLOW, DENY, HIDDEN, LIMIT

STYLES: Final = {
    ALLOW: "bold green",
    DENY: "bold red",
    LIMIT: "bold yellow",
    HIDDEN: "bold magenta",
    APPROVAL: "bold cyan",
    EXECUTED: "bold green",
    REFUSED: "yellow",
    ERROR: "bold red",
}
MAX_ARGS: Final = 80
MAX_VALUE: Final = 16
MAX_MESSAGE: Final = 90


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def compact_arguments(arguments: dict[str, Any]) -> str:
    """`{"symbol":"BTCUSDT","quantity":0.5}` -> `symbol=BTCUSDT quantity=0.5`, clipped."""
    parts = []
    for key, value in arguments.items():
        shown = value if isinstance(value, str) else orjson.dumps(value).decode()
        parts.append(f"{key}={clip(shown, MAX_VALUE)}")
    return clip(" ".join(parts), MAX_ARGS) or "-"


def label(text: str) -> Text:
    return Text(text, style=STYLES.get(text, ""))


def _table(
    title: str,
    records: Sequence[CallRecord],
    judge: Callable[[dict[str, Any]], Verdict],
    columns: Sequence[str],
    names: Mapping[str, str],
) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("tool", no_wrap=True)
    table.add_column("arguments", overflow="fold", ratio=4)
    table.add_column(columns[0], no_wrap=True)
    if "rule" in columns:
        table.add_column("rule", ratio=2)
    table.add_column(columns[-1], ratio=4)
    for number, record in enumerate(records, start=1):
        verdict = judge(record.response)
        row: list[str | Text] = [
            str(number),
            record.call.tool,
            compact_arguments(record.call.arguments),
            label(verdict.label),
        ]
        if "rule" in columns:
            row.append(rule_label(verdict.rule, names) if verdict.rule else "-")
        row.append(clip(verdict.message, MAX_MESSAGE))
        table.add_row(*row)
    return table


def gateway_table(records: Sequence[CallRecord], names: Mapping[str, str] | None = None) -> Table:
    """Every call with toolgate's decision, the deciding rule (by name when `names` knows it)
    and what the agent was told."""
    columns = ("decision", "rule", "agent sees")
    return _table("Through toolgate", records, gateway_verdict, columns, names or {})


def direct_table(records: Sequence[CallRecord]) -> Table:
    """Every call as the exchange handled it with nothing in between."""
    return _table(
        "Without toolgate (agent → exchange directly)",
        records,
        direct_verdict,
        ("outcome", "exchange says"),
        {},
    )
