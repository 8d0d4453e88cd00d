"""What the relay knows about one client connection: handshake state and who can hear what."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from toolgate.jsonrpc.message import JsonId, id_key
from toolgate.mcp.results import tools_list_changed
from toolgate.pipeline.questions import Questions
from toolgate.pipeline.types import Endpoint

ANSWERED_MEMORY = 4096  # locally answered ids remembered, to drop late cancellations for them


class Session:
    """One client connection. `id` names it in counters (session scope) and audit events."""

    def __init__(
        self,
        client: Endpoint,
        session_id: str | None = None,
        *,
        identity: str | None = None,
        identity_attributes: Mapping[str, object] | None = None,
        stateless: bool = False,
    ) -> None:
        self.id = session_id or f"ses_{secrets.token_hex(8)}"
        self._client = client
        # who is calling, when the face knows it (an HTTP grant or token); None on stdio, where
        # the gateway's own --identity applies
        self.identity = identity
        self.identity_attributes: Mapping[str, object] = identity_attributes or {}
        # one 2026-07-28 request over HTTP: there is no session to count `scope: session` under
        self.stateless = stateless
        self.client_info: dict[str, Any] | None = None
        self.client_capabilities: dict[str, Any] | None = None
        self.protocol_version: str | None = None  # negotiated by a handshake-era initialize
        self.tools_list_changed_advertised = False
        self.questions = Questions()  # requests toolgate itself sends the client
        self._listeners: dict[tuple[bool, JsonId], JsonId] = {}
        self._answered: OrderedDict[tuple[bool, JsonId], None] = OrderedDict()

    async def send_to_client(self, data: bytes) -> None:
        await self._client.send(data)

    def client_can_elicit(self) -> bool:
        """Whether the client declared the elicitation capability in its `initialize`."""
        capabilities = self.client_capabilities
        return isinstance(capabilities, dict) and isinstance(capabilities.get("elicitation"), dict)

    def remember_answered(self, msg_id: JsonId) -> None:
        self._answered[id_key(msg_id)] = None
        if len(self._answered) > ANSWERED_MEMORY:
            self._answered.popitem(last=False)

    def was_answered_locally(self, msg_id: object) -> bool:
        if not isinstance(msg_id, str | int) or isinstance(msg_id, bool):
            return False
        return id_key(msg_id) in self._answered

    def add_tools_listener(self, listen_id: JsonId) -> None:
        self._listeners[id_key(listen_id)] = listen_id

    def drop_listener(self, listen_id: JsonId) -> None:
        self._listeners.pop(id_key(listen_id), None)

    async def announce_tools_changed(self) -> int:
        """Tell every party that can hear it that the tool list changed; returns how many."""
        sent = 0
        if self.tools_list_changed_advertised:
            await self._client.send(tools_list_changed())
            sent += 1
        for listen_id in list(self._listeners.values()):
            await self._client.send(tools_list_changed(listen_id))
            sent += 1
        return sent
