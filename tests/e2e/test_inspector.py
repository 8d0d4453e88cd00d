"""The MCP Inspector CLI (a real third-party client) through `toolgate run`."""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Callable
from pathlib import Path

import anyio
import orjson
import pytest

from tests.e2e.support import WAIT, everything_server, inspector_cli, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

POLICY = """
version: "1"
hide: [get-env]
tools:
  get-sum:
    rules:
      - {name: no sums, action: deny, on_deny: "sums are off today"}
"""


def wrapper(tmp_path: Path, command: list[str]) -> Path:
    """The Inspector swallows flags after the server command, so it runs a script instead."""
    script = tmp_path / "gated-server.sh"
    script.write_text("#!/bin/sh\nexec " + shlex.join(command) + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


async def inspect(script: Path, *args: str) -> dict[str, object]:
    command = [*inspector_cli(), "--cli", str(script), *args]
    with anyio.fail_after(WAIT * 3):
        done = await anyio.run_process(command, check=False, env={**os.environ, "CI": "true"})
    assert done.returncode == 0, done.stderr.decode()
    output: dict[str, object] = orjson.loads(done.stdout)
    return output


async def test_inspector_lists_only_visible_tools_and_gets_denials_and_results(
    tmp_path: Path, home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(POLICY)
    script = wrapper(tmp_path, toolgate(policy, everything_server(), home))
    listed = await inspect(script, "--method", "tools/list")
    names = [t["name"] for t in listed["tools"]]  # type: ignore[index, union-attr]
    assert "echo" in names
    assert "get-env" not in names
    echoed = await inspect(
        script, "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hi"
    )
    assert echoed["content"] == [{"type": "text", "text": "Echo: hi"}]
    denied = await inspect(
        script, "--method", "tools/call", "--tool-name", "get-sum", "--tool-arg", "a=1", "--tool-arg", "b=2"
    )
    assert denied["isError"] is True
    assert denied["content"][0]["text"] == "[POLICY DENIED] sums are off today"  # type: ignore[index]
