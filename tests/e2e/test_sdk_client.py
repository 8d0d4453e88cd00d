"""The official `mcp` SDK client, in both connection modes, through `toolgate run` to real
servers: a legacy-only npm server and a dual-era PyPI server."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from mcp.types import CallToolResult

from mcp import Client, StdioServerParameters
from tests.e2e.support import everything_server, time_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

DENY_TEXT = "[POLICY DENIED] not for agents"

CASES: dict[str, dict[str, Any]] = {
    "everything": {
        "server": everything_server,
        "hidden": "get-env",
        "allowed": ("echo", {"message": "hi ✓"}),
        "denied": ("get-sum", {"a": 1, "b": 2}),
        "policy": """
version: "1"
hide: [get-env]
tools:
  get-sum:
    rules:
      - {name: never, action: deny, on_deny: "not for agents"}
""",
    },
    "time": {
        "server": time_server,
        "hidden": "get_current_time",
        "allowed": (
            "convert_time",
            {"source_timezone": "UTC", "time": "09:30", "target_timezone": "Asia/Tokyo"},
        ),
        "denied": (
            "convert_time",
            {"source_timezone": "Europe/Paris", "time": "09:30", "target_timezone": "UTC"},
        ),
        "policy": """
version: "1"
hide: [get_current_time]
tools:
  convert_time:
    rules:
      - name: from UTC only
        conditions: [{path: args.source_timezone, op: eq, value: UTC}]
        on_deny: "not for agents"
""",
    },
}


def params(command: Sequence[str]) -> StdioServerParameters:
    return StdioServerParameters(command=command[0], args=list(command[1:]))


def comparable(result: CallToolResult) -> Any:
    return result.model_dump(mode="json", exclude_none=True)


async def session_view(command: Sequence[str], mode: str, case: dict[str, Any]) -> dict[str, Any]:
    async with Client(params(command), mode=mode, read_timeout_seconds=20) as client:  # type: ignore[arg-type]
        names = [t.name for t in (await client.list_tools()).tools]
        allowed = await client.call_tool(*case["allowed"])
        denied = await client.call_tool(*case["denied"])
        try:
            hidden: Any = comparable(await client.call_tool(case["hidden"], {}))
        except Exception as exc:  # the SDK raises for a protocol-level unknown tool
            hidden = f"{type(exc).__name__}: {exc}"
    return {"names": names, "allowed": comparable(allowed), "denied": denied, "hidden": hidden}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("case", ["everything", "time"])
async def test_sdk_client_sees_the_policy_and_otherwise_the_same_server(
    mode: str, case: str, home: Path, write_policy: Callable[[str], Path]
) -> None:
    spec = CASES[case]
    policy = write_policy(spec["policy"])
    direct = await session_view(spec["server"](), mode, spec)
    gated = await session_view(toolgate(policy, spec["server"](), home), mode, spec)

    assert spec["hidden"] in direct["names"]
    assert gated["names"] == [n for n in direct["names"] if n != spec["hidden"]]
    assert gated["allowed"] == direct["allowed"]
    assert direct["denied"].is_error is not True
    assert gated["denied"].is_error is True
    assert gated["denied"].content[0].text == DENY_TEXT
    assert spec["hidden"] in str(gated["hidden"])
    assert "Unknown tool" in str(gated["hidden"]) or "not found" in str(gated["hidden"])
