"""Where toolgate keeps its files: `~/.toolgate/`, or `$TOOLGATE_HOME` when set."""

from __future__ import annotations

import os
from pathlib import Path


def toolgate_home() -> Path:
    configured = os.environ.get("TOOLGATE_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".toolgate"


def default_state_dir() -> Path:
    return toolgate_home() / "state"


def default_audit_log() -> Path:
    return toolgate_home() / "audit" / "decisions.jsonl"
