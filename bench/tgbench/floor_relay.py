"""BASELINE, not toolgate: the floor of a Python stdio relay, copying bytes and nothing else.

Usage: python bench/tgbench/floor_relay.py -- <server command...>

An asyncio (uvloop) process that starts the server and copies every chunk from its own stdin to
the server's stdin and from the server's stdout to its own stdout, with protocol callbacks and no
parsing, no policy and no logging: a practical floor for a Python stdio relay on this machine.
So `toolgate - floor` estimates what toolgate's own work costs, and `floor - direct` the price of
an extra process and one more pipe hop each way.
"""

from __future__ import annotations

import asyncio
import os
import sys
from subprocess import PIPE
from typing import cast

import uvloop


class Pump(asyncio.Protocol):
    """Our stdin -> the server's stdin, chunk by chunk; sets `done` at end of input."""

    def __init__(self, sink: asyncio.WriteTransport, done: asyncio.Event) -> None:
        self.sink = sink
        self.done = done

    def data_received(self, data: bytes) -> None:
        self.sink.write(data)

    def eof_received(self) -> bool:
        self.done.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.done.set()


class Child(asyncio.SubprocessProtocol):
    """The server's stdout -> our stdout, chunk by chunk; sets `gone` once it exited and closed."""

    def __init__(self, sink: asyncio.WriteTransport, gone: asyncio.Event) -> None:
        self.sink = sink
        self.gone = gone

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if fd == 1 and isinstance(data, bytes):
            self.sink.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone.set()


async def relay(command: list[str]) -> int:
    loop = asyncio.get_running_loop()
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(1, "wb", 0))
    client_done, gone = asyncio.Event(), asyncio.Event()
    child, _ = await loop.subprocess_exec(
        lambda: Child(out, gone), *command, stdin=PIPE, stdout=PIPE, stderr=None
    )
    # (a cast, not an isinstance check: uvloop's transports do not subclass asyncio's)
    child_in = cast(asyncio.WriteTransport, child.get_pipe_transport(0))
    await loop.connect_read_pipe(lambda: Pump(child_in, client_done), os.fdopen(0, "rb", 0))
    await client_done.wait()
    child_in.close()
    await gone.wait()
    return child.get_returncode() or 0


def main() -> None:
    argv = sys.argv[1:]
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    if not command:
        sys.exit("usage: floor_relay.py -- <server command...>")
    sys.exit(uvloop.run(relay(command)))


if __name__ == "__main__":
    main()
