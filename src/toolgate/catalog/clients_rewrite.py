"""Rewriting a client config so its stdio servers run behind `toolgate run`, and undoing it.

A wrapped entry keeps every field it had (env, cwd, type, anything unknown) and its key order;
only `command` and `args` change, to `toolgate run -c POLICY -- ORIGINAL…`. The file is written
back with the indentation it used and its final newline, so the diff shows only the wrapped
lines. Before writing, the file is read again: if it changed since it was read, nothing is
written. A backup `<file>.toolgate-backup-<UTC timestamp>` is made first; `restore_latest`
puts the newest one back.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolgate.catalog.clients import ClientConfig, ClientConfigError

BACKUP_MARK = ".toolgate-backup-"
INDENT = re.compile(r"^([ \t]+)\S", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Rewrite:
    config: ClientConfig
    new_text: str
    wrapped: tuple[str, ...]  # the server names it wraps

    @property
    def path(self) -> Path:
        return self.config.location.path

    def diff(self) -> str:
        lines = difflib.unified_diff(
            self.config.text.splitlines(keepends=True),
            self.new_text.splitlines(keepends=True),
            fromfile=str(self.path),
            tofile=f"{self.path} (wrapped)",
        )
        return "".join(lines)


def wrap_entry(entry: Mapping[str, Any], policy: Path, toolgate: str) -> dict[str, Any]:
    """The entry with its command moved behind `toolgate run -c policy --`."""
    original = [entry["command"], *entry.get("args", [])]
    wrapped = copy.deepcopy(dict(entry))
    wrapped["command"] = toolgate
    wrapped["args"] = ["run", "-c", str(policy), "--", *original]
    return wrapped


def plan_rewrite(
    config: ClientConfig, policies: Mapping[str, Path], toolgate: str = "toolgate"
) -> Rewrite | None:
    """The rewrite wrapping each unwrapped server that has a policy; None when nothing changes."""
    document = copy.deepcopy(config.document)
    entries = document.get(config.location.key, {})
    names: list[str] = []
    for server in config.servers:
        policy = policies.get(server.name)
        if server.wrapped_policy is None and policy is not None:
            entries[server.name] = wrap_entry(entries[server.name], policy, toolgate)
            names.append(server.name)
    if not names:
        return None
    return Rewrite(config, render_like(config.text, document), tuple(names))


def render_like(original: str, document: Any) -> str:
    """`document` as JSON indented the way `original` was, keeping its final newline."""
    match = INDENT.search(original)
    indent: str | int = match.group(1) if match else 2
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    return text + "\n" if original.endswith("\n") else text


def apply_rewrite(rewrite: Rewrite, now: datetime | None = None) -> Path:
    """Back the file up, then write the rewrite; returns the backup's path."""
    path = rewrite.path
    current = path.read_text(encoding="utf-8")
    if current != rewrite.config.text:
        raise ClientConfigError(path, "it changed since it was read; run toolgate init again")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    backup = path.with_name(f"{path.name}{BACKUP_MARK}{stamp}")
    shutil.copy2(path, backup)  # keeps the mode: ~/.claude.json may be private
    _replace(path, rewrite.new_text.encode("utf-8"))
    return backup


def backups(path: Path) -> list[Path]:
    """The backups of `path`, oldest first (the timestamps sort as text)."""
    return sorted(path.parent.glob(f"{glob_escape(path.name)}{BACKUP_MARK}*"))


def restore_latest(path: Path) -> Path | None:
    """Put the newest backup back in place (and remove it); None when there is none."""
    found = backups(path)
    if not found:
        return None
    latest = found[-1]
    _replace(path, latest.read_bytes())
    latest.unlink()
    return latest


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.toolgate-tmp")
    temporary.write_bytes(data)
    if path.exists():
        shutil.copymode(path, temporary)
    os.replace(temporary, path)
