"""Serving the review page on 127.0.0.1 at an ephemeral port, in a background thread.

The socket is bound here (port 0) before uvicorn starts, so the URL is known at once and no other
process can take the port in between. `RunningPage.stop` asks uvicorn to finish and waits for the
thread, bounded.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from toolgate.errors import ConfigError

HOST = "127.0.0.1"
STOP_WAIT = 10.0


class _Server(uvicorn.Server):
    """uvicorn's server, telling another thread when it is ready (or has given up)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def serve_until_stopped(self, sock: socket.socket) -> None:
        try:
            self.run(sockets=[sock])
        finally:
            self.ready.set()  # a failed start must not leave the caller waiting
            sock.close()


@dataclass(slots=True)
class RunningPage:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(STOP_WAIT)


def start_page(app: Starlette, token: str, wait: float = STOP_WAIT) -> RunningPage:
    """Serve `app` in a daemon thread; returns once it accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = _Server(config)
    thread = threading.Thread(
        target=server.serve_until_stopped, args=(sock,), name="toolgate-page", daemon=True
    )
    thread.start()
    if not server.ready.wait(wait) or not server.started:
        server.should_exit = True
        raise ConfigError("the review page did not start")
    return RunningPage(f"http://{HOST}:{port}/{token}/", server, thread)
