"""Running the face's ASGI application under uvicorn on a socket bound beforehand."""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette


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
        access_log=log_level == "debug",
        server_header=False,
    )
    await uvicorn.Server(config).serve(sockets=[sock])
