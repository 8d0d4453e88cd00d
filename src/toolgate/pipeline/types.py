"""The pipeline's small contracts: byte endpoints, interceptor outcomes and the interceptor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeAlias

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


Outcome: TypeAlias = Forward | Respond
Next: TypeAlias = Callable[[Message], Awaitable[Outcome]]


class Interceptor(Protocol):
    """Looks at the client requests whose method is in `methods`, and may answer them itself,
    rewrite them, or attach a hook to their response. It calls `call_next` to pass a request on."""

    @property
    def methods(self) -> frozenset[str]: ...

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome: ...
