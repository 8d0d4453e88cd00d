"""A raw JSON-RPC client over a child process's stdio, every wait bounded.

`open_stdio_client` starts the process (stdout piped to the client, stderr to a file so a
failure can name its cause) and always tears it down: close stdin, wait, then kill. Any
problem surfaces as `DemoError` with a one-line message.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import orjson
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

MAX_LINE_BYTES = 16 * 1024 * 1024
EXIT_GRACE_SECONDS = 3.0


class DemoError(Exception):
    """The demo cannot go on; the message is one line meant for the user."""


def last_line(path: Path | None) -> str:
    """The last non-empty line of a log file, or "" (used to explain a child's death)."""
    if path is None or not path.exists():
        return ""
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


class StdioClient:
    """Sends requests to the child and waits for the response with the same id."""

    def __init__(self, process: Process, name: str, timeout: float, stderr: Path | None) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        self._stdin = process.stdin
        self._stdout = BufferedByteReceiveStream(process.stdout)
        self._ids = itertools.count(1)
        self.name, self.timeout, self.stderr = name, timeout, stderr

    def _died(self, doing: str) -> DemoError:
        cause = last_line(self.stderr)
        return DemoError(f"{self.name} stopped while {doing}" + (f": {cause}" if cause else ""))

    async def _send(self, message: Mapping[str, Any], doing: str) -> None:
        await self._send_bytes(orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE), doing)

    async def _send_bytes(self, data: bytes, doing: str) -> None:
        try:
            await self._stdin.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            raise self._died(doing) from None

    async def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(message, f"receiving {method}")

    async def request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """The whole response message (`result` or `error`) to `method`."""
        msg_id = next(self._ids)
        doing = f"answering {method}"
        await self._send(
            {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}, doing
        )
        try:
            with anyio.fail_after(self.timeout):
                while True:
                    message = await self._receive(doing)
                    if message.get("id") == msg_id and "method" not in message:
                        return message
                    if "method" in message and "id" in message:
                        await self._refuse(message)
        except TimeoutError:
            raise DemoError(
                f"{self.name} did not answer {method} within {self.timeout:g}s"
            ) from None

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (tests use it to send malformed lines)."""
        await self._send_bytes(data, "reading raw input")

    async def receive(self) -> dict[str, Any]:
        """The next message from the child, whatever it is."""
        try:
            with anyio.fail_after(self.timeout):
                return await self._receive("sending a message")
        except TimeoutError:
            raise DemoError(f"{self.name} sent nothing within {self.timeout:g}s") from None

    async def _receive(self, doing: str) -> dict[str, Any]:
        try:
            line = await self._stdout.receive_until(b"\n", MAX_LINE_BYTES)
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
            raise self._died(doing) from None
        except anyio.DelimiterNotFound:
            raise DemoError(f"{self.name} sent a line longer than {MAX_LINE_BYTES} bytes") from None
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise DemoError(
                f"{self.name} wrote something that is not JSON: {line[:80]!r}"
            ) from None
        if not isinstance(message, dict):
            raise DemoError(f"{self.name} sent a JSON-RPC message that is not an object")
        return message

    async def _refuse(self, request: dict[str, Any]) -> None:
        """The agent offers no client features: answer server requests so nothing stalls."""
        if request.get("method") == "ping":
            reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request["id"], "result": {}}
        else:
            error = {"code": -32601, "message": "Method not found"}
            reply = {"jsonrpc": "2.0", "id": request["id"], "error": error}
        await self._send(reply, "receiving a response")


@asynccontextmanager
async def open_stdio_client(
    command: Sequence[str],
    *,
    name: str,
    env: Mapping[str, str] | None = None,
    stderr: Path | None = None,
    reply_seconds: float = 15.0,
) -> AsyncIterator[StdioClient]:
    """Start `command` and yield a client talking to it; the process ends with the block."""
    async with await anyio.open_file(stderr if stderr is not None else os.devnull, "ab") as err:
        try:
            process = await anyio.open_process(list(command), env=env, stderr=err.wrapped)
        except OSError as exc:
            raise DemoError(f"cannot start {name}: {exc.strerror or exc}") from None
        try:
            yield StdioClient(process, name, reply_seconds, stderr)
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)


async def _stop(process: Process) -> None:
    """Close stdin (the MCP stdio way to say goodbye), wait a little, then kill."""
    if process.stdin is not None:
        await process.stdin.aclose()
    with anyio.move_on_after(EXIT_GRACE_SECONDS) as scope:
        await process.wait()
    if scope.cancelled_caught:
        process.kill()
    with anyio.move_on_after(EXIT_GRACE_SECONDS):
        await process.aclose()
