"""Running one client request through the interceptor chain of one session.

The relay (a byte stream per client) and the HTTP face (a request per POST) share this: it builds,
per method, the chain of interceptors that look at that method, and turns what they decide into an
`Outcome`. An interceptor that fails refuses the request (fail closed); it is never forwarded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import JsonId, Message, error_response
from toolgate.pipeline.handshake import HandshakeTracker
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import (
    ClientLink,
    Deferred,
    Forward,
    Interceptor,
    Next,
    Outcome,
    Respond,
    ResponseHook,
)

log = logging.getLogger("toolgate.relay")


class Dispatcher:
    """The interceptor chains of one session, one per intercepted method."""

    def __init__(
        self,
        session: Session,
        interceptors: Sequence[Interceptor] = (),
        *,
        advertise_tools_list_changed: bool = False,
    ) -> None:
        self.session = session
        self.interceptors = tuple(interceptors)
        self._chains: dict[str, Next] = {}
        layers: list[Interceptor] = [
            HandshakeTracker(session, advertise_tools_list_changed),
            *interceptors,
        ]
        for method in {m for i in layers for m in i.methods}:
            chain: Next = _forward_unchanged
            for interceptor in reversed(layers):
                if method in interceptor.methods:
                    chain = partial(interceptor, session=session, call_next=chain)
            self._chains[method] = chain

    async def aclose(self) -> None:
        """Let interceptors that hold per-session resources release them."""
        for interceptor in self.interceptors:
            closer = getattr(interceptor, "aclose", None)
            if closer is not None:
                await closer()

    def intercepts(self, method: str) -> bool:
        return method in self._chains

    async def decide(self, request: Message) -> Outcome:
        """What to do with a client request: forward it (perhaps rewritten, perhaps with a hook
        on its response) or answer it locally. A request answered locally is remembered, so a
        late cancellation for it is not sent upstream."""
        assert request.id is not None and request.method is not None
        chain = self._chains.get(request.method)
        if chain is None:
            return Forward()
        try:
            outcome = await chain(request)
        except Exception:
            log.exception("interceptor failed on %s; the request is refused", request.method)
            outcome = internal_error(request.id)
        if isinstance(outcome, Deferred):
            return Deferred(partial(self._resolve, request, outcome))
        if isinstance(outcome, Respond):
            self.session.remember_answered(request.id)
        return outcome

    async def _resolve(
        self, request: Message, deferred: Deferred, link: ClientLink
    ) -> Forward | Respond:
        """A deferred decision, failing closed like an immediate one."""
        assert request.id is not None
        try:
            outcome = await deferred.resolve(link)
        except Exception:
            log.exception("interceptor failed on %s; the request is refused", request.method)
            outcome = internal_error(request.id)
        if isinstance(outcome, Respond):
            self.session.remember_answered(request.id)
        return outcome


async def apply_hook(hook: ResponseHook, response: Message) -> bytes:
    """The bytes to send the client for `response`: what its hook replaced it with, or its own
    bytes (also when the hook fails: the upstream's answer is never lost)."""
    try:
        replacement = await hook(response)
    except Exception:
        log.exception("response hook failed; forwarding the upstream's response")
        return response.raw
    return replacement or response.raw


async def _forward_unchanged(_: Message) -> Outcome:
    return Forward()


def internal_error(msg_id: JsonId) -> Respond:
    return Respond(
        error_response(msg_id, codes.INTERNAL_ERROR, "toolgate could not process this request")
    )
