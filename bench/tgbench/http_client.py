"""A raw JSON-RPC client over Streamable HTTP: POSTs of pre-built bodies with the session
headers, no SDK in between, so what is measured is the server's (and the relay's) cost.

Both eras: `handshake` opens a session (initialize, then notifications/initialized, then every
request carries `Mcp-Session-Id` and `MCP-Protocol-Version`); `modern` sends stateless 2026-07-28
requests with `_meta` and the mirrored `MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name`
headers. Answers may be JSON or an event stream; either is parsed and checked.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson

Era = Literal["handshake", "modern"]
HANDSHAKE_VERSION = "2025-11-25"
MODERN = "2026-07-28"
VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
ACCEPT = "application/json, text/event-stream"
TIMEOUT_S = 30.0


class RawHttpError(Exception):
    """An answer that is not the expected successful JSON-RPC result."""


def answer_of(response: httpx.Response, msg_id: int) -> dict[str, Any]:
    """The JSON-RPC response to `msg_id` in a JSON or event-stream body."""
    kind = response.headers.get("content-type", "")
    return answer_in(response.status_code, kind, response.content, msg_id)


def answer_in(status: int, kind: str, body: bytes, msg_id: int) -> dict[str, Any]:
    """The JSON-RPC response to `msg_id` in an HTTP answer (status, content type, body)."""
    if status != 200:
        raise RawHttpError(f"HTTP {status}: {body[:300]!r}")
    if kind.startswith("text/event-stream"):
        for line in body.splitlines():
            if line.startswith(b"data:") and line[5:].strip():
                found = orjson.loads(line[5:])
                if isinstance(found, dict) and found.get("id") == msg_id and "method" not in found:
                    return found
        raise RawHttpError(f"no answer to {msg_id} in the stream: {body[:300]!r}")
    found = orjson.loads(body)
    if not isinstance(found, dict) or found.get("id") != msg_id:
        raise RawHttpError(f"not the answer to {msg_id}: {body[:300]!r}")
    return found


def served(status: int, body: bytes) -> bool:
    """The fast check of a successful echo answer (the full check runs when it fails)."""
    return status == 200 and b'"isError":false' in body.replace(b" ", b"")


def checked_echo(answer: dict[str, Any], expected: str) -> None:
    result = answer.get("result")
    if not isinstance(result, dict) or result.get("isError"):
        raise RawHttpError(f"tools/call was not served: {orjson.dumps(answer)[:300]!r}")
    content = result.get("content") or [{}]
    if expected not in str(content[0].get("text", "")):
        raise RawHttpError(f"unexpected echo answer: {orjson.dumps(answer)[:300]!r}")


@dataclass
class Calls:
    """How one client addresses one endpoint in one era: URL, headers and request bodies."""

    url: str
    era: Era
    tool: str
    arguments: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    next_id: int = 0

    def __post_init__(self) -> None:
        self.headers = {"Content-Type": "application/json", "Accept": ACCEPT}
        if self.era == "modern":
            self.headers |= {
                "MCP-Protocol-Version": MODERN,
                "Mcp-Method": "tools/call",
                "Mcp-Name": self.tool,
            }
        params: dict[str, Any] = {"name": self.tool, "arguments": self.arguments}
        if self.era == "modern":
            params["_meta"] = {
                VERSION_KEY: MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "tgbench", "version": "1"},
            }
        tail = b',"method":"tools/call","params":' + orjson.dumps(params) + b"}"
        self._prefix, self._suffix = b'{"jsonrpc":"2.0","id":', tail

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def call_body(self, msg_id: int) -> bytes:
        return self._prefix + str(msg_id).encode() + self._suffix

    def initialize_body(self, msg_id: int) -> bytes:
        return orjson.dumps(
            {
                "jsonrpc": "2.0",
                "id": msg_id,
                "method": "initialize",
                "params": {
                    "protocolVersion": HANDSHAKE_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "tgbench", "version": "1"},
                },
            }
        )

    def opened(self, answer: dict[str, Any], session: str | None) -> bytes:
        """Learn the session from the initialize answer; the notifications/initialized body."""
        result = answer.get("result")
        if not isinstance(result, dict):
            raise RawHttpError(f"initialize failed: {orjson.dumps(answer)[:300]!r}")
        if session is None:
            raise RawHttpError("initialize answered without an Mcp-Session-Id")
        self.headers |= {
            "Mcp-Session-Id": session,
            "MCP-Protocol-Version": str(result.get("protocolVersion", HANDSHAKE_VERSION)),
        }
        return b'{"jsonrpc":"2.0","method":"notifications/initialized"}'

    @property
    def session(self) -> str | None:
        return self.headers.get("Mcp-Session-Id")


class SyncClient:
    """One keep-alive connection, sequential requests: the latency client."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self.http = httpx.Client(
            timeout=TIMEOUT_S, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)
        )

    def open(self) -> None:
        calls = self.calls
        if calls.era == "modern":
            return
        msg_id = calls.new_id()
        response = self.http.post(
            calls.url, content=calls.initialize_body(msg_id), headers=calls.headers
        )
        note = calls.opened(answer_of(response, msg_id), response.headers.get("mcp-session-id"))
        done = self.http.post(calls.url, content=note, headers=calls.headers)
        if done.status_code != 202:
            raise RawHttpError(f"notifications/initialized got HTTP {done.status_code}")

    def call(self, expected: str) -> None:
        msg_id = self.calls.new_id()
        response = self.http.post(
            self.calls.url, content=self.calls.call_body(msg_id), headers=self.calls.headers
        )
        checked_echo(answer_of(response, msg_id), expected)

    def timed_calls(self, count: int, expected: str) -> list[int]:
        clock, post, calls = time.perf_counter_ns, self.http.post, self.calls
        samples = []
        for _ in range(count):
            msg_id = calls.new_id()
            start = clock()
            response = post(calls.url, content=calls.call_body(msg_id), headers=calls.headers)
            body = response.content
            samples.append(clock() - start)
            if not served(response.status_code, body):
                checked_echo(answer_of(response, msg_id), expected)  # raises with the reason
        return samples

    def close(self) -> None:
        if self.calls.session is not None:
            with contextlib.suppress(httpx.HTTPError):
                self.http.delete(self.calls.url, headers=self.calls.headers)
        self.http.close()
