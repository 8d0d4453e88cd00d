"""Rotation and retention of the decision log: when the active file is retired, its name, and
which retired files are kept.

The active file keeps its configured name (`decisions.jsonl`); a retired file is renamed to
`decisions-<UTC yyyymmddTHHMMSSffffff>.jsonl`, so sorting the names sorts them oldest first.
The chain continues across the boundary: the new file's first line links to the retired file's
last line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from toolgate.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    max_bytes: int | None = None  # retire the active file before it would exceed this size
    daily: bool = False  # retire the active file when the UTC day changes
    keep: int | None = None  # retired files kept; None keeps all

    @property
    def enabled(self) -> bool:
        return self.max_bytes is not None or self.daily


def rotation_due(policy: RotationPolicy, size: int, mtime: float, now: float, adding: int) -> bool:
    """Whether the active file (of `size` bytes, last written at `mtime`) should be retired
    before `adding` more bytes are written at time `now`."""
    if size == 0:
        return False
    if policy.max_bytes is not None and size + adding > policy.max_bytes:
        return True
    return policy.daily and _day(mtime) != _day(now)


def retired_name(active: Path, now: float) -> Path:
    stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%dT%H%M%S%f")
    candidate = active.with_name(f"{active.stem}-{stamp}{active.suffix}")
    serial = 1
    while candidate.exists():  # two rotations within a microsecond: keep both, in order
        candidate = active.with_name(f"{active.stem}-{stamp}.{serial:03d}{active.suffix}")
        serial += 1
    return candidate


def retired_files(active: Path) -> list[Path]:
    """The retired siblings of `active`, oldest first."""
    pattern = re.compile(
        re.escape(active.stem) + r"-(\d{8}T\d{12})(?:\.(\d{3}))?" + re.escape(active.suffix) + "$"
    )
    if not active.parent.is_dir():
        return []
    found: list[tuple[str, int, Path]] = []
    for path in active.parent.iterdir():
        match = pattern.match(path.name)
        if match:
            found.append((match[1], int(match[2] or 0), path))
    return [path for *_, path in sorted(found)]


def log_files(active: Path) -> list[Path]:
    """Every file of the log, oldest first: the retired ones, then the active one if present."""
    files = retired_files(active)
    return [*files, active] if active.exists() else files


def prune(active: Path, keep: int | None) -> list[Path]:
    """Delete the oldest retired files beyond `keep`; returns what was deleted."""
    if keep is None:
        return []
    retired = retired_files(active)
    doomed = retired[: max(0, len(retired) - keep)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d")


MIN_MAX_BYTES = 4096


def rotation_policy(max_bytes: int | None, daily: bool, keep: int | None) -> RotationPolicy:
    """A checked policy from the `toolgate run` flags; raises ConfigError."""
    if max_bytes is not None and max_bytes < MIN_MAX_BYTES:
        raise ConfigError(f"--audit-max-bytes must be at least {MIN_MAX_BYTES}, got {max_bytes}")
    if keep is not None and keep < 0:
        raise ConfigError(f"--audit-keep must not be negative, got {keep}")
    return RotationPolicy(max_bytes=max_bytes, daily=daily, keep=keep)
