"""Rendering decision records for `audit tail` and `audit query`: a readable table, JSON, CSV,
and counts grouped by one field."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

import orjson

from toolgate.audit.reader import Record

# (field, width) of the table; the last column takes what is left
TABLE: Final = (("ts", 27), ("outcome", 8), ("identity", 14), ("tool", 20), ("rule", 26))
CSV_FIELDS: Final = (
    "ts", "decision_id", "session", "identity", "method", "tool", "outcome", "reason", "rule",
    "rule_name", "message", "policy_revision", "mode", "upstream", "decision_ms", "upstream_ms",
)  # fmt: skip
COUNT_FIELDS: Final = {"rule": "rule", "tool": "tool", "identity": "identity", "outcome": "outcome"}


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def table_header() -> str:
    return " ".join(name.ljust(width) for name, width in TABLE) + " message"


def table_row(data: dict[str, Any]) -> str:
    cells = []
    for name, width in TABLE:
        text = _text(data.get(name))
        cells.append((text if len(text) <= width else text[: width - 1] + "…").ljust(width))
    return " ".join(cells) + " " + _text(data.get("message") or data.get("reason") or "")


def json_line(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()


def json_array(records: Iterable[Record]) -> str:
    return orjson.dumps([r.data for r in records], option=orjson.OPT_INDENT_2).decode()


def csv_text(records: Iterable[Record]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for record in records:
        row = [record.data.get(name) for name in CSV_FIELDS]
        writer.writerow(["" if value is None else value for value in row])
    return out.getvalue()


def count_by(records: Iterable[Record], field: str) -> list[tuple[str, int]]:
    """How many records per value of `field` (`-` when absent), most frequent first."""
    counts = Counter(_text(record.data.get(field)) for record in records)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def count_table(field: str, counts: list[tuple[str, int]]) -> str:
    width = max([len(field), *(len(key) for key, _ in counts)])
    lines = [f"{field.ljust(width)}  count"]
    lines += [f"{key.ljust(width)}  {count}" for key, count in counts]
    return "\n".join(lines)


def count_csv(field: str, counts: list[tuple[str, int]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([field, "count"])
    writer.writerows(counts)
    return out.getvalue()


def count_json(counts: list[tuple[str, int]]) -> str:
    return orjson.dumps(dict(counts), option=orjson.OPT_INDENT_2).decode()
