"""The ASGI application: every served server at `/mcp/<name>` (Streamable HTTP) and
`/mcp/<name>/sse` + `/mcp/<name>/messages` (legacy HTTP+SSE), the aggregated endpoint when there
is one, protected-resource metadata documents, and `/healthz`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from toolgate.httpface import legacy_sse, streamable
from toolgate.httpface.replies import refusal
from toolgate.httpface.served import Face, ServedServer

log = logging.getLogger("toolgate.http")

Handler = Callable[[Request, ServedServer, Face], Awaitable[Response]]
Background = Callable[[], Coroutine[Any, Any, None]]
Exposition = Callable[[], tuple[bytes, str]]


def build_app(
    servers: Mapping[str, ServedServer],
    face: Face,
    *,
    aggregate: tuple[str, ServedServer] | None = None,
    documents: Mapping[str, dict[str, Any]] | None = None,
    background: Sequence[Background] = (),
    metrics: Exposition | None = None,
    mounts: Sequence[tuple[str, ASGIApp]] = (),
) -> Starlette:
    """`aggregate` is (path, endpoint); `documents` maps a path to a JSON document to serve
    (protected-resource metadata); `background` tasks run for the application's lifetime;
    `metrics` renders the Prometheus exposition served at `/metrics` (body, content type)."""
    endpoints = dict(servers)
    everything = [*endpoints.values(), *([aggregate[1]] if aggregate else [])]

    def by_name(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            server = endpoints.get(request.path_params["server"])
            if server is None:
                return refusal(404, "Not Found: no such server")
            return await handler(request, server, face)

        return endpoint

    def fixed(handler: Handler, server: ServedServer) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await handler(request, server, face)

        return endpoint

    named = {method: by_name(handler) for method, handler in _METHODS.items()}

    async def streamable_http(request: Request) -> Response:
        handler = named.get(request.method)
        if handler is None:  # HEAD, which Starlette allows wherever GET is
            return refusal(405, "Method Not Allowed", headers={"Allow": "POST, GET, DELETE"})
        return await handler(request)

    routes: list[BaseRoute] = []
    if aggregate is not None:  # first: at /mcp, its /mcp/sse must not read as a server "sse"
        path, server = aggregate

        async def aggregated(request: Request) -> Response:
            handler = _METHODS.get(request.method)
            if handler is None:
                return refusal(405, "Method Not Allowed", headers={"Allow": "POST, GET, DELETE"})
            return await handler(request, server, face)

        routes += [
            Route(path, aggregated, methods=["POST", "GET", "DELETE"]),
            Route(f"{path}/sse", fixed(legacy_sse.open_stream, server), methods=["GET"]),
            Route(f"{path}/messages", fixed(legacy_sse.post_message, server), methods=["POST"]),
        ]
    routes += [
        Route("/mcp/{server}", streamable_http, methods=["POST", "GET", "DELETE"]),
        Route("/mcp/{server}/sse", by_name(legacy_sse.open_stream), methods=["GET"]),
        Route("/mcp/{server}/messages", by_name(legacy_sse.post_message), methods=["POST"]),
        Route("/healthz", _health(endpoints), methods=["GET"]),
    ]
    routes += _read_only_routes(documents or {}, metrics)
    routes += [Mount(path, app=mounted) for path, mounted in mounts]  # e.g. the approvals page

    lifespan = _lifespan(everything, background)
    return Starlette(routes=routes, lifespan=lifespan)


def _lifespan(
    everything: list[ServedServer], background: Sequence[Background]
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """Session pumps, reapers and background tasks run in one task group for the app's life;
    at shutdown every session and upstream is closed."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            for server in everything:
                server.upstreams.bind(tg)
                server.table.bind(tg)
                tg.start_soon(server.table.run_reaper)
            for task in background:
                tg.start_soon(task)
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    async with anyio.create_task_group() as closing:
                        for server in everything:
                            closing.start_soon(_close_server, server)
                tg.cancel_scope.cancel()

    return lifespan


async def _close_server(server: ServedServer) -> None:
    await server.table.aclose()
    await server.upstreams.aclose()


_METHODS: dict[str, Handler] = {
    "POST": streamable.post,
    "GET": streamable.get,
    "DELETE": streamable.delete,
}


def _health(servers: Mapping[str, ServedServer]) -> Callable[[Request], Awaitable[Response]]:
    async def health(_: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "servers": {name: {"sessions": len(s.table)} for name, s in servers.items()},
            }
        )

    return health


def _document(document: dict[str, Any]) -> Callable[[Request], Awaitable[Response]]:
    async def serve(_: Request) -> Response:
        return JSONResponse(document)

    return serve


def _read_only_routes(
    documents: Mapping[str, dict[str, Any]], metrics: Exposition | None
) -> list[Route]:
    """The documents at their paths, and `/metrics` when there is an exposition to serve."""
    routes = [
        Route(path, _document(document), methods=["GET"]) for path, document in documents.items()
    ]
    if metrics is not None:
        routes.append(Route("/metrics", _metrics(metrics), methods=["GET"]))
    return routes


def _metrics(exposition: Exposition) -> Callable[[Request], Awaitable[Response]]:
    async def serve(_: Request) -> Response:
        body, content_type = exposition()
        return Response(body, headers={"Content-Type": content_type})

    return serve
