"""Entering the event loop for `toolgate run` (the only place the loop is started)."""

from __future__ import annotations

import anyio

from toolgate.app.settings import RunSettings
from toolgate.app.stdio_gateway import run_stdio_gateway


def run_gateway(settings: RunSettings) -> int:
    """Run the stdio gateway to completion on uvloop; returns the upstream's exit status."""
    return anyio.run(run_stdio_gateway, settings, backend_options={"use_uvloop": True})
