"""Reading the decision log back: records with their file and line, unreadable lines reported
(never raised), and the filters shared by `audit tail` and `audit query`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True, slots=True)
class Record:
    file: Path
    line: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Garbage:
    file: Path
    line: int
    reason: str

    def render(self) -> str:
        return f"{self.file}:{self.line}: {self.reason} (skipped)"


def parse_line(path: Path, number: int, raw: bytes) -> Record | Garbage:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Garbage(path, number, "not a JSON line")
    if not isinstance(data, dict):
        return Garbage(path, number, "not a JSON object")
    return Record(path, number, data)


def read_records(files: Iterable[Path]) -> Iterator[Record | Garbage]:
    """Every complete line of every file, in order. A last line without its newline may be a
    write in progress and is left for the next read."""
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield Garbage(path, 0, f"cannot read: {exc.strerror}")
            continue
        for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
            if raw.strip():
                yield parse_line(path, number, raw)


def event_time(data: dict[str, Any]) -> datetime | None:
    value = data.get("ts")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_when(text: str, now: datetime) -> datetime:
    """`2026-11-20T14:00`, `2026-11-20 14:00:00Z` (no zone: local time), `14:00` (today),
    `90m`/`2h`/`1d` (ago), `today`, `yesterday` (local midnight). Raises ValueError."""
    value = text.strip().lower()
    local_now = now.astimezone()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value in ("today", "yesterday"):
        return midnight - timedelta(days=1 if value == "yesterday" else 0)
    relative = _RELATIVE.match(value)
    if relative:
        return now - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value):
        clock = datetime.strptime(value if value.count(":") == 2 else value + ":00", "%H:%M:%S")
        return midnight.replace(hour=clock.hour, minute=clock.minute, second=clock.second)
    moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    return moment if moment.tzinfo else moment.astimezone()


@dataclass(frozen=True, slots=True)
class Filters:
    denied: bool = False
    tool: str | None = None
    identity: str | None = None
    outcome: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def match(self, data: dict[str, Any]) -> bool:
        if self.denied and data.get("outcome") != "denied":
            return False
        if self.outcome is not None and data.get("outcome") != self.outcome:
            return False
        if self.tool is not None and data.get("tool") != self.tool:
            return False
        if self.identity is not None and data.get("identity") != self.identity:
            return False
        if self.since is None and self.until is None:
            return True
        moment = event_time(data)
        if moment is None:
            return False
        if self.since is not None and moment < self.since:
            return False
        return self.until is None or moment < self.until
