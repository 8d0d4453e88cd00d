"""Telling clients that the visible tool set changed after a policy reload."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import anyio

from toolgate.interceptors.enforcement import PolicyEnforcer
from toolgate.interceptors.policy_source import PolicySource
from toolgate.pipeline.session import Session
from toolgate.policy.evaluator import visible
from toolgate.policy.model import Policy

log = logging.getLogger("toolgate.policy")


class ListChangeAnnouncer:
    """After each reload, compares which of the tools the client has been shown are visible
    under the old and the new policy; when that differs, sends `tools/list_changed` to every
    listener of every session (handshake-era sessions, 2026 subscriptions). `sessions` is the
    one session of a stdio gateway, or what lists the live sessions of an HTTP server."""

    def __init__(
        self,
        source: PolicySource,
        enforcer: PolicyEnforcer,
        sessions: Session | Callable[[], Iterable[Session]],
    ) -> None:
        self._enforcer = enforcer
        self._sessions = sessions if callable(sessions) else lambda: (sessions,)
        self._send, self._receive = anyio.create_memory_object_stream[tuple[Policy, Policy]](64)
        source.on_change(self._changed)

    def _changed(self, old: Policy, new: Policy) -> None:
        try:
            self._send.send_nowait((old, new))
        except anyio.ClosedResourceError:
            return  # the session has ended
        except anyio.WouldBlock:
            log.warning("too many policy reloads queued; a list change may be announced late")

    async def run(self) -> None:
        with self._send, self._receive:
            async for old, new in self._receive:
                if self.visible_set_changed(old, new):
                    sent = 0
                    for session in list(self._sessions()):
                        sent += await session.announce_tools_changed()
                    log.info("visible tools changed; told %d listener(s)", sent)

    def close(self) -> None:
        """Release the queue when `run` never ran (it closes the queue itself when it ends)."""
        self._send.close()
        self._receive.close()

    def visible_set_changed(self, old: Policy, new: Policy) -> bool:
        tools = self._enforcer.seen_tools
        if any(visible(old, name) != visible(new, name) for name in tools):
            return True
        hiding_changed = (old.hidden, old.hide_all) != (new.hidden, new.hide_all)
        return self._enforcer.unfiltered_lists and hiding_changed
