"""The fastest stdio MCP stub for benchmarks: one `echo` tool, `tools/list` with N tools.

Usage: python bench/stub_server.py [N]   (N = tools in tools/list, default 1: just `echo`)

Dual era like the demo exchange: `initialize` (echoes a supported handshake version) and
`server/discover`; a request whose `params._meta` carries a protocol version gets
`resultType: "complete"`. Every result body is serialised once at start-up; per line the stub
decodes, looks at the method and splices the request id in. `TOOLGATE_DEMO_SERVER_LOG=<file>`
appends every received line to that file.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import orjson

MODERN = "2026-07-28"
LEGACY = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
INFO = {"name": "toolgate-bench-stub", "version": "1.0.0"}
CAPS = {"tools": {"listChanged": True}}
MODERN_EXTRA = {"resultType": "complete"}


def tool_list(count: int) -> list[dict[str, Any]]:
    echo = {
        "name": "echo",
        "description": "Echo the message back.",
        "inputSchema": {
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        },
        "annotations": {"readOnlyHint": True, "destructiveHint": False, "openWorldHint": False},
    }
    fillers = [
        {
            "name": f"tool_{i:05d}",
            "description": f"Filler tool number {i}.",
            "inputSchema": {"type": "object", "properties": {"x": {"type": "integer"}}},
        }
        for i in range(1, count)
    ]
    return [echo, *fillers]


def bodies(count: int) -> dict[tuple[str, bool], bytes]:
    """Pre-serialised result bodies keyed by (method, modern)."""
    tools = tool_list(count)
    plain: dict[str, dict[str, Any]] = {
        "ping": {},
        "tools/list": {"tools": tools},
        "server/discover": {
            "supportedVersions": [MODERN],
            "capabilities": CAPS,
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": {"io.modelcontextprotocol/serverInfo": INFO},
        },
    }
    out: dict[tuple[str, bool], bytes] = {}
    for method, result in plain.items():
        out[method, False] = orjson.dumps(result)
        modern = {**result, **MODERN_EXTRA}
        if method == "tools/list":
            modern |= {"ttlMs": 300000, "cacheScope": "public"}
        out[method, True] = orjson.dumps(modern)
    out["server/discover", False] = out["server/discover", True]
    return out


def respond(msg_id: Any, body: bytes) -> bytes:
    return b'{"jsonrpc":"2.0","id":' + orjson.dumps(msg_id) + b',"result":' + body + b"}\n"


def error(msg_id: Any, code: int, message: str) -> bytes:
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}},
        option=orjson.OPT_APPEND_NEWLINE,
    )


def answer(msg: Any, cached: dict[tuple[str, bool], bytes]) -> bytes | None:
    if not isinstance(msg, dict):
        return error(None, -32600, "Invalid Request")
    msg_id = msg.get("id")
    method = msg.get("method")
    if msg_id is None or method is None:
        return None
    params = msg.get("params")
    if not isinstance(params, dict):
        params = {}
    meta = params.get("_meta")
    modern = isinstance(meta, dict) and VERSION_KEY in meta
    body = cached.get((method, modern))
    if body is not None:
        return respond(msg_id, body)
    if method == "tools/call":
        if params.get("name") != "echo":
            return error(msg_id, -32602, f"Unknown tool: {params.get('name')}")
        text = str((params.get("arguments") or {}).get("message", ""))
        result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
        if modern:
            result |= MODERN_EXTRA
        return respond(msg_id, orjson.dumps(result))
    if method == "initialize":
        version = params.get("protocolVersion")
        result = {
            "protocolVersion": version if version in LEGACY else LEGACY[-1],
            "capabilities": CAPS,
            "serverInfo": INFO,
        }
        return respond(msg_id, orjson.dumps(result))
    return error(msg_id, -32601, "Method not found")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    cached = bodies(max(count, 1))
    log_path = os.environ.get("TOOLGATE_DEMO_SERVER_LOG")
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115 - lives as long as the process
    read, write, flush = sys.stdin.buffer.readline, sys.stdout.buffer.write, sys.stdout.buffer.flush
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    try:
        for line in iter(read, b""):
            if log is not None:
                log.write(line if line.endswith(b"\n") else line + b"\n")
                log.flush()
            try:
                out = answer(loads(line), cached)
            except decode_error:
                out = error(None, -32700, "Parse error") if line.strip() else None
            if out is not None:
                write(out)
                flush()
    except (BrokenPipeError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
