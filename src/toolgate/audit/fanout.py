"""Several audit sinks at once (`toolgate run --audit-sink KIND[:PATH]`, repeatable).

`jsonl[:PATH]` is the chained JSON-lines log (PATH defaults to the configured `--audit-log`),
`sqlite:PATH` the indexed database, `stderr` unchained JSON lines on standard error. Standard
output is refused: in stdio mode it is the MCP channel. A sink that fails while emitting is
logged and counted; the others still receive the event.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from toolgate.audit.rotation import RotationPolicy
from toolgate.audit.sink import AuditRecord, AuditSink, JsonlAuditSink
from toolgate.audit.sqlite_sink import SqliteAuditSink
from toolgate.errors import ConfigError

log = logging.getLogger("toolgate.audit")

KINDS: Final = ("jsonl", "sqlite", "stderr")


@dataclass(frozen=True, slots=True)
class SinkSpec:
    kind: str
    path: Path | None = None

    def render(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def parse_sink_spec(text: str) -> SinkSpec:
    """`jsonl`, `jsonl:PATH`, `sqlite:PATH` or `stderr`; ConfigError for anything else."""
    kind, sep, rest = text.strip().partition(":")
    kind = kind.lower()
    if kind == "stdout":
        raise ConfigError(
            "--audit-sink stdout is not allowed: standard output is the MCP channel "
            "(use stderr, jsonl:PATH or sqlite:PATH)"
        )
    if kind not in KINDS:
        raise ConfigError(f"--audit-sink {text!r}: expected jsonl[:PATH], sqlite:PATH or stderr")
    if kind == "stderr":
        if sep:
            raise ConfigError(f"--audit-sink {text!r}: stderr takes no path")
        return SinkSpec(kind)
    if not rest.strip():
        if kind == "sqlite":
            raise ConfigError(f"--audit-sink {text!r}: sqlite needs a path, e.g. sqlite:audit.db")
        return SinkSpec(kind)
    return SinkSpec(kind, Path(rest).expanduser())


class StderrAuditSink:
    """One unchained JSON line per event on file descriptor 2."""

    def __init__(self, fd: int = 2) -> None:
        self._fd = fd

    async def emit(self, event: AuditRecord) -> None:
        os.write(self._fd, event.to_json() + b"\n")

    async def aclose(self) -> None:
        return None


class FanoutAuditSink:
    """Emits every event to each sink in turn; one sink's failure never stops the others."""

    def __init__(self, sinks: Sequence[tuple[str, AuditSink]]) -> None:
        self._sinks = list(sinks)
        self.failures: dict[str, int] = {name: 0 for name, _ in self._sinks}

    async def emit(self, event: AuditRecord) -> None:
        for name, sink in self._sinks:
            try:
                await sink.emit(event)
            except Exception as exc:  # any sink failure is logged, not raised
                self.failures[name] += 1
                if self.failures[name] == 1 or self.failures[name] % 1000 == 0:
                    log.error(
                        "audit sink %s failed (%d events so far): %s",
                        name,
                        self.failures[name],
                        exc,
                    )

    async def aclose(self) -> None:
        for name, sink in self._sinks:
            try:
                await sink.aclose()
            except Exception as exc:
                log.error("audit sink %s did not close cleanly: %s", name, exc)


def open_sinks(
    specs: Sequence[SinkSpec],
    *,
    default_log: Path,
    key: bytes | None = None,
    rotation: RotationPolicy | None = None,
) -> AuditSink:
    """The sinks named by `specs` (the chained JSONL log at `default_log` when none), fanned
    out. Opening is strict: a sink that cannot be opened raises ConfigError and closes none."""
    if not specs:
        return JsonlAuditSink(default_log, key=key, rotation=rotation)
    opened: list[tuple[str, AuditSink]] = []
    for spec in specs:
        sink: AuditSink
        if spec.kind == "jsonl":
            sink = JsonlAuditSink(spec.path or default_log, key=key, rotation=rotation)
        elif spec.kind == "sqlite":
            assert spec.path is not None
            sink = SqliteAuditSink(spec.path)
        else:
            sink = StderrAuditSink()
        opened.append((spec.render(), sink))
    return FanoutAuditSink(opened)
