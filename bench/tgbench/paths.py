"""Where things are: the repository, the upstream servers, the output files."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
STUB = BENCH / "stub_server.py"
EVERYTHING = (
    ROOT
    / "tests"
    / "e2e"
    / "servers"
    / "node_modules"
    / "@modelcontextprotocol"
    / "server-everything"
    / "dist"
    / "index.js"
)


def stub_command(tools: int = 1) -> list[str]:
    return [PYTHON, str(STUB), str(tools)]


def everything_command() -> list[str] | None:
    """The npm everything server over stdio, or None when node or the package is missing."""
    node = shutil.which("node")
    if node is None or not EVERYTHING.exists():
        return None
    return [node, str(EVERYTHING), "stdio"]
