"""The upstream MCP server as a child process speaking newline-delimited JSON-RPC on stdio.

The child inherits toolgate's environment and stderr (its logs pass straight through); its stdin
and stdout are pipes toolgate reads and writes directly (see `pipes`). Shutdown follows the MCP
stdio guidance: close stdin, wait, then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
from collections.abc import Mapping, Sequence

import anyio
from anyio.abc import Process

from toolgate.errors import UpstreamError
from toolgate.transports.pipes import PipeReader, PipeWriter

EXIT_GRACE_SECONDS = 5.0


def describe(command: Sequence[str]) -> str:
    return shlex.join(command)


class StdioChild:
    """A started child process: `receive()` reads its stdout, `send()` writes its stdin."""

    def __init__(self, process: Process, command: Sequence[str], stdin: int, stdout: int) -> None:
        self.process = process
        self.command = tuple(command)
        self._writer = PipeWriter(stdin)
        self._reader = PipeReader(stdout)
        self._stdin_closed = False

    @classmethod
    async def start(
        cls,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> StdioChild:
        """Start `command`; `env` adds to (and overrides) the inherited environment."""
        if not command:
            raise UpstreamError("no upstream server command given (put it after --)")
        child_stdin, to_child = os.pipe()
        from_child, child_stdout = os.pipe()
        try:
            process = await anyio.open_process(
                list(command),
                stdin=child_stdin,
                stdout=child_stdout,
                stderr=None,
                env={**os.environ, **env} if env else None,
                cwd=cwd,
            )
        except OSError as exc:
            for fd in (to_child, from_child):
                os.close(fd)
            reason = exc.strerror or str(exc)
            raise UpstreamError(
                f"cannot start upstream server `{describe(command)}`: {reason}"
            ) from None
        finally:
            os.close(child_stdin)
            os.close(child_stdout)
        return cls(process, command, to_child, from_child)

    async def receive(self) -> bytes:
        return await self._reader.receive()

    async def send(self, data: bytes) -> None:
        """Write one message (a newline is appended). A dead child raises UpstreamError."""
        if self._stdin_closed:
            raise UpstreamError(f"upstream server `{describe(self.command)}` input is closed")
        try:
            await self._writer.send(data)
        except (BrokenPipeError, OSError) as exc:
            raise UpstreamError(f"upstream server `{describe(self.command)}` is gone") from exc

    async def close_stdin(self) -> None:
        if not self._stdin_closed:
            self._stdin_closed = True
            self._writer.close()

    def forward_signal(self, signum: int) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.Signals(signum))

    async def wait(self) -> int:
        return await self.process.wait()

    async def shutdown(self, grace: float = EXIT_GRACE_SECONDS) -> int:
        """Close stdin and wait `grace` seconds for an exit, escalating to SIGTERM then SIGKILL."""
        await self.close_stdin()
        for escalate in (self.process.terminate, self.process.kill):
            with anyio.move_on_after(grace):
                return await self.process.wait()
            try:
                escalate()
            except ProcessLookupError:
                break
        return await self.process.wait()

    def close(self) -> None:
        self._reader.close()


def exit_status(returncode: int) -> int:
    """A shell-style exit status: a child killed by signal N reports 128 + N."""
    return 128 - returncode if returncode < 0 else returncode
