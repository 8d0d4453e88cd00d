"""Requests toolgate itself sends a client (an `elicitation/create` asking for approval), and
routing the client's answers back to whoever asked.

Their ids live in a namespace of toolgate's own (`toolgate-<random>-<n>`), distinct from any id
an upstream server uses for its requests, so a client response is either toolgate's — consumed
here and never forwarded upstream, even when it comes too late — or the upstream's.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from toolgate.jsonrpc.message import Kind, Message, encode


@dataclass(slots=True)
class _Waiting:
    done: anyio.Event = field(default_factory=anyio.Event)
    answer: Message | None = None


class Questions:
    """The questions of one client session that await an answer."""

    def __init__(self) -> None:
        self._prefix = f"toolgate-{secrets.token_hex(4)}-"
        self._next = 0
        self._waiting: dict[str, _Waiting] = {}
        self._closed = False

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def ask(
        self,
        send: Callable[[bytes], Awaitable[None]],
        method: str,
        params: dict[str, Any],
    ) -> Message | None:
        """Send the request with `send` and wait for the client's response; None when the
        session ended first. Bound the wait with a cancel scope."""
        if self._closed:
            return None
        self._next += 1
        question_id = f"{self._prefix}{self._next}"
        slot = self._waiting[question_id] = _Waiting()
        try:
            await send(
                encode({"jsonrpc": "2.0", "id": question_id, "method": method, "params": params})
            )
            await slot.done.wait()
            return slot.answer
        finally:
            self._waiting.pop(question_id, None)

    def answer(self, message: Message) -> bool:
        """Route a client response to the question it answers. True when it answers one of
        toolgate's questions (or did, and came late): the caller must not forward it."""
        if message.kind is not Kind.RESPONSE:
            return False
        if not isinstance(message.id, str) or not message.id.startswith(self._prefix):
            return False
        slot = self._waiting.get(message.id)
        if slot is not None and not slot.done.is_set():
            slot.answer = message
            slot.done.set()
        return True

    def close(self) -> None:
        """The client went away: every open question ends unanswered."""
        self._closed = True
        for slot in self._waiting.values():
            slot.done.set()
