"""Helpers for the audit chain tests: writing small chained logs and editing their lines."""

from __future__ import annotations

from pathlib import Path

import orjson

from toolgate.audit.chain_verify import VerifyReport, verify_files
from toolgate.audit.rotation import RotationPolicy, log_files
from toolgate.audit.sink import JsonlAuditSink


def body(index: int, **fields: object) -> bytes:
    record = {
        "v": 1,
        "type": "decision",
        "ts": f"2026-11-20T14:{index % 60:02d}:00.000000Z",
        "decision_id": f"dec_{index}",
        "identity": "alice" if index % 2 else "bob",
        "tool": "withdraw" if index % 3 == 0 else "echo",
        "outcome": "denied" if index % 3 == 0 else "allowed",
        "rule": "tools.withdraw.rules[0]" if index % 3 == 0 else None,
        "message": "cap reached" if index % 3 == 0 else "",
        **fields,
    }
    return orjson.dumps(record)


def write_log(
    path: Path,
    count: int,
    *,
    start: int = 1,
    key: bytes | None = None,
    rotation: RotationPolicy | None = None,
) -> JsonlAuditSink:
    sink = JsonlAuditSink(path, key=key, rotation=rotation)
    for index in range(start, start + count):
        sink.append(body(index))
    return sink


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def verify(path: Path, key: bytes | None = None) -> VerifyReport:
    return verify_files(log_files(path), key)


def where(report: VerifyReport) -> list[tuple[str, int, str | None]]:
    return [(p.file.name, p.line, p.event_id) for p in report.problems]
