"""Entering the event loop for `toolgate run` (the only place the loop is started)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio

from toolgate.app.settings import resolve_run_settings
from toolgate.app.stdio_gateway import run_stdio_gateway


def run_gateway(
    policy: Path,
    command: Sequence[str],
    *,
    state_dir: Path | None,
    audit_log: Path | None,
    max_line: int | None,
    namespace: str | None,
    store_url: str | None,
) -> int:
    settings = resolve_run_settings(
        policy,
        command,
        state_dir=state_dir,
        audit_log=audit_log,
        max_line=max_line,
        namespace=namespace,
        store_url=store_url,
    )
    return anyio.run(run_stdio_gateway, settings, backend_options={"use_uvloop": True})
