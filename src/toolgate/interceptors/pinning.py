"""Tool-definition pinning on tools/list and tools/call, as the policy's `pin:` says.

Sits in front of the policy enforcer. On every tools/list response it hashes each tool the policy
shows, records new and changed definitions (audited once each, when first seen), and under
`pin: enforce` removes the tools that are not approved; a tools/call to such a tool is answered
with a denial and never reaches the enforcer or the server. `pin: warn` only logs; `pin: off`
does nothing. Tools the policy hides are left to the enforcer, so a denial never reveals them.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import orjson

from toolgate.audit.event import PinEvent, timestamp
from toolgate.audit.recorder import AuditRecorder
from toolgate.catalog.model import definition_hash
from toolgate.catalog.pins import PinChange, short
from toolgate.catalog.pins_keeper import PinKeeper, refusal
from toolgate.clock import Clock
from toolgate.interceptors.policy_source import PolicySource
from toolgate.jsonrpc.message import Message
from toolgate.mcp.eras import is_modern_request
from toolgate.mcp.listing import filter_tools_response
from toolgate.mcp.results import DECISION_META_KEY, denial
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Forward, Next, Outcome, Respond, ResponseHook
from toolgate.policy.evaluator import visible

log = logging.getLogger("toolgate.pins")
REASON = "pin_unapproved"


class PinGuard:
    methods = frozenset({"tools/call", "tools/list"})

    def __init__(
        self,
        source: PolicySource,
        keeper: PinKeeper,
        audit: AuditRecorder,
        clock: Clock,
        identity: str | None = None,
    ) -> None:
        self.source = source
        self.keeper = keeper
        self.audit = audit
        self.clock = clock
        self.identity = identity
        self._warned: set[str] = set()

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome:
        mode = self.source.current().pin
        if mode == "off":
            return await call_next(request)
        if request.method == "tools/list":
            outcome = await call_next(request)
            if not isinstance(outcome, Forward):
                return outcome
            return Forward(outcome.data, self._list_hook(session, mode, outcome.on_response))
        return await self._call(request, session, mode, call_next)

    def _list_hook(self, session: Session, mode: str, inner: ResponseHook | None) -> ResponseHook:
        async def hook(response: Message) -> bytes | None:
            listed, last_page = self._definitions(response.obj)
            for change in self.keeper.observe(listed, last_page=last_page):
                await self._audit_change(change, mode, session)
            data = await inner(response) if inner is not None else None
            blocked = {name for name in listed if not self.keeper.verdict(name).allowed}
            if mode != "enforce" or not blocked:
                return data
            shown = orjson.loads(data) if data is not None else response.obj
            filtered = filter_tools_response(shown, lambda name: name not in blocked)
            return filtered if filtered is not None else data

        return hook

    def _definitions(self, response: dict[str, Any]) -> tuple[dict[str, str], bool]:
        """The definition hash of every listed tool the policy shows, and whether this is the
        last page of the listing."""
        result = response.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            return {}, False
        policy = self.source.current()
        listed = {
            tool["name"]: definition_hash(tool)
            for tool in result["tools"]
            if isinstance(tool, dict)
            and isinstance(tool.get("name"), str)
            and visible(policy, tool["name"])
        }
        return listed, not result.get("nextCursor")

    async def _audit_change(self, change: PinChange, mode: str, session: Session) -> None:
        if change.kind != "pinned":
            log.warning(
                'pin: tool "%s" is %s (definition %s → %s)%s',
                change.tool,
                change.kind,
                short(change.old_hash),
                short(change.new_hash),
                "; hidden until accepted" if mode == "enforce" else "",
            )
        event = PinEvent(
            ts=timestamp(self.clock.now()),
            namespace=self.keeper.namespace,
            tool=change.tool,
            change=change.kind,
            old_hash=change.old_hash,
            new_hash=change.new_hash,
            mode=mode,
            session=session.id,
        )
        await self.audit.pin_changed(event)

    async def _call(
        self, request: Message, session: Session, mode: str, call_next: Next
    ) -> Outcome:
        params = request.params
        name = params.get("name") if isinstance(params, dict) else None
        if not isinstance(name, str) or not visible(self.source.current(), name):
            return await call_next(request)  # malformed or hidden: the enforcer answers
        found = self.keeper.verdict(name)
        if found.allowed:
            return await call_next(request)
        text = refusal(found, self.keeper.namespace)
        if mode != "enforce":
            if name not in self._warned:
                self._warned.add(name)
                log.warning("pin: calling an unapproved tool (pin: warn): %s", text)
            return await call_next(request)
        return await self._deny(request, session, name, text)

    async def _deny(self, request: Message, session: Session, name: str, text: str) -> Outcome:
        assert request.id is not None
        event = self.audit.begin(
            decision_id=f"dec_{secrets.token_hex(8)}",
            session=session.id,
            identity=session.identity or self.identity,
            method="tools/call",
            started=self.clock.monotonic(),
        )
        event.tool = name
        event.policy_revision = self.source.current().revision
        await self.audit.finish_local(event, "denied", REASON, None, text)
        meta = {DECISION_META_KEY: {"id": event.decision_id, "rule": None, "reason": REASON}}
        modern = is_modern_request(request.params)
        return Respond(denial(request.id, text, modern=modern, meta=meta))
