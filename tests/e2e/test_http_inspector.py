"""The MCP Inspector CLI (a real third-party client) through `toolgate serve`, over Streamable
HTTP (`--transport http`) and the legacy HTTP+SSE transport (`--transport sse`), to every kind
of upstream. Each test runs its Inspector invocations two at a time to stay fast (more at once
only slows a small machine down)."""

from __future__ import annotations

import os
import shlex
import signal
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from tests.e2e.http_gateway import (
    DENY_TEXT,
    EVERYTHING_POLICY,
    MixedGateway,
    Upstream,
    exited_within,
    mixed_gateway,
    running_gateway,
    write_gateway,
)
from tests.e2e.support import WAIT, everything_server, inspector_cli

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

PROMPT_STOP = 2.0  # seconds a gateway with nothing in flight may take to stop on SIGTERM
SERVERS = ["everything", "everything-http", "everything-sse", "recording", "time"]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def mixed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MixedGateway]:
    # Killed if still running 2 s after SIGTERM: see the slow-shutdown test at the end.
    tmp = tmp_path_factory.mktemp("http-inspector")
    async with mixed_gateway(tmp, kill_after=2.0) as setup:
        yield setup


def call_args(call: tuple[str, dict[str, Any]]) -> list[str]:
    name, arguments = call
    args = ["--method", "tools/call", "--tool-name", name]
    for key, value in arguments.items():
        args += ["--tool-arg", f"{key}={value}"]
    return args


async def inspect(target: list[str], *args: str, ok: bool = True) -> dict[str, Any]:
    command = [*inspector_cli(), "--cli", *target, *args]
    with anyio.fail_after(WAIT * 3):
        done = await anyio.run_process(command, check=False, env={**os.environ, "CI": "true"})
    assert (done.returncode == 0) is ok, done.stderr.decode() + done.stdout.decode()
    # Results go to stdout; the Inspector's own refusals are one JSON line on stderr.
    text = done.stdout.strip() or done.stderr.strip().splitlines()[-1]
    output: dict[str, Any] = orjson.loads(text)
    return output


def direct_target(upstream: Upstream, tmp_path: Path) -> list[str]:
    """The Inspector's arguments for the upstream without toolgate. A command goes in a script:
    the Inspector swallows flags that follow a server command."""
    if upstream.kind == "stdio":
        script = tmp_path / "direct.sh"
        script.write_text("#!/bin/sh\nexec " + shlex.join(list(upstream.target)) + "\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return [str(script)]
    assert isinstance(upstream.target, str)
    return [upstream.target, "--transport", "http" if upstream.kind == "streamable" else "sse"]


async def gather(jobs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run the named coroutines, two at a time; their results by name."""
    results: dict[str, dict[str, Any]] = {}
    limiter = anyio.CapacityLimiter(2)

    async def run(key: str, job: Any) -> None:
        async with limiter:
            results[key] = await job

    async with anyio.create_task_group() as tg:
        for key, job in jobs.items():
            tg.start_soon(run, key, job)
    return results


@pytest.mark.parametrize("name", SERVERS)
async def test_inspector_over_http_and_sse_lists_visible_tools_and_gets_denials_and_results(
    mixed: MixedGateway, name: str, tmp_path: Path
) -> None:
    upstream = mixed.upstreams[name]
    url = mixed.gateway.urls[name]
    targets = {"http": [url, "--transport", "http"], "sse": [f"{url}/sse", "--transport", "sse"]}
    direct = direct_target(upstream, tmp_path)
    jobs: dict[str, Any] = {"direct-allowed": inspect(direct, *call_args(upstream.allowed))}
    for transport, target in targets.items():
        jobs[f"{transport}-list"] = inspect(target, "--method", "tools/list")
        jobs[f"{transport}-allowed"] = inspect(target, *call_args(upstream.allowed))
        # The Inspector exits non-zero on an isError result, and prints the result.
        jobs[f"{transport}-denied"] = inspect(target, *call_args(upstream.denied), ok=False)
    seen = await gather(jobs)

    # (test_http_sdk_client compares whole lists with a direct connection's)
    assert seen["http-list"] == seen["sse-list"]
    names = [t["name"] for t in seen["http-list"]["tools"]]
    assert upstream.hidden not in names
    assert {upstream.allowed[0], upstream.denied[0]} <= set(names)
    for transport in targets:
        assert seen[f"{transport}-allowed"] == seen["direct-allowed"], transport
        denied = seen[f"{transport}-denied"]
        assert denied["isError"] is True, transport
        assert denied["content"] == [{"type": "text", "text": DENY_TEXT}], transport


async def test_gateway_stops_promptly_after_inspector_sessions_to_a_stdio_server(
    tmp_path: Path,
) -> None:
    config = write_gateway(
        tmp_path, {"everything": {"command": everything_server(), "policy": EVERYTHING_POLICY}}
    )
    home = tmp_path / "home"
    home.mkdir()
    async with running_gateway(config, home, kill_after=0.0) as gateway:
        url = gateway.urls["everything"]
        await inspect([url, "--transport", "http"], "--method", "tools/list")
        await inspect([f"{url}/sse", "--transport", "sse"], "--method", "tools/list")
        gateway.process.send_signal(signal.SIGTERM)
        status = await exited_within(gateway.process, PROMPT_STOP)
    assert status is not None, f"toolgate serve did not stop within {PROMPT_STOP} s of SIGTERM"
