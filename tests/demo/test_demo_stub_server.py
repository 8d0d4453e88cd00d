"""The benchmark stub (`bench/stub_server.py`): dual era, N tools, echo, and its line log."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from toolgate.demo.client import StdioClient

MODERN_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}

pytestmark = pytest.mark.anyio


async def test_stub_answers_the_handshake_and_lists_n_tools(stub: StdioClient) -> None:
    init = await stub.request("initialize", {"protocolVersion": "2025-03-26"})
    assert init["result"]["protocolVersion"] == "2025-03-26"
    tools = (await stub.request("tools/list", {}))["result"]["tools"]
    assert [tool["name"] for tool in tools] == [
        "echo",
        "tool_00001",
        "tool_00002",
        "tool_00003",
        "tool_00004",
    ]


async def test_stub_echoes_and_marks_modern_results_complete(stub: StdioClient) -> None:
    legacy = await stub.request("tools/call", {"name": "echo", "arguments": {"message": "hi"}})
    assert legacy["result"] == {"content": [{"type": "text", "text": "hi"}], "isError": False}
    modern = await stub.request(
        "tools/call", {"name": "echo", "arguments": {"message": "yo"}, "_meta": MODERN_META}
    )
    assert modern["result"]["resultType"] == "complete"
    discover = await stub.request("server/discover", {"_meta": MODERN_META})
    assert discover["result"]["supportedVersions"] == ["2026-07-28"]
    listed = await stub.request("tools/list", {"_meta": MODERN_META})
    assert listed["result"]["resultType"] == "complete"


async def test_stub_errors_for_unknown_tools_methods_and_garbage(stub: StdioClient) -> None:
    unknown = await stub.request("tools/call", {"name": "nope", "arguments": {}})
    assert unknown["error"] == {"code": -32602, "message": "Unknown tool: nope"}
    assert (await stub.request("prompts/list", {}))["error"]["code"] == -32601
    await stub.send_raw(b"{oops\n")
    assert (await stub.receive())["error"]["code"] == -32700
    assert (await stub.request("ping", {}))["result"] == {}


async def test_stub_logs_every_received_line(stub: StdioClient, server_log: Path) -> None:
    await stub.notify("notifications/initialized")
    await stub.request("ping", {})
    lines = (await anyio.Path(server_log).read_bytes()).splitlines()
    assert len(lines) == 2
    assert b"notifications/initialized" in lines[0]
