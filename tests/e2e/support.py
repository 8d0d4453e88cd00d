"""Helpers for end-to-end tests: locating the real third-party servers, running toolgate as a
process, and a raw JSON-RPC client that sees exact bytes.

A missing third-party server skips the test locally; with TOOLGATE_REQUIRE_E2E=1 (set by CI)
it fails instead, so CI can never go green by skipping.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from anyio.abc import Process

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "tests" / "e2e" / "servers" / "node_modules"
SHARED = ROOT.parent / "shared"
WAIT = 20.0  # seconds; every wait in these tests is bounded by it


def require(path: Path | str | None, what: str) -> str:
    """The path of a needed executable or file, or skip (locally) / fail (in CI) without it."""
    if path is not None and Path(path).exists():
        return str(path)
    message = f"{what} is not installed (run ./dev test, which installs it)"
    if os.environ.get("TOOLGATE_REQUIRE_E2E"):
        pytest.fail(message)
    pytest.skip(message)


def node() -> str:
    return require(shutil.which("node"), "node")


def everything_server() -> list[str]:
    entry = NODE_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
    return [node(), require(entry, "the everything server (npm)"), "stdio"]


def filesystem_server(root: Path) -> list[str]:
    entry = NODE_MODULES / "@modelcontextprotocol" / "server-filesystem" / "dist" / "index.js"
    return [node(), require(entry, "the filesystem server (npm)"), str(root)]


def time_server() -> list[str]:
    exe = Path(sys.executable).parent / "mcp-server-time"
    return [require(exe, "mcp-server-time (PyPI)"), "--local-timezone=UTC"]


def fetch_server() -> list[str]:
    """mcp-server-fetch (stdio). Tests only list its tools: there is no network to fetch from."""
    exe = Path(sys.executable).parent / "mcp-server-fetch"
    return [require(exe, "mcp-server-fetch (PyPI)")]


def inspector_cli() -> list[str]:
    entry = (
        NODE_MODULES
        / "@modelcontextprotocol"
        / "inspector"
        / "clients"
        / "launcher"
        / "build"
        / "index.js"
    )
    return [node(), require(entry, "the MCP Inspector (npm)")]


def stub_server(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "bench" / "stub_server.py"), *args]


def demo_server() -> list[str]:
    return [sys.executable, "-m", "toolgate.demo.exchange_server"]


def toolgate(policy: Path, server: Sequence[str], home: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "toolgate",
        "run",
        "-c",
        str(policy),
        "--state-dir",
        str(home / "state"),
        "--audit-log",
        str(home / "audit.jsonl"),
        *extra,
        "--",
        *server,
    ]


# Every run also logs startup, policy_load and shutdown (and store_failure) events; most tests
# look only at what calls did, so `audit_events` keeps decision and pin events.
LIFECYCLE = frozenset({"startup", "shutdown", "policy_load", "store_failure"})


def all_audit_events(home: Path) -> list[dict[str, Any]]:
    path = home / "audit.jsonl"
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def audit_events(home: Path) -> list[dict[str, Any]]:
    return [e for e in all_audit_events(home) if e.get("type") not in LIFECYCLE]


class RawClient:
    """A JSON-RPC client over a child's stdio that keeps every line it receives as bytes."""

    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._buffer = bytearray()
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self._responses: dict[str, bytes] = {}  # arrived out of order, keyed by JSON id

    async def send_line(self, data: bytes) -> None:
        await self._stdin.send(data + b"\n")

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_line(orjson.dumps(message))

    async def read_line(self) -> bytes:
        with anyio.fail_after(WAIT):
            while b"\n" not in self._buffer:
                chunk = await self._stdout.receive()
                self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return line

    async def response_line(self, msg_id: Any) -> bytes:
        """The raw bytes of the response to `msg_id`; other messages are kept aside."""
        wanted = orjson.dumps(msg_id).decode()
        while wanted not in self._responses:
            line = await self.read_line()
            message = orjson.loads(line)
            if "method" in message:
                target = self.server_requests if "id" in message else self.notifications
                target.append(message)
                continue
            self._responses[orjson.dumps(message.get("id")).decode()] = line
        return self._responses.pop(wanted)

    async def request(self, msg_id: Any, method: str, params: Any = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        result: dict[str, Any] = orjson.loads(await self.response_line(msg_id))
        return result

    async def initialize(self, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.request(
            0,
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": capabilities or {},
                "clientInfo": {"name": "toolgate-tests", "version": "1"},
            },
        )
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    async def close(self) -> int:
        await self._stdin.aclose()
        with anyio.fail_after(WAIT):
            return await self.process.wait()


@asynccontextmanager
async def raw_client(
    command: Sequence[str], env: dict[str, str] | None = None
) -> AsyncIterator[RawClient]:
    full_env = {**os.environ, **(env or {})}
    process = await anyio.open_process(list(command), env=full_env, stderr=None)
    client = RawClient(process)
    try:
        yield client
    finally:
        if process.returncode is None:
            try:
                await client.close()
            except (TimeoutError, anyio.ClosedResourceError, anyio.BrokenResourceError):
                process.kill()
                await process.wait()
        await process.aclose()
