"""Policy on resources and prompts: filter their lists, refuse reads and gets (policy.surfaces).

`resources/list`, `resources/templates/list` and `prompts/list` lose their hidden entries and
keep every other field (`nextCursor`, `_meta`, `ttlMs`, each entry's own fields); a filtered page
may be empty while `nextCursor` remains. `resources/read` and `prompts/get` of a hidden entry
answer as the server does for one it lacks (`-32002 Resource not found`, `-32602 Unknown
prompt`); of a denied entry, the error `-32003` with a `[POLICY DENIED]` message and the decision
in `data`. Neither reaches the upstream. Params without a string `uri` / `name` are refused
(fail closed). Each read or get is audited (method, and the URI or prompt name as `tool`).
Under a top-level `mode: shadow` nothing is filtered or refused; what would have been is logged.
"""

from __future__ import annotations

import secrets
from typing import Any

from toolgate.audit.event import UpstreamOutcome
from toolgate.audit.recorder import AuditRecorder, PendingEvent
from toolgate.clock import Clock
from toolgate.interceptors.enforcement import note_shadow
from toolgate.interceptors.policy_source import PolicySource
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import Message, encode, error_response
from toolgate.mcp.results import DECISION_META_KEY, DENIED_PREFIX
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Forward, Next, Outcome, Respond
from toolgate.policy.decision import Effect, Reason, Would
from toolgate.policy.surfaces import Access, SurfacePolicy

RESOURCE_NOT_FOUND = -32002
POLICY_DENIED = -32003
#: method -> (list key, entry field) for the list methods
LISTS = {
    "resources/list": ("resources", "uri"),
    "resources/templates/list": ("resourceTemplates", "uriTemplate"),
    "prompts/list": ("prompts", "name"),
}
#: method -> the param naming what is read
READS = {"resources/read": "uri", "prompts/get": "name"}


class SurfaceGuard:
    """The interceptor enforcing the `resources:` and `prompts:` sections of the policy."""

    methods = frozenset({*LISTS, *READS})

    def __init__(
        self, source: PolicySource, audit: AuditRecorder, clock: Clock, identity: str | None = None
    ) -> None:
        self.source = source
        self.audit = audit
        self.clock = clock
        self.identity = identity

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome:
        method = request.method or ""
        policy = self.source.current()
        surface = policy.prompts if method.startswith("prompts/") else policy.resources
        if surface is None:
            return await call_next(request)
        if method in LISTS:
            if policy.shadow:
                return await call_next(request)
            key, field = LISTS[method]
            return Forward(None, _list_filter(surface, key, field))
        return await self._read(request, session, surface, policy.shadow, policy.revision)

    async def _read(
        self, request: Message, session: Session, surface: SurfacePolicy, shadow: bool, rev: str
    ) -> Outcome:
        assert request.id is not None and request.method is not None
        param = READS[request.method]
        event = self.audit.begin(
            decision_id=f"dec_{secrets.token_hex(8)}", session=session.id,
            identity=session.identity or self.identity, method=request.method,
            started=self.clock.monotonic(),
        )  # fmt: skip
        event.policy_revision = rev
        params = request.params
        name = params.get(param) if isinstance(params, dict) else None
        if not isinstance(name, str):
            text = f"{request.method} needs a string {param} in its params"
            await self.audit.finish_local(event, "error", Reason.INVALID_CALL.value, None, text)
            return Respond(error_response(request.id, codes.INVALID_PARAMS, text))
        event.tool = name
        access = surface.access(name)
        event.rule = surface.rule_id(name)
        if access is Access.ALLOW or shadow:
            if access is not Access.ALLOW:
                effect = Effect.HIDE if access is Access.HIDE else Effect.DENY
                reason = Reason.HIDDEN if access is Access.HIDE else Reason.RULE_DENY
                note_shadow(event, Would(effect, reason, event.rule, _denied_text(param, name)))
            event.reason = Reason.ALLOWED.value
            event.decided(self.clock.monotonic())
            self.audit.forwarded(event)
            return Forward(None, self._settle(event))
        if access is Access.HIDE:
            await self.audit.finish_local(event, "hidden", Reason.HIDDEN.value, event.rule, "")
            return Respond(_not_found(request, param, name))
        text = _denied_text(param, name)
        await self.audit.finish_local(event, "denied", Reason.RULE_DENY.value, event.rule, text)
        data = {
            DECISION_META_KEY: {"id": event.decision_id, "rule": event.rule, "reason": "rule_deny"}
        }
        message: dict[str, Any] = {"code": POLICY_DENIED, "message": f"{DENIED_PREFIX} {text}"}
        message["data"] = data
        return Respond(encode({"jsonrpc": "2.0", "id": request.id, "error": message}))

    def _settle(self, event: PendingEvent) -> Any:
        async def settle(response: Message) -> bytes | None:
            outcome: UpstreamOutcome = "error" if response.is_error else "ok"
            await self.audit.finish_forwarded(event, outcome, self.clock.monotonic())
            return None

        return settle


def _denied_text(param: str, name: str) -> str:
    kind = "resource" if param == "uri" else "prompt"
    return f'{kind} "{name}" is denied by the policy'


def _not_found(request: Message, param: str, name: str) -> bytes:
    assert request.id is not None
    if param == "uri":
        error = {"code": RESOURCE_NOT_FOUND, "message": "Resource not found", "data": {"uri": name}}
        return encode({"jsonrpc": "2.0", "id": request.id, "error": error})
    return error_response(request.id, codes.INVALID_PARAMS, f"Unknown prompt: {name}")


def _list_filter(surface: SurfacePolicy, key: str, field: str) -> Any:
    async def hook(response: Message) -> bytes | None:
        result = response.obj.get("result")
        entries = result.get(key) if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(entries, list):
            return None
        kept = [
            e
            for e in entries
            if not _named(e, field) or surface.access(e[field]) is not Access.HIDE
        ]
        if len(kept) == len(entries):
            return None
        result[key] = kept
        return encode(response.obj)

    return hook


def _named(entry: object, field: str) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get(field), str)
