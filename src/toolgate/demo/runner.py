"""`run_demo`: the scripted agent through toolgate, then straight to the exchange, side by side.

Each run starts from a fresh temporary directory (gateway state, audit log, server logs), so the
output is the same every time. Every wait is bounded; any failure ends the demo with one line
and a non-zero return.
"""

from __future__ import annotations

import importlib.resources
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio
import orjson
from rich.console import Console

from toolgate.demo.agent import AgentRun, Era, run_agent
from toolgate.demo.client import DemoError, open_stdio_client
from toolgate.demo.exchange_catalog import TOOL_NAMES
from toolgate.demo.exchange_server import LOG_ENV
from toolgate.demo.report import Report, render
from toolgate.demo.rule_names import rule_names

DEMO_SECONDS: Final = 120.0
REPLY_SECONDS: Final = 20.0


@dataclass(frozen=True, slots=True)
class Workspace:
    """Where one demo run keeps its files."""

    root: Path

    def path(self, name: str) -> Path:
        return self.root / name


def server_command() -> list[str]:
    return [sys.executable, "-m", "toolgate.demo.exchange_server"]


def gateway_command(policy: Path, work: Workspace) -> list[str]:
    return [
        *(sys.executable, "-m", "toolgate", "run", "-c", str(policy)),
        *("--state-dir", str(work.path("state"))),
        *("--audit-log", str(work.path("audit.jsonl"))),
        "--",
        *server_command(),
    ]


def child_env(server_log: Path) -> dict[str, str]:
    """This environment, plus where the exchange server logs what reaches it."""
    return {**os.environ, LOG_ENV: str(server_log)}


def calls_reaching(server_log: Path) -> int | None:
    """How many calls of its tools the exchange received (None: it kept no log).

    Only calls naming one of the exchange's tools count: a gateway may probe the upstream
    with a made-up tool name to learn how it answers unknown tools."""
    if not server_log.exists():
        return None
    count = 0
    for line in server_log.read_bytes().splitlines():
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(message, dict) and message.get("method") == "tools/call":
            params = message.get("params")
            count += isinstance(params, dict) and params.get("name") in TOOL_NAMES
    return count


async def _run(command: list[str], name: str, work: Workspace, tag: str, era: Era) -> AgentRun:
    async with open_stdio_client(
        command,
        name=name,
        env=child_env(work.path(f"{tag}-server.log")),
        stderr=work.path(f"{tag}.stderr"),
        reply_seconds=REPLY_SECONDS,
    ) as client:
        return await run_agent(client, era=era)


async def _run_both(policy: Path, work: Workspace, era: Era) -> tuple[AgentRun, AgentRun]:
    try:
        with anyio.fail_after(DEMO_SECONDS):
            gated = await _run(gateway_command(policy, work), "toolgate", work, "gateway", era)
            direct = await _run(server_command(), "the exchange server", work, "direct", era)
    except TimeoutError:
        raise DemoError(f"the demo did not finish within {DEMO_SECONDS:g}s") from None
    return gated, direct


def collect(era: Era = "legacy") -> Report:
    """Run the agent both ways in a fresh workspace and gather what the demo reports."""
    policy_resource = importlib.resources.files("toolgate.demo").joinpath("policy.yaml")
    with (
        tempfile.TemporaryDirectory(prefix="toolgate-demo-") as tmp,
        importlib.resources.as_file(policy_resource) as policy,
    ):
        work = Workspace(Path(tmp))
        gated, direct = anyio.run(_run_both, policy, work, era)
        return Report(
            gated=gated,
            direct=direct,
            gated_reached=calls_reaching(work.path("gateway-server.log")),
            direct_reached=calls_reaching(work.path("direct-server.log")),
            rule_names=rule_names(policy.read_text()),
        )


def run_demo(console: Console | None = None, *, era: Era = "legacy") -> int:
    """Run the whole demo and print it; 0 when every decision came out as the policy says."""
    console = console or Console()
    try:
        report = collect(era)
    except DemoError as exc:
        console.print(f"[bold red]toolgate demo failed:[/] {exc}", highlight=False)
        return 1
    return render(console, report)
