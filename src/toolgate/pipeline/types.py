"""The pipeline's small contracts: byte endpoints, interceptor outcomes and the interceptor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from toolgate.jsonrpc.message import Message

if TYPE_CHECKING:
    from toolgate.pipeline.session import Session


class Endpoint(Protocol):
    """One side of the relay: `receive` returns raw bytes (b"" at end of stream); `send` writes
    exactly one message and its line terminator."""

    async def receive(self) -> bytes: ...

    async def send(self, data: bytes) -> None: ...


ResponseHook: TypeAlias = Callable[[Message], Awaitable[bytes | None]]
"""Runs when the upstream answers a forwarded request; returns replacement bytes, or None to
forward the upstream's original bytes."""


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the request upstream: its original bytes, or `data` when an interceptor rewrote it."""

    data: bytes | None = None
    on_response: ResponseHook | None = None


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the client locally with `data`; nothing goes upstream."""

    data: bytes


class ClientLink(Protocol):
    """What a deferred decision may do with the client while the request waits: ask it a
    question of toolgate's own (a request in toolgate's id space, e.g. `elicitation/create`),
    and send it notifications about the request (progress). The face provides it: the stdio
    relay writes to the client's stream, the HTTP face to the request's own response stream."""

    @property
    def can_ask(self) -> bool:
        """Whether a question can reach the client and its answer come back (an HTTP request
        answered as plain JSON cannot carry one)."""
        ...

    async def ask(self, method: str, params: dict[str, Any]) -> Message | None:
        """Send a request to the client and return its response, or None when it cannot be
        asked or went away. It waits as long as it takes: bound it with a cancel scope."""
        ...

    async def notify(self, data: bytes) -> None:
        """Send the client one notification about the request."""
        ...


@dataclass(frozen=True, slots=True)
class Deferred:
    """The decision needs time (a human's answer): the face keeps reading other requests and
    runs `resolve(link)` concurrently; what it returns is the request's real outcome."""

    resolve: Callable[[ClientLink], Awaitable[Forward | Respond]]


Outcome: TypeAlias = Forward | Respond | Deferred
Next: TypeAlias = Callable[[Message], Awaitable[Outcome]]


class Interceptor(Protocol):
    """Looks at the client requests whose method is in `methods`, and may answer them itself,
    rewrite them, or attach a hook to their response. It calls `call_next` to pass a request on."""

    @property
    def methods(self) -> frozenset[str]: ...

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome: ...
