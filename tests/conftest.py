"""Shared test configuration: anyio on asyncio, and where the shared fixtures live."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
