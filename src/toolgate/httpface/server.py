"""Running the face's ASGI application under uvicorn on a socket bound beforehand."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Generator
from types import FrameType

import uvicorn
from starlette.applications import Starlette

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn's server, except that a stop signal ends `serve` and is not raised again
    afterwards (uvicorn re-raises it, which would kill the process before the gateway has
    written its shutdown event and closed its stores)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._stop) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for requests in flight
        self.should_exit = True


async def serve(
    app: Starlette, sock: socket.socket, *, log_level: str, grace_seconds: float
) -> None:
    """Serve until SIGINT/SIGTERM; then stop accepting, let in-flight requests finish for up to
    `grace_seconds`, and run the application's shutdown (every session closed upstream)."""
    config = uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=max(1, int(grace_seconds)),
        lifespan="on",
        http="httptools",
        access_log=log_level == "debug",
        server_header=False,
    )
    await _Server(config).serve(sockets=[sock])
