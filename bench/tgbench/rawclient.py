"""A raw JSON-RPC client over a child's stdio pipes: exact bytes, exact timing, no framework.

Synchronous on purpose: one `os.write` of a prebuilt line, then `os.read` until the matching
response line is complete, with `perf_counter_ns` taken just before the write and just after the
last byte arrives. Parsing and checking the response happen after the clock stops. The pipelined
mode keeps `depth` calls in flight and measures calls per second.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import psutil  # type: ignore[import-untyped]

WAIT_S = 30.0  # no single read waits longer than this
CLIENT_INFO = {"name": "toolgate-bench-raw", "version": "1"}


class RawError(RuntimeError):
    """The contender answered wrongly, died or stalled."""


class RawProcess:
    """One long-lived server or proxy process driven over its stdin/stdout."""

    def __init__(self, argv: Sequence[str], stderr_path: Path, env: dict[str, str]) -> None:
        self.argv = list(argv)
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.stderr_path = stderr_path
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            bufsize=0,
            start_new_session=True,  # its own process group, so close() can end the children too
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin.fileno()
        self._out = self.proc.stdout.fileno()
        self._poll = select.poll()
        self._poll.register(self._out, select.POLLIN)
        self._buffer = bytearray()
        self._scan = 0  # where the newline search resumes in _buffer
        self._next_id = 1
        self.errors = 0  # error responses or isError results seen in pipelined mode

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_bytes(self) -> int:
        """Resident memory of this process alone (not its children)."""
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by this process alone (not its children)."""
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    # -- wire -----------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._in, view)
            view = view[written:]

    def _fill(self) -> None:
        if not self._poll.poll(WAIT_S * 1000):
            raise RawError(f"no output for {WAIT_S:.0f} s from {self.argv[:3]}")
        chunk = os.read(self._out, 1 << 20)
        if not chunk:
            raise RawError(f"process exited (code {self.proc.poll()}); see {self.stderr_path}")
        self._buffer += chunk

    def read_line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n", self._scan)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                self._scan = 0
                return line
            self._scan = len(self._buffer)
            self._fill()

    def _handle_other(self, message: Any) -> None:
        """Answer a server-to-client request with an error; ignore notifications."""
        if isinstance(message, dict) and "method" in message and "id" in message:
            reply = {
                "jsonrpc": "2.0",
                "id": message["id"],
                "error": {"code": -32601, "message": "no"},
            }
            self._write(orjson.dumps(reply) + b"\n")

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def timed_request(self, line: bytes, msg_id: int) -> tuple[int, bytes, Any]:
        """Send one request line; (ns from write to the response's last byte, raw line, parsed)."""
        clock = time.perf_counter_ns
        start = clock()
        self._write(line)
        while True:
            raw = self.read_line()
            elapsed = clock() - start
            message = orjson.loads(raw)
            if (
                isinstance(message, dict)
                and message.get("id") == msg_id
                and "method" not in message
            ):
                return elapsed, raw, message
            self._handle_other(message)

    def request(self, method: str, params: Any = None) -> Any:
        msg_id = self.new_id()
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            body["params"] = params
        _, _, message = self.timed_request(orjson.dumps(body) + b"\n", msg_id)
        if "error" in message:
            raise RawError(f"{method} failed: {message['error']}")
        return message["result"]

    # -- MCP ------------------------------------------------------------------------------------

    def handshake(self) -> dict[str, Any]:
        """initialize + notifications/initialized + the first tools/list; the tools/list result."""
        self.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT_INFO},
        )
        self._write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        result: dict[str, Any] = self.request("tools/list")
        return result

    def call_line(self, msg_id: int, tool: str, arguments: dict[str, Any]) -> bytes:
        body = {
            "jsonrpc": "2.0",
            "id": msg_id,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        return orjson.dumps(body) + b"\n"

    def timed_calls(self, count: int, tool: str, arguments: dict[str, Any]) -> list[int]:
        """`count` sequential tools/call round trips; their durations in ns. Raises on a refusal."""
        samples = []
        for _ in range(count):
            msg_id = self.new_id()
            elapsed, raw, message = self.timed_request(
                self.call_line(msg_id, tool, arguments), msg_id
            )
            result = message.get("result")
            if not isinstance(result, dict) or result.get("isError"):
                raise RawError(f"tools/call {tool} was not served: {raw[:300]!r}")
            samples.append(elapsed)
        return samples

    def check_echo(self, tool: str, arguments: dict[str, Any], expected: str) -> None:
        msg_id = self.new_id()
        _, raw, message = self.timed_request(self.call_line(msg_id, tool, arguments), msg_id)
        content = (message.get("result") or {}).get("content") or [{}]
        if expected not in str(content[0].get("text", "")):
            raise RawError(f"unexpected echo answer: {raw[:300]!r}")

    def pipelined(self, count: int, depth: int, tool: str, arguments: dict[str, Any]) -> int:
        """`count` calls with up to `depth` in flight; total ns from the first write to the last
        response. Error answers are counted in `self.errors`, not raised."""
        params = orjson.dumps({"name": tool, "arguments": arguments})
        prefix, suffix = (
            b'{"jsonrpc":"2.0","id":',
            b',"method":"tools/call","params":' + params + b"}\n",
        )
        first = self._next_id + 1
        self._next_id += count
        lines = [prefix + str(first + i).encode() + suffix for i in range(count)]
        pending = set(range(first, first + count))
        sent = min(depth, count)
        clock = time.perf_counter_ns
        start = clock()
        self._write(b"".join(lines[:sent]))
        while pending:
            raw = self.read_line()
            message = orjson.loads(raw)
            msg_id = message.get("id") if isinstance(message, dict) else None
            if "method" in message or msg_id not in pending:
                self._handle_other(message)
                continue
            pending.discard(msg_id)
            result = message.get("result")
            if not isinstance(result, dict) or result.get("isError"):
                self.errors += 1
            if sent < count:
                self._write(lines[sent])
                sent += 1
        return clock() - start

    def timed_list(self) -> tuple[int, bytes]:
        """One tools/list; (ns from write to the last byte of the response, the raw line)."""
        msg_id = self.new_id()
        line = b'{"jsonrpc":"2.0","id":' + str(msg_id).encode() + b',"method":"tools/list"}\n'
        elapsed, raw, message = self.timed_request(line, msg_id)
        if "result" not in message:
            raise RawError(f"tools/list failed: {raw[:300]!r}")
        return elapsed, raw

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self, wait: float = 5.0) -> None:
        """Close stdin (how a stdio server is told to stop); then end its process group."""
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(wait)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its group: the upstream it started, if left
        if self.proc.poll() is None:
            self.proc.wait(wait)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()
