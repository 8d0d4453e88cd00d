"""The policy package stays pure: it imports nothing that does I/O or concurrency."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import toolgate.policy

PACKAGE = Path(toolgate.policy.__file__).parent
FORBIDDEN = {
    "anyio",
    "asyncio",
    "httpx",
    "redis",
    "socket",
    "sqlite3",
    "starlette",
    "subprocess",
    "threading",
}
FILE_ACCESS = re.compile(r"(?<!\w)open\(|read_bytes\(|read_text\(|write_")
ALLOWED_TOOLGATE = ("toolgate.policy", "toolgate.errors", "toolgate.clock")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_policy_package_imports_no_io_or_concurrency_module() -> None:
    for module in PACKAGE.glob("*.py"):
        roots = {name.split(".")[0] for name in _imports(module)}
        assert not roots & FORBIDDEN, module.name


def test_the_policy_package_imports_only_policy_errors_and_clock_from_toolgate() -> None:
    for module in PACKAGE.glob("*.py"):
        own = {name for name in _imports(module) if name.split(".")[0] == "toolgate"}
        assert all(name.startswith(ALLOWED_TOOLGATE) for name in own), (module.name, own)


def test_only_the_loader_reads_files() -> None:
    for module in PACKAGE.glob("*.py"):
        touches_files = FILE_ACCESS.search(module.read_text()) is not None
        assert not touches_files or module.name == "loader.py", module.name
