"""BASELINE, not toolgate: a minimal stdio relay built on the `mcp` SDK (low-level Server+Client).

Usage: python bench/tgbench/sdk_relay.py -- <server command...>

This is the "just use the SDK" way to put something between a client and a server: a low-level
`mcp.server.lowlevel.Server` facing the client over stdio, whose `tools/list` and `tools/call`
handlers forward to an `mcp.Client` (legacy handshake) connected to the upstream over stdio. It
enforces no policy and relays only tools; it is here so the benchmark can show what the SDK's own
parse-validate-reserialise path costs next to toolgate's byte relay. (It is also lossy: the SDK's
types drop fields they do not know; see /work/shared/docs/mcp-protocol.md §13.)
"""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from mcp import Client, StdioServerParameters


async def relay(command: list[str]) -> None:
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    async with Client(params, mode="legacy") as upstream:

        async def list_tools(_ctx: Any, params: Any) -> types.ListToolsResult:
            cursor = getattr(params, "cursor", None) if params is not None else None
            return await upstream.list_tools(cursor=cursor, cache_mode="bypass")

        async def call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
            return await upstream.call_tool(params.name, params.arguments)

        server: Server[Any] = Server(
            "sdk-relay-baseline", on_list_tools=list_tools, on_call_tool=call_tool
        )
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def main() -> None:
    argv = sys.argv[1:]
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    if not command:
        sys.exit("usage: sdk_relay.py -- <server command...>")
    anyio.run(relay, command)


if __name__ == "__main__":
    main()
