"""A small stdio MCP server for tests that serves a tool catalogue from a JSON file, in pages.

Usage: python catalog_server.py CATALOGUE.json [PAGE_SIZE]

Its tools/list results carry `nextCursor`, a `_meta` block and an unknown field on every page, so
tests can prove a gateway keeps every field it does not filter. Every tool call succeeds with a
text naming the tool. Not a fake of anything: a real process speaking the handshake era.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson


def main() -> None:
    catalogue = orjson.loads(open(sys.argv[1], "rb").read())  # noqa: SIM115
    tools: list[dict[str, Any]] = catalogue["tools"] if isinstance(catalogue, dict) else catalogue
    page = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        message = orjson.loads(line)
        reply = answer(message, tools, page)
        if reply is not None:
            sys.stdout.buffer.write(orjson.dumps({"jsonrpc": "2.0", "id": message["id"], **reply}))
            sys.stdout.buffer.write(b"\n")
            sys.stdout.buffer.flush()


def answer(
    message: dict[str, Any], tools: list[dict[str, Any]], page: int
) -> dict[str, Any] | None:
    method = message.get("method")
    if "id" not in message:
        return None
    params = message.get("params") or {}
    if method == "initialize":
        return {
            "result": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "catalogue", "version": "1"},
            }
        }
    if method == "tools/list":
        start = int(params.get("cursor") or 0)
        result: dict[str, Any] = {
            "tools": tools[start : start + page],
            "_meta": {"example.com/page": start // page},
            "x-unknown-field": {"kept": True},
        }
        if start + page < len(tools):
            result["nextCursor"] = str(start + page)
        return {"result": result}
    if method == "tools/call":
        text = f"called {params.get('name')}"
        return {"result": {"content": [{"type": "text", "text": text}]}}
    if method == "ping":
        return {"result": {}}
    return {"error": {"code": -32601, "message": f"Method not found: {method}"}}


if __name__ == "__main__":
    main()
