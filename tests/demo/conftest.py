"""Fixtures for the demo tests: the anyio backend and a running exchange server process."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from toolgate.demo.client import StdioClient, open_stdio_client
from toolgate.demo.exchange_server import LOG_ENV
from toolgate.demo.runner import child_env

STUB = Path(__file__).resolve().parents[2] / "bench" / "stub_server.py"


@pytest.fixture
def server_log(tmp_path: Path) -> Path:
    return tmp_path / "server.log"


@pytest.fixture
async def exchange(server_log: Path, tmp_path: Path) -> AsyncIterator[StdioClient]:
    """A client connected to a fresh `python -m toolgate.demo.exchange_server` process."""
    async with open_stdio_client(
        [sys.executable, "-m", "toolgate.demo.exchange_server"],
        name="exchange",
        env=child_env(server_log),
        stderr=tmp_path / "server.stderr",
        reply_seconds=10,
    ) as client:
        yield client


@pytest.fixture
async def stub(server_log: Path, tmp_path: Path) -> AsyncIterator[StdioClient]:
    """A client connected to `bench/stub_server.py 5` (echo plus four filler tools)."""
    env = {**os.environ, LOG_ENV: str(server_log)}
    async with open_stdio_client(
        [sys.executable, str(STUB), "5"],
        name="stub",
        env=env,
        stderr=tmp_path / "stub.stderr",
        reply_seconds=10,
    ) as client:
        yield client
