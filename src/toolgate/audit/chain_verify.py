"""Verifying the decision log's hash chain: which line was edited, removed, inserted, moved or
torn, named by file, line and event id.

Files are checked in the order given (oldest first) as one chain. Lines before the first line
that carries a link (written before chaining existed) are counted, not judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from toolgate.audit.chain import GENESIS, KEYED_PREFIX, link_of

KEY_HINT = "give the key ($TOOLGATE_AUDIT_KEY or --key-file)"


@dataclass(frozen=True, slots=True)
class Problem:
    file: Path
    line: int
    message: str
    event_id: str | None = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}: {self.message}"
        return f"{where} [event {self.event_id}]" if self.event_id else where


@dataclass(slots=True)
class VerifyReport:
    files: int = 0
    events: int = 0
    unchained: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_files(files: Sequence[Path], key: bytes | None) -> VerifyReport:
    walker = _Walker(key)
    for path in files:
        walker.file(path)
    return walker.report


def event_id(data: dict[str, Any]) -> str | None:
    for name in ("event_id", "decision_id", "id"):
        value = data.get(name)
        if isinstance(value, str):
            return value
    return None


class _Walker:
    def __init__(self, key: bytes | None) -> None:
        self.key = key
        self.report = VerifyReport()
        self.expected: str | None = None  # the link the next chained line must carry
        self.previous = ""  # where that link came from, for messages
        self.blind = False  # the links cannot be checked (keyed chain without the key, …)

    def file(self, path: Path) -> None:
        self.report.files += 1
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._problem(path, 0, f"cannot read: {exc.strerror}")
            return
        lines = data.split(b"\n")
        for number, raw in enumerate(lines[:-1], start=1):
            self.line(path, number, raw)
        if lines[-1]:
            self._problem(
                path, len(lines), "torn last line: the write was cut short (crash?)", None
            )

    def line(self, path: Path, number: int, raw: bytes) -> None:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            self._problem(path, number, "not a JSON event (torn or corrupted line)")
            return
        ident, prev = event_id(data), data.get("prev")
        if not isinstance(prev, str):
            if self.expected is None:
                self.report.unchained += 1
                return
            self._problem(path, number, "no chain link (`prev`): line added by hand?", ident)
        else:
            self._check_link(path, number, prev, ident)
        self.report.events += 1
        self.expected, self.previous = link_of(raw, self.key), f"{path.name}:{number}"

    def _check_link(self, path: Path, number: int, prev: str, ident: str | None) -> None:
        keyed = prev.startswith(KEYED_PREFIX)
        if prev != GENESIS and keyed != (self.key is not None) and not self.blind:
            self.blind = True
            message = (
                f"the chain is keyed (HMAC): {KEY_HINT}"
                if keyed
                else "a key was given but this line is linked with a plain hash"
            )
            self._problem(path, number, message, ident)
        if prev == GENESIS:
            if self.expected is not None:
                message = f"the chain restarts here instead of linking to {self.previous}"
                self._problem(path, number, message, ident)
        elif self.expected is None:
            self.report.notes.append(
                f"the chain begins at {path}:{number}, linking to a file not given "
                "(retired by retention?)"
            )
        elif prev != self.expected and not self.blind:
            message = (
                f"link broken: does not follow {self.previous} (that line was edited, "
                "or lines were removed, inserted or reordered here; or a wrong key)"
            )
            self._problem(path, number, message, ident)

    def _problem(self, path: Path, number: int, message: str, ident: str | None = None) -> None:
        self.report.problems.append(Problem(path, number, message, ident))
