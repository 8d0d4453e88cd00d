"""The official `mcp` SDK `Client` over Streamable HTTP (legacy handshake), driving every
contender at once: all clients open together in one event loop, calls interleaved round by
round, each sample one awaited `call_tool` timed with perf_counter_ns (what an SDK user sees)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio

from mcp import Client
from tgbench.schedule import Plan, rotated

WAIT_S = 30.0


@dataclass
class SdkHttpEntry:
    key: str
    url: str
    client: Client | None = None
    samples: list[int] = field(default_factory=list)
    error: str | None = None


async def _calls(
    entry: SdkHttpEntry, count: int, tool: str, args: dict[str, Any], keep: bool
) -> None:
    client, clock = entry.client, time.perf_counter_ns
    assert client is not None
    for _ in range(count):
        start = clock()
        result = await client.call_tool(tool, args)
        elapsed = clock() - start
        if result.is_error:
            raise RuntimeError(f"tools/call {tool} was refused: {result}")
        if keep:
            entry.samples.append(elapsed)


async def _guarded(
    entry: SdkHttpEntry, count: int, tool: str, args: dict[str, Any], keep: bool
) -> None:
    try:
        with anyio.fail_after(WAIT_S + count * 1.0):
            await _calls(entry, count, tool, args, keep)
    except Exception as exc:  # a contender failing is reported in its row, not fatal
        entry.error = f"failed during the run: {type(exc).__name__}: {exc}"[:400]


async def _drive(
    entries: Sequence[SdkHttpEntry], plan: Plan, tool: str, args: dict[str, Any]
) -> None:
    async with AsyncExitStack() as stack:
        for entry in entries:
            try:
                client = await stack.enter_async_context(
                    Client(entry.url, mode="legacy", read_timeout_seconds=WAIT_S)
                )
                entry.client = client
                with anyio.fail_after(WAIT_S):
                    await _calls(entry, 1, tool, args, keep=False)
            except Exception as exc:
                entry.error = f"could not start or call: {type(exc).__name__}: {exc}"[:400]
        live = [e for e in entries if e.client is not None and e.error is None]
        for entry in live:
            await _guarded(entry, plan.warmup, tool, args, keep=False)
        for index in range(plan.rounds):
            for entry in rotated([e for e in live if e.error is None], index):
                await _guarded(entry, plan.per_round, tool, args, keep=True)


def run_sdk_http(
    entries: Sequence[SdkHttpEntry], plan: Plan, tool: str, args: dict[str, Any]
) -> None:
    """Fill each entry's samples (or error)."""
    anyio.run(_drive, entries, plan, tool, args)
