"""What the numbers were measured on: CPU, cores, load, versions, date."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import psutil  # type: ignore[import-untyped]

PACKAGES = (
    "toolgate", "mcp", "fastmcp", "orjson", "anyio", "uvloop", "psutil", "uvicorn", "httptools",
    "httpx",
)  # fmt: skip


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def node_version() -> str | None:
    try:
        out = subprocess.run(
            ["node", "--version"], check=False, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def everything_version(package_json: str) -> str | None:
    try:
        with open(package_json, encoding="utf-8") as handle:
            return str(json.load(handle).get("version"))
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu_model": cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def versions(everything_package_json: str) -> dict[str, Any]:
    found: dict[str, Any] = {name: package_version(name) for name in PACKAGES}
    found["python"] = sys.version.split()[0]
    found["node"] = node_version()
    found["sqlite"] = sqlite3.sqlite_version
    found["server-everything"] = everything_version(everything_package_json)
    return found


def filesystem(path: str) -> dict[str, str] | None:
    """The mount holding `path` (device and type): where the SQLite counters and audit logs live."""
    best = None
    for part in psutil.disk_partitions(all=True):
        if path.startswith(part.mountpoint) and (
            best is None or len(part.mountpoint) > len(best.mountpoint)
        ):
            best = part
    if best is None:
        return None
    return {"mountpoint": best.mountpoint, "device": best.device, "fstype": best.fstype}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
