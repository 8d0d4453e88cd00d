"""The functions a cProfile run spent the most own time in, as rows for the results document.

cProfile slows Python code several-fold and does not see inside C code (uvloop, orjson), so the
shares are what to read, not the absolute times."""

from __future__ import annotations

import pstats
from pathlib import Path
from typing import Any

TOP = 15


def where(key: tuple[str, int, str]) -> str:
    file, line, name = key
    short = file
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            short = file.split(marker, 1)[1]
            break
    return f"{short}:{line}({name})" if line else name


def top_functions(path: Path, count: int = TOP) -> dict[str, Any]:
    stats = pstats.Stats(str(path))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in table.values()) or 1.0
    by_own = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:count]
    by_package: dict[str, float] = {}
    for key, row in table.items():
        file = key[0]
        package = "(built-in / C)" if file == "~" else _package(file)
        by_package[package] = by_package.get(package, 0.0) + row[2]
    return {
        "total_own_s": total,
        "top_own": [
            {"function": where(key), "own_s": row[2], "own_share": row[2] / total, "calls": row[1]}
            for key, row in by_own
        ],
        "by_package": [
            {"package": name, "own_share": own / total}
            for name, own in sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:12]
        ],
    }


def _package(file: str) -> str:
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/src/toolgate/" in file:
        return "toolgate." + file.split("/src/toolgate/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lib/python3" in file:
        return "stdlib." + file.split("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(".py")
    return file
