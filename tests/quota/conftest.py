"""Fixtures of the quota tests: a fake clock and the ledger's store, once per backend."""

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
    """The ledger knows no backend, so its behaviour must not depend on which one it gets."""
    backend: CounterStore
    if request.param == "memory":
        backend = MemoryCounterStore(clock)
    else:
        backend = SqliteCounterStore(tmp_path / "counters.db", clock=clock)
    yield backend
    await backend.aclose()
