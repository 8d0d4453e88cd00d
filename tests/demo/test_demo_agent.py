"""The scripted agent and its stdio client, run directly against the exchange (no gateway)."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from toolgate.demo.agent import Era, run_agent
from toolgate.demo.client import DemoError, StdioClient, open_stdio_client
from toolgate.demo.exchange_catalog import TOOL_NAMES
from toolgate.demo.outcome import EXECUTED, direct_verdict
from toolgate.demo.script import SCRIPT

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_the_direct_agent_runs_the_whole_script_and_every_call_executes(
    exchange: StdioClient, server_log: Path, era: Era
) -> None:
    run = await run_agent(exchange, era=era)
    assert run.tools == TOOL_NAMES
    assert [record.call for record in run.records] == list(SCRIPT)
    verdicts = [direct_verdict(record.response) for record in run.records]
    assert {verdict.label for verdict in verdicts} == {EXECUTED}
    assert verdicts[10].message.startswith("wd-000001: 25000 USDT sent to")
    assert (await anyio.Path(server_log).read_text()).count('"method":"tools/call"') == len(SCRIPT)


async def test_the_modern_agent_never_sends_initialize(
    exchange: StdioClient, server_log: Path
) -> None:
    await run_agent(exchange, SCRIPT[:1], era="modern")
    log = await anyio.Path(server_log).read_text()
    assert '"method":"initialize"' not in log
    assert log.count('"io.modelcontextprotocol/protocolVersion":"2026-07-28"') == 3


async def test_a_child_that_dies_at_once_fails_with_its_last_stderr_line(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; sys.exit('upstream exploded')"]
    with pytest.raises(
        DemoError, match=r"^gw stopped while answering initialize: upstream exploded$"
    ):
        async with open_stdio_client(command, name="gw", stderr=tmp_path / "err") as client:
            await run_agent(client)


async def test_a_child_that_never_answers_fails_within_the_reply_bound(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    with pytest.raises(DemoError, match=r"^mute did not answer initialize within 0.5s$"):
        async with open_stdio_client(command, name="mute", reply_seconds=0.5) as client:
            await run_agent(client)


async def test_a_child_that_cannot_start_is_a_one_line_error() -> None:
    with pytest.raises(DemoError, match=r"^cannot start ghost: "):
        async with open_stdio_client(["/nonexistent/toolgate-ghost"], name="ghost"):
            pass


async def test_a_child_writing_non_json_is_reported(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('hello from stdout'); import sys; sys.stdin.read()"]
    with pytest.raises(DemoError, match="wrote something that is not JSON"):
        async with open_stdio_client(command, name="noisy") as client:
            await run_agent(client)
