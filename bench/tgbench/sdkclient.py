"""The official `mcp` SDK client (`mcp.Client`, legacy handshake) driving every contender at once.

All contenders' clients are open together in one event loop and driven interleaved, round by round,
each sample being one awaited `call_tool` timed with perf_counter_ns: what an SDK user sees.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp.client.stdio import stdio_client

from mcp import Client, StdioServerParameters
from tgbench.schedule import Plan, rotated

WAIT_S = 30.0


@dataclass
class SdkEntry:
    key: str
    argv: list[str]
    stderr_path: Path
    client: Client | None = None
    samples: list[int] = field(default_factory=list)
    error: str | None = None


async def _open(stack: AsyncExitStack, entry: SdkEntry, tool: str, args: dict[str, Any]) -> None:
    errlog = stack.enter_context(entry.stderr_path.open("w", encoding="utf-8"))
    params = StdioServerParameters(command=entry.argv[0], args=entry.argv[1:], env=dict(os.environ))
    transport = stdio_client(params, errlog=errlog)
    # The client's task group must not open inside a cancel scope that closes before it does, so
    # the handshake is bounded by the client's own read timeout, the calls by fail_after.
    client = await stack.enter_async_context(
        Client(transport, mode="legacy", read_timeout_seconds=WAIT_S)
    )
    with anyio.fail_after(WAIT_S):
        await client.list_tools()
        await _checked_call(client, tool, args)
    entry.client = client


async def _checked_call(client: Client, tool: str, args: dict[str, Any]) -> None:
    result = await client.call_tool(tool, args)
    if result.is_error:
        raise RuntimeError(f"tools/call {tool} was refused: {result}")


async def _timed(entry: SdkEntry, count: int, tool: str, args: dict[str, Any], keep: bool) -> None:
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


async def _drive(entries: Sequence[SdkEntry], plan: Plan, tool: str, args: dict[str, Any]) -> None:
    async with AsyncExitStack() as stack:
        for entry in entries:
            try:
                await _open(stack, entry, tool, args)
            except Exception as exc:  # a contender that cannot start is reported, not fatal
                entry.error = f"could not start or call: {type(exc).__name__}: {exc}"[:400]
        live = [e for e in entries if e.client is not None]
        for entry in live:
            await _run_guarded(entry, plan.warmup, tool, args, keep=False)
        for round_index in range(plan.rounds):
            for entry in rotated([e for e in live if e.error is None], round_index):
                await _run_guarded(entry, plan.per_round, tool, args, keep=True)


async def _run_guarded(
    entry: SdkEntry, count: int, tool: str, args: dict[str, Any], keep: bool
) -> None:
    try:
        with anyio.fail_after(WAIT_S + count * 1.0):
            await _timed(entry, count, tool, args, keep)
    except Exception as exc:
        entry.error = f"failed during the run: {type(exc).__name__}: {exc}"[:400]


def run_sdk_latency(
    entries: Sequence[SdkEntry], plan: Plan, tool: str, args: dict[str, Any]
) -> None:
    """Fill each entry's samples (or error)."""
    anyio.run(_drive, entries, plan, tool, args)
