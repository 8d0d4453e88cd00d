"""Progress, elicitation, sampling and roots pass through the gateway between real peers: the
official SDK client and the npm everything server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientRequestContext

from mcp import Client, StdioServerParameters, types
from tests.e2e.support import audit_events, everything_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

POLICY = """
version: "1"
tools:
  trigger-long-running-operation:
    rules:
      - rate_limit: 5/day
"""


async def exercise(command: list[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {"progress": [], "elicited": [], "sampled": [], "roots": 0}

    async def elicit(
        ctx: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        seen["elicited"].append(params.message)
        return types.ElicitResult(action="decline")

    async def sample(
        ctx: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        seen["sampled"].append(len(params.messages))
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="sampled reply"),
            model="test-model",
        )

    async def roots(ctx: ClientRequestContext) -> types.ListRootsResult:
        seen["roots"] += 1
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp", name="tmp")])

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen["progress"].append((value, total))

    params = StdioServerParameters(command=command[0], args=command[1:])
    async with Client(
        params,
        mode="legacy",
        read_timeout_seconds=30,
        elicitation_callback=elicit,
        sampling_callback=sample,
        list_roots_callback=roots,
    ) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        long = await client.call_tool(
            "trigger-long-running-operation",
            {"duration": 0.3, "steps": 3},
            progress_callback=progress,
        )
        seen["long"] = long.model_dump(mode="json", exclude_none=True)
        if "trigger-elicitation-request" in names:
            result = await client.call_tool("trigger-elicitation-request", {})
            seen["elicitation_result"] = result.model_dump(mode="json", exclude_none=True)
        if "trigger-sampling-request" in names:
            result = await client.call_tool("trigger-sampling-request", {"prompt": "hi"})
            seen["sampling_result"] = result.model_dump(mode="json", exclude_none=True)
        if "get-roots-list" in names:
            result = await client.call_tool("get-roots-list", {})
            seen["roots_result"] = result.model_dump(mode="json", exclude_none=True)
        seen["names"] = sorted(names)
    return seen


async def test_server_initiated_traffic_is_the_same_through_the_gateway(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(POLICY)
    direct = await exercise(everything_server())
    gated = await exercise(toolgate(policy, everything_server(), home))
    assert gated == direct
    assert len(gated["progress"]) == 3
    assert gated["elicited"], "the server asked the client through the gateway"
    assert gated["sampled"] == [1]
    assert "file:///tmp" in str(gated["roots_result"])
    assert gated["elicitation_result"]["content"][0]["text"].endswith(
        "declined to provide the requested information."
    )
    tools = [e["tool"] for e in audit_events(home)]
    assert "trigger-long-running-operation" in tools
