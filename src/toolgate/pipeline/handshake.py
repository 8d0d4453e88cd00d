"""Tracks the handshake and subscriptions so toolgate knows which clients can hear list changes.

For handshake-era sessions it records the client's capabilities from `initialize` and, when the
gateway can change the visible tool set (hot reload), advertises `tools.listChanged` in the
server's answer — rewriting only that one flag and keeping every other field. For 2026-07-28
clients it remembers open `subscriptions/listen` streams that asked for tool list changes.
"""

from __future__ import annotations

from typing import Any

from toolgate.jsonrpc.message import Message, encode
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Forward, Next, Outcome


class HandshakeTracker:
    """Built into the relay; not a policy interceptor."""

    methods = frozenset({"initialize", "subscriptions/listen"})

    def __init__(self, session: Session, advertise_tools_list_changed: bool) -> None:
        self._session = session
        self._advertise = advertise_tools_list_changed

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome:
        outcome = await call_next(request)
        if not isinstance(outcome, Forward) or outcome.on_response is not None:
            return outcome
        params = request.params if isinstance(request.params, dict) else {}
        if request.method == "initialize":
            info, caps = params.get("clientInfo"), params.get("capabilities")
            session.client_info = info if isinstance(info, dict) else None
            session.client_capabilities = caps if isinstance(caps, dict) else None
            return Forward(outcome.data, self._on_initialized)
        notifications = params.get("notifications")
        if isinstance(notifications, dict) and notifications.get("toolsListChanged") is True:
            assert request.id is not None
            listen_id = request.id
            session.add_tools_listener(listen_id)

            async def _on_listen_end(_: Message) -> bytes | None:
                session.drop_listener(listen_id)
                return None

            return Forward(outcome.data, _on_listen_end)
        return outcome

    async def _on_initialized(self, response: Message) -> bytes | None:
        result = response.obj.get("result")
        if not isinstance(result, dict):
            return None
        version = result.get("protocolVersion")
        self._session.protocol_version = version if isinstance(version, str) else None
        capabilities = result.get("capabilities")
        tools: Any = capabilities.get("tools") if isinstance(capabilities, dict) else None
        if not isinstance(tools, dict):
            return None  # no tools capability: there is no tool list to change
        if tools.get("listChanged") is True:
            self._session.tools_list_changed_advertised = True
            return None
        if not self._advertise:
            return None
        tools["listChanged"] = True
        self._session.tools_list_changed_advertised = True
        return encode(response.obj)
