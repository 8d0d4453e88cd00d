"""End-to-end fixtures: a toolgate home per test, policies written to disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "toolgate-home"
    path.mkdir()
    return path


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


# The mcp SDK client can leave anyio memory streams for the garbage collector when a session
# ends with an error; pytest then reports them, as unraisable warnings, in whichever test runs
# at that moment. They are the SDK's, not toolgate's (toolgate runs in another process here).
SDK_STREAM_LEAK = (
    "ignore:Exception ignored in.*MemoryObject(Send|Receive)Stream"
    ":pytest.PytestUnraisableExceptionWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.filterwarnings(SDK_STREAM_LEAK))
