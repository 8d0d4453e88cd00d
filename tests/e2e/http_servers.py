"""Real MCP servers over HTTP for tests: the npm everything server (Streamable HTTP or legacy
HTTP+SSE), a dual-era Python server that records every request's headers, and a runner that
serves any small ASGI app on a loopback port (for upstreams that misbehave on purpose).

    async with everything_http(mode="streamableHttp") as url: ...   # http://127.0.0.1:P/mcp
    async with recording_server() as (url, seen): ...                # seen.requests() -> list
    async with asgi_server(app) as base_url: ...                     # http://127.0.0.1:P

Run as a script (`python tests/e2e/http_servers.py PORT RECORD_FILE streamable|sse PATH`) it is the
recording server itself, in its own process so the SDK's state never mixes with the test's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx
import orjson
from anyio.abc import Process
from mcp.server.mcpserver import Context, MCPServer

if __package__:
    from tests.e2e.support import NODE_MODULES, WAIT, node, require
else:  # run as a script: only the server part below is used
    NODE_MODULES = Path()
    WAIT = 20.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until_answering(url: str, process: Process) -> None:
    """Poll `url` until any HTTP answer comes back; fail if the process dies or WAIT passes."""
    async with httpx.AsyncClient(timeout=1.0) as client:
        with anyio.fail_after(WAIT):
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"server for {url} exited with {process.returncode}")
                try:
                    await client.head(url)
                    return
                except httpx.TransportError:
                    await anyio.sleep(0.02)  # polling start-up, bounded by fail_after


async def stop(process: Process) -> None:
    if process.returncode is None:
        process.terminate()
        with anyio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
    await process.aclose()


@asynccontextmanager
async def everything_http(
    mode: Literal["streamableHttp", "sse"] = "streamableHttp",
) -> AsyncIterator[str]:
    """The npm everything server (legacy era only) over HTTP; yields its MCP URL."""
    entry = NODE_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
    command = [node(), require(entry, "the everything server (npm)"), mode]
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    process = await anyio.open_process(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/{'mcp' if mode == 'streamableHttp' else 'sse'}"
    try:
        await wait_until_answering(f"http://127.0.0.1:{port}/", process)
        yield url
    finally:
        await stop(process)


@dataclass(frozen=True)
class Recorded:
    """The requests a recording server has seen, read back from its JSON-lines file."""

    path: Path

    def requests(self) -> list[dict[str, Any]]:
        """Each request as {"method", "path", "headers": {lower-case name: value}}."""
        if not self.path.exists():
            return []
        lines = self.path.read_bytes().splitlines()
        return [orjson.loads(line) for line in lines if line.strip()]

    def header_values(self, name: str) -> list[str]:
        """Every value the upstream received for header `name` (case-insensitive)."""
        wanted = name.lower()
        return [r["headers"][wanted] for r in self.requests() if wanted in r["headers"]]


@asynccontextmanager
async def recording_server(
    transport: Literal["streamable", "sse"] = "streamable", path: str | None = None
) -> AsyncIterator[tuple[str, Recorded]]:
    """A dual-era `mcp` SDK server (tools add, echo, slow) in a subprocess; yields its MCP URL
    (`path`, by default `/mcp`, or `/sse` for the legacy HTTP+SSE transport) and what it
    recorded."""
    port = free_port()
    path = path or ("/mcp" if transport == "streamable" else "/sse")
    with tempfile.TemporaryDirectory() as tmp:
        record = Recorded(Path(tmp) / "requests.jsonl")
        command = [sys.executable, __file__, str(port), str(record.path), transport, path]
        process = await anyio.open_process(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}{path}"
        try:
            await wait_until_answering(f"http://127.0.0.1:{port}/health", process)
            yield url, record
        finally:
            await stop(process)


@asynccontextmanager
async def asgi_server(app: App) -> AsyncIterator[str]:
    """Serve a small ASGI app with uvicorn on a free loopback port, in this event loop."""
    import uvicorn  # noqa: PLC0415 - only the tests that script an upstream need it

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server._serve, [sock])  # _serve: no signal handlers in a test
        with anyio.fail_after(WAIT):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no start event
                await anyio.sleep(0.01)  # polling start-up, bounded by fail_after
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            server.force_exit = True
    sock.close()


# --- the recording server process ----------------------------------------------------------


def build_recording_app(record_file: Path, transport: str, path: str) -> App:
    server: MCPServer[Any] = MCPServer("recording", version="1.0")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def echo(message: str) -> str:
        """Echo the message back."""
        return message

    @server.tool()
    async def slow(seconds: float, ctx: Context) -> str:
        """Report progress, then answer after `seconds`."""
        await ctx.report_progress(0, 1)
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    if transport == "sse":
        inner = server.sse_app(sse_path=path)
    else:
        inner = server.streamable_http_app(streamable_http_path=path)
    sink = record_file.open("ab", buffering=0)

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"] == "/health":
                await send({"type": "http.response.start", "status": 204, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            entry = {"method": scope["method"], "path": scope["path"], "headers": headers}
            sink.write(orjson.dumps(entry) + b"\n")
        await inner(scope, receive, send)

    return recording


def main() -> None:
    import uvicorn  # noqa: PLC0415

    port, record_file = int(sys.argv[1]), Path(sys.argv[2])
    transport, path = sys.argv[3], sys.argv[4]
    app = build_recording_app(record_file, transport, path)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
