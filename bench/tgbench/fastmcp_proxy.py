"""PEER, not toolgate: a fastmcp proxy over stdio with a minimal policy middleware.

Usage: python bench/tgbench/fastmcp_proxy.py -- <server command...>

What a Python user would build instead of toolgate: `fastmcp.server.create_proxy` over a stdio
transport to the upstream (`mode="auto"`, as the benchmark brief prescribes), served over stdio,
plus a small middleware standing in for a policy (it refuses a few tool names and checks
the size of string arguments). The middleware's own work is negligible next to the proxy's.
"""

from __future__ import annotations

import sys
from typing import Any

from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError
from fastmcp.server import create_proxy
from fastmcp.server.middleware import Middleware, MiddlewareContext

DENIED = frozenset({"delete_everything", "wire_money", "drop_database"})
MAX_STRING = 4096


class PolicyMiddleware(Middleware):
    """Refuses some tools by name and over-long string arguments."""

    async def on_call_tool(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
        params = context.message
        if params.name in DENIED:
            raise ToolError(f"{params.name} is not allowed")
        for value in (params.arguments or {}).values():
            if isinstance(value, str) and len(value) > MAX_STRING:
                raise ToolError("argument too long")
        return await call_next(context)


def main() -> None:
    argv = sys.argv[1:]
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    if not command:
        sys.exit("usage: fastmcp_proxy.py -- <server command...>")
    proxy = create_proxy(
        StdioTransport(command=command[0], args=command[1:]), mode="auto", name="fastmcp-proxy"
    )
    proxy.add_middleware(PolicyMiddleware())
    proxy.run(transport="stdio", show_banner=False)


if __name__ == "__main__":
    main()
