"""The official `mcp` SDK client, in both connection modes, through `toolgate run` to real
servers: a legacy-only npm server and a dual-era PyPI server."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from tests.e2e.support import everything_server, time_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

POLICY = """
version: "1"
default: allow
hide: [{hidden}]
tools:
  {denied}:
    rules:
      - name: never
        action: deny
        on_deny: "{denied} is not for agents"
"""

CASES = {
    # server, hidden tool, denied tool, allowed call
    "everything": (everything_server, "get-env", "get-sum", ("echo", {"message": "hi ✓"})),
    "time": (
        time_server,
        "get_current_time",
        "convert_time",
        ("get_current_time", {"timezone": "UTC"}),
    ),
}


def params(command: Sequence[str]) -> StdioServerParameters:
    return StdioServerParameters(command=command[0], args=list(command[1:]))


def comparable(result: CallToolResult, tool: str) -> Any:
    data = result.model_dump(mode="json", exclude_none=True)
    if tool == "get_current_time":  # the clock moves between the two runs
        data.pop("structuredContent", None)
        data["content"] = [{**c, "text": "<time>"} for c in data["content"]]
    return data


async def session_view(command: Sequence[str], mode: str, case: str) -> dict[str, Any]:
    _, hidden, denied, (tool, args) = CASES[case]
    async with Client(params(command), mode=mode, read_timeout_seconds=20) as client:  # type: ignore[arg-type]
        names = [t.name for t in (await client.list_tools()).tools]
        allowed = await client.call_tool(tool, args)
        denied_result = await client.call_tool(denied, {})
        try:
            hidden_result: Any = comparable(await client.call_tool(hidden, {}), hidden)
        except Exception as exc:  # the SDK may raise for an unknown tool
            hidden_result = f"{type(exc).__name__}: {exc}"
    return {
        "names": names,
        "allowed": comparable(allowed, tool),
        "denied": denied_result,
        "hidden": hidden_result,
    }


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("case", ["everything", "time"])
async def test_sdk_client_sees_the_policy_and_otherwise_the_same_server(
    mode: str, case: str, home: Path, write_policy: Callable[[str], Path]
) -> None:
    server, hidden, denied, (tool, _) = CASES[case]
    policy = write_policy(POLICY.format(hidden=hidden, denied=denied))
    direct = await session_view(server(), mode, case)
    gated = await session_view(toolgate(policy, server(), home), mode, case)

    assert hidden in direct["names"]
    assert gated["names"] == [n for n in direct["names"] if n != hidden]
    assert gated["allowed"] == direct["allowed"]
    denial = gated["denied"]
    assert denial.isError is True
    assert denial.content[0].text == f"[POLICY DENIED] {denied} is not for agents"
    assert gated["hidden"] != direct["hidden"]
    assert hidden in str(gated["hidden"])
