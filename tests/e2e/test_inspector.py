"""The MCP Inspector CLI (a real third-party client) through `toolgate run`."""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def wrapper(tmp_path: Path, command: list[str], name: str) -> Path:
    """The Inspector swallows flags after the server command, so it runs a script instead."""
    script = tmp_path / f"{name}.sh"
    script.write_text("#!/bin/sh\nexec " + shlex.join(command) + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


async def inspect(script: Path, *args: str, ok: bool = True) -> dict[str, Any]:
    command = [*inspector_cli(), "--cli", str(script), *args]
    with anyio.fail_after(WAIT * 3):
        done = await anyio.run_process(command, check=False, env={**os.environ, "CI": "true"})
    assert (done.returncode == 0) is ok, done.stderr.decode() + done.stdout.decode()
    # Results go to stdout; the Inspector's own refusals are one JSON line on stderr.
    text = done.stdout.strip() or done.stderr.strip().splitlines()[-1]
    output: dict[str, Any] = orjson.loads(text)
    return output


async def test_inspector_lists_only_visible_tools_and_gets_denials_and_results(
    tmp_path: Path, home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(POLICY)
    script = wrapper(tmp_path, toolgate(policy, everything_server(), home), "gated")
    listed = await inspect(script, "--method", "tools/list")
    names = [t["name"] for t in listed["tools"]]
    assert "echo" in names
    assert "get-env" not in names
    echoed = await inspect(
        script, "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hi"
    )
    assert echoed["content"] == [{"type": "text", "text": "Echo: hi"}]
    # The Inspector exits non-zero on an isError result, and prints the result.
    denied = await inspect(
        script,
        "--method",
        "tools/call",
        "--tool-name",
        "get-sum",
        "--tool-arg",
        "a=1",
        "--tool-arg",
        "b=2",
        ok=False,
    )
    assert denied["isError"] is True
    assert denied["content"] == [{"type": "text", "text": "[POLICY DENIED] sums are off today"}]
    # The Inspector checks tools/list itself first, so a hidden tool is refused client-side.
    hidden = await inspect(script, "--method", "tools/call", "--tool-name", "get-env", ok=False)
    assert hidden["error"]["code"] == "tool_not_found"
