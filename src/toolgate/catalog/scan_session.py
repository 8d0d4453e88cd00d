"""One scanning conversation with a server child: bounded requests, answers matched by id.

Every wait is bounded by the session's timeout. Whatever goes wrong surfaces as a `ScanError`
whose message is one line naming the server and the request it happened during. Requests the
server sends us are answered (`ping` with `{}`, anything else with "method not found"), its
notifications and answers to requests we gave up on are dropped.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import anyio
import orjson

from toolgate.errors import UpstreamError
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import (
    JsonId,
    Kind,
    Message,
    encode,
    error_response,
    parse,
    result_response,
)
from toolgate.transports.lines import LineSplitter, Oversized
from toolgate.transports.stdio_child import StdioChild, describe, exit_status

MAX_LINE = 64 << 20  # one tools/list page of a very large server still fits
EXIT_STATUS_WAIT = 2.0  # seconds to learn the exit status of a child that closed its stdout


class ScanError(UpstreamError):
    """Scanning failed; the message is one line that says what, and during which request."""


class ScanTimeoutError(ScanError):
    """The server did not answer a request within the timeout."""


class ScanSession:
    """Sends requests to a started child and waits, bounded, for the matching answers."""

    def __init__(self, child: StdioChild, timeout: float) -> None:
        self.child = child
        self.timeout = timeout
        self.name = describe(child.command)
        self._splitter = LineSplitter(MAX_LINE)
        self._lines: deque[bytes | Oversized] = deque()
        self._next_id = 0
        self._eof = False

    async def request(self, method: str, params: object = None) -> dict[str, Any]:
        """The whole response object (with `result` or `error`) to one request."""
        self._next_id += 1
        msg_id = f"toolgate-scan-{self._next_id}"
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            with anyio.fail_after(self.timeout):
                await self._send(encode(message), method)
                return await self._answer(msg_id, method)
        except TimeoutError:
            raise ScanTimeoutError(
                f"timed out after {self.timeout:g} s waiting for the answer to {method} "
                f"from `{self.name}`"
            ) from None

    async def notify(self, method: str, params: object = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        with anyio.fail_after(self.timeout):
            await self._send(encode(message), method)

    def invalid(self, method: str, problem: str) -> ScanError:
        return ScanError(f"invalid response to {method} from `{self.name}`: {problem}")

    async def _send(self, data: bytes, during: str) -> None:
        try:
            await self.child.send(data)
        except UpstreamError:
            raise await self._exited(during) from None

    async def _answer(self, msg_id: str, method: str) -> dict[str, Any]:
        while True:
            message = await self._message(method)
            if message.kind is Kind.RESPONSE and message.id == msg_id:
                return message.obj
            if message.kind is Kind.REQUEST and message.id is not None:
                await self._send(_reply(message.id, message.method), method)

    async def _message(self, method: str) -> Message:
        """The next well-formed message; lines that are not JSON-RPC (stray logs) are skipped."""
        while True:
            line = await self._line(method)
            if isinstance(line, Oversized):
                raise self.invalid(method, f"a message larger than {MAX_LINE} bytes")
            message = parse(line)
            if isinstance(message, Message):
                return message

    async def _line(self, method: str) -> bytes | Oversized:
        while not self._lines:
            if self._eof:
                raise await self._exited(method)
            chunk = await self.child.receive()
            if chunk:
                self._lines.extend(self._splitter.feed(chunk))
            else:
                self._eof = True
                self._lines.extend(self._splitter.finish())
        return self._lines.popleft()

    async def _exited(self, during: str) -> ScanError:
        status = ""
        with anyio.move_on_after(EXIT_STATUS_WAIT):
            status = f" (exit status {exit_status(await self.child.wait())})"
        return ScanError(f"server `{self.name}` exited during {during}{status}")


def _reply(msg_id: JsonId, method: str | None) -> bytes:
    if method == "ping":
        return result_response(msg_id, {})
    return error_response(msg_id, codes.METHOD_NOT_FOUND, f"Method not found: {method}")


def error_text(answer: dict[str, Any]) -> str:
    """A short rendering of a JSON-RPC error object for a message."""
    error = answer.get("error")
    if not isinstance(error, dict):
        return orjson.dumps(error).decode()
    return f"{error.get('message', '')} (code {error.get('code')})"
