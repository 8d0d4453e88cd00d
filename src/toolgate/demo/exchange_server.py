"""The exchange as a dual-era MCP stdio server: `python -m toolgate.demo.exchange_server`.

Raw newline-delimited JSON-RPC (no SDK), one line in, at most one line out. It answers the
handshake era (`initialize`, echoing a supported version) and the stateless 2026-07-28 era
(`server/discover`, per-request `_meta`, `resultType` on every result) per message. stdout carries
only JSON-RPC; with `TOOLGATE_DEMO_SERVER_LOG=<file>` every received line is appended to that file,
so tests can prove what did (or did not) reach the server.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any, Final

import orjson

from toolgate.demo.exchange_catalog import TOOLS
from toolgate.demo.exchange_state import Exchange
from toolgate.demo.exchange_tools import UnknownToolError, call_tool

LOG_ENV: Final = "TOOLGATE_DEMO_SERVER_LOG"
MODERN: Final = "2026-07-28"
LEGACY: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
VERSION_KEY: Final = "io.modelcontextprotocol/protocolVersion"
SERVER_INFO: Final = {"name": "toolgate-demo-exchange", "version": "1.0.0"}
CAPABILITIES: Final = {"tools": {"listChanged": True}}
INSTRUCTIONS: Final = "A simulated crypto exchange for the toolgate demo. Prices are fixed."

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
UNSUPPORTED_VERSION: Final = -32022


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def _error(msg_id: object, code: int, message: str, data: object = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": msg_id, "error": error}


class ExchangeServer:
    """Answers one JSON-RPC line at a time; keeps the exchange's state between lines."""

    def __init__(self) -> None:
        self.exchange = Exchange()

    def handle_line(self, line: bytes) -> bytes | None:
        """The response line (newline included) for `line`, or None for notifications."""
        if not line.strip():
            return None
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            return self._encode(_error(None, PARSE_ERROR, "Parse error"))
        response = self.handle_message(message)
        return None if response is None else self._encode(response)

    def handle_message(self, message: object) -> dict[str, Any] | None:
        """The response to one decoded message, or None when nothing is to be answered."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return _error(None, INVALID_REQUEST, "Invalid Request")
        answer = "method" not in message and ("result" in message or "error" in message)
        if "id" not in message or answer:
            return None  # a notification, or a client's answer to a request never sent
        method, msg_id = message.get("method"), message.get("id")
        if not isinstance(msg_id, str | int) or isinstance(msg_id, bool):
            return _error(None, INVALID_REQUEST, "Invalid Request")
        if not isinstance(method, str):
            return _error(msg_id, INVALID_REQUEST, "Invalid Request")
        params = message.get("params", {})
        if not isinstance(params, dict):
            return _error(msg_id, INVALID_PARAMS, "Invalid params")
        meta = params.get("_meta")
        version = meta.get(VERSION_KEY) if isinstance(meta, dict) else None
        try:
            if version is not None and version != MODERN:
                data = {"supported": [MODERN], "requested": version}
                raise RpcError(UNSUPPORTED_VERSION, "Unsupported protocol version", data)
            modern = version is not None or method == "server/discover"
            result = self._dispatch(method, params, modern=modern)
        except RpcError as exc:
            return _error(msg_id, exc.code, exc.message, exc.data)
        return {"jsonrpc": "2.0", "id": msg_id, "result": result}

    def _dispatch(self, method: str, params: dict[str, Any], *, modern: bool) -> dict[str, Any]:
        if method == "initialize":
            requested = params.get("protocolVersion")
            return {
                "protocolVersion": requested if requested in LEGACY else LEGACY[-1],
                "capabilities": CAPABILITIES,
                "serverInfo": SERVER_INFO,
                "instructions": INSTRUCTIONS,
            }
        if method == "server/discover":
            result: dict[str, Any] = {
                "supportedVersions": [MODERN],
                "capabilities": CAPABILITIES,
                "instructions": INSTRUCTIONS,
                "ttlMs": 0,
                "cacheScope": "private",
            }
        elif method == "ping":
            result = {}
        elif method == "tools/list":
            result = {"tools": TOOLS}
            if modern:
                result |= {"ttlMs": 300000, "cacheScope": "public"}
        elif method == "tools/call":
            result = self._call(params)
        else:
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        if modern:
            result |= {
                "resultType": "complete",
                "_meta": {"io.modelcontextprotocol/serverInfo": SERVER_INFO},
            }
        return result

    def _call(self, params: dict[str, Any]) -> dict[str, Any]:
        name, arguments = params.get("name"), params.get("arguments", {})
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise RpcError(
                INVALID_PARAMS, "Invalid params: tools/call needs a name and an arguments object"
            )
        try:
            return call_tool(self.exchange, name, arguments)
        except UnknownToolError:
            raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}") from None

    @staticmethod
    def _encode(message: dict[str, Any]) -> bytes:
        return orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)


def serve(stdin: IO[bytes], stdout: IO[bytes], log: IO[bytes] | None = None) -> None:
    """Answer lines from `stdin` until it closes."""
    server = ExchangeServer()
    for line in iter(stdin.readline, b""):
        if log is not None:
            log.write(line if line.endswith(b"\n") else line + b"\n")
            log.flush()
        response = server.handle_line(line)
        if response is not None:
            stdout.write(response)
            stdout.flush()


def main() -> None:
    log_path = os.environ.get(LOG_ENV)
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115 - closed below
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer, log)
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        if log is not None:
            log.close()


if __name__ == "__main__":
    main()
