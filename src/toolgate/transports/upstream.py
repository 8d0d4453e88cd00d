"""The message-level contract every upstream connection honours (a stdio child, a Streamable
HTTP server in either era, a legacy HTTP+SSE server).

The HTTP face, the aggregated endpoint and `toolgate run --upstream URL` speak to an upstream only
through this contract. Messages travel as the exact bytes the upstream sent; nothing here parses
more than it must to tell which message answers which request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from anyio.abc import TaskGroup

JsonId = str | int


@dataclass(frozen=True, slots=True)
class UpstreamMessage:
    """One JSON-RPC message from the upstream, as the bytes it sent (no line terminator).

    `final` marks the response that ends a request's exchange. `status` is the HTTP status the
    upstream answered a request with when it was not 200 (a modern-era header or version error
    is a 400, an unknown method a 404): the face answers its client with the same status.
    `event_id` is the SSE event id the message arrived under, for resumption."""

    data: bytes
    final: bool = False
    status: int | None = None
    event_id: str | None = None


class UpstreamSession(Protocol):
    """One client session's view of one upstream server.

    For a handshake-era client the session is stateful (its `initialize` travels through
    `request` like any other request, and the upstream's session id, if any, stays inside the
    implementation). For 2026-07-28 requests the session is a stateless channel and may be shared.
    """

    def request(
        self, data: bytes, request_id: JsonId, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        """Send one request; yield what the upstream sends in relation to it (progress,
        server-to-client requests, log notifications), ending with its response (`final=True`).

        `headers` are per-request HTTP headers to pass on (the client's `Mcp-Param-*`); stdio
        upstreams ignore them. Raises `toolgate.errors.UpstreamError` when the upstream cannot
        be reached, times out, or answers with something that is not MCP."""
        ...

    async def notify(self, data: bytes) -> None:
        """Send a notification, or the client's response to a server-to-client request."""
        ...

    def server_messages(self, last_event_id: str | None = None) -> AsyncIterator[UpstreamMessage]:
        """The stream of server-initiated messages not tied to any request (the standalone GET
        stream over HTTP). Ends when the upstream ends it or the session closes. `last_event_id`
        asks an HTTP upstream to replay what followed that event, where it supports resumption."""
        ...

    async def aclose(self) -> None:
        """End the session upstream (DELETE over HTTP; close stdin and reap a child). Idempotent."""
        ...


class UpstreamFactory(Protocol):
    """Where one configured server's upstream sessions come from."""

    @property
    def description(self) -> str:
        """What the upstream is (a command line or a URL, never a credential), for messages."""
        ...

    def bind(self, tg: TaskGroup) -> None:
        """The task group to run background readers in (the gateway's lifetime)."""
        ...

    async def session(self) -> UpstreamSession:
        """A new stateful session for one handshake-era client (a child of its own for a stdio
        server; a session of its own for an HTTP server)."""
        ...

    async def stateless(self) -> UpstreamSession:
        """The channel 2026-07-28 requests share; reopened if it has failed."""
        ...

    async def aclose(self) -> None:
        """Close everything still open."""
        ...
