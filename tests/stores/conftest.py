"""Fixtures of the backend-specific store tests."""

from __future__ import annotations

import pytest

from toolgate.clock import FakeClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
