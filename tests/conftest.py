"""Shared test configuration: anyio on asyncio, a fake clock, and every counter store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from toolgate.clock import FakeClock
from toolgate.stores.base import CounterStore
from toolgate.stores.memory import MemoryCounterStore
from toolgate.stores.sqlite import SqliteCounterStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
async def store(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[CounterStore]:
    """Each backend in turn, so a behaviour suite runs against every one; a new backend joins
    by adding a branch here."""
    backend: CounterStore
    if request.param == "memory":
        backend = MemoryCounterStore(clock)
    else:
        backend = SqliteCounterStore(tmp_path / "counters.db", clock=clock)
    yield backend
    await backend.aclose()
