"""The scripted agent: an MCP client session of either era that runs the demo script.

It speaks raw JSON-RPC through `StdioClient`: the handshake (`initialize` +
`notifications/initialized`) or, for the 2026-07-28 era, `server/discover` and per-request
`_meta`; then `tools/list` and every scripted `tools/call`, keeping each raw response.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from toolgate.demo.client import DemoError, StdioClient
from toolgate.demo.script import SCRIPT, ScriptedCall

Era = Literal["legacy", "modern"]

HANDSHAKE_VERSION: Final = "2025-11-25"
MODERN_VERSION: Final = "2026-07-28"
CLIENT_INFO: Final = {"name": "toolgate-demo-agent", "version": "1.0.0"}
MAX_PAGES: Final = 100


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One scripted call and the raw JSON-RPC response it got."""

    call: ScriptedCall
    response: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AgentRun:
    """What the agent saw: the advertised tool names and every call's response."""

    tools: tuple[str, ...]
    records: tuple[CallRecord, ...]


class McpSession:
    """An MCP client session of one era over a `StdioClient`."""

    def __init__(self, client: StdioClient, era: Era = "legacy") -> None:
        self._client = client
        self.era = era

    def _params(self, **params: Any) -> dict[str, Any]:
        if self.era == "modern":
            params["_meta"] = {
                "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
            }
        return params

    async def _result(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        response = await self._client.request(method, params)
        result = response.get("result")
        if not isinstance(result, dict):
            error = response.get("error", {})
            detail = error.get("message", response) if isinstance(error, dict) else error
            raise DemoError(f"{self._client.name} refused {method}: {detail}")
        return result

    async def open(self) -> dict[str, Any]:
        """Start the session; returns the initialize or discover result."""
        if self.era == "modern":
            result = await self._result("server/discover", self._params())
            if MODERN_VERSION not in result.get("supportedVersions", []):
                raise DemoError(f"{self._client.name} does not support {MODERN_VERSION}")
            return result
        params = {
            "protocolVersion": HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": CLIENT_INFO,
        }
        result = await self._result("initialize", params)
        await self._client.notify("notifications/initialized")
        return result

    async def list_tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params = self._params() if cursor is None else self._params(cursor=cursor)
            result = await self._result("tools/list", params)
            tools.extend(t for t in result.get("tools", []) if isinstance(t, dict))
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str):
                return tools
        raise DemoError(f"{self._client.name} kept paginating tools/list past {MAX_PAGES} pages")

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The raw response: a `result` (maybe `isError`) or a JSON-RPC `error`."""
        return await self._client.request(
            "tools/call", self._params(name=name, arguments=arguments)
        )


async def run_agent(
    client: StdioClient, script: Sequence[ScriptedCall] = SCRIPT, *, era: Era = "legacy"
) -> AgentRun:
    """Open a session, list the tools, then make every scripted call in order."""
    session = McpSession(client, era)
    await session.open()
    tools = tuple(str(tool.get("name")) for tool in await session.list_tools())
    records = []
    for call in script:
        records.append(CallRecord(call, await session.call_tool(call.tool, call.arguments)))
    return AgentRun(tools, tuple(records))
