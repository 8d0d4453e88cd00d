"""The versioned decision event: the one place an audit record's shape is defined.

Decision events carry the argument keys and a salted hash of the canonical arguments, so two
identical calls can be correlated without the log revealing what was sent; argument values are
added only when `--audit-include-args` is on, after redaction (toolgate.audit.redact).
Lifecycle kinds (startup, shutdown, policy_load, store_failure) are defined below.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

from toolgate.jsonrpc.message import encode

EVENT_VERSION: Final = 1

Outcome = Literal["allowed", "denied", "hidden", "error"]
UpstreamOutcome = Literal["ok", "error", "is_error", "no_response", "not_sent"]


@dataclass(frozen=True, slots=True)
class DecisionEvent:
    """One decision, as written to the audit log (field order is the JSON order)."""

    ts: str
    decision_id: str
    session: str
    identity: str | None
    method: str
    tool: str | None
    outcome: Outcome
    reason: str
    rule: str | None
    rule_name: str | None
    message: str
    arg_keys: list[str]
    args_hash: str | None
    policy_revision: str | None
    mode: str
    decision_ms: float
    upstream: UpstreamOutcome
    upstream_ms: float | None
    would: dict[str, Any] | None = None  # shadow mode: what enforcing would have done
    # argument values, after redaction; only with audit.include_args (the key is absent otherwise)
    args: dict[str, Any] | None = None
    server_name: str | None = None  # the named server of `toolgate serve` (absent otherwise)
    traceparent: str | None = None  # the request's W3C trace context from `_meta` (or absent)

    def to_json(self) -> bytes:
        # Built field by field: dataclasses.asdict deep-copies every value and cost ten times
        # as much as the rest of writing the event.
        record: dict[str, Any] = {"v": EVENT_VERSION, "type": "decision"}
        for name in _FIELDS:
            record[name] = getattr(self, name)
        if self.args is not None:
            record["args"] = self.args
        if self.server_name is not None:
            record["server_name"] = self.server_name
        if self.traceparent is not None:
            record["traceparent"] = self.traceparent
        return orjson.dumps(record)


_OPTIONAL = ("args", "server_name", "traceparent")  # written only when set
_FIELDS = tuple(f.name for f in fields(DecisionEvent) if f.name not in _OPTIONAL)

PinChangeKind = Literal["pinned", "new", "changed", "accepted", "reset"]


@dataclass(frozen=True, slots=True)
class PinEvent:
    """A change to a tool's definition pin (`type: "pin"`), written once per change."""

    ts: str
    namespace: str
    tool: str
    change: PinChangeKind
    old_hash: str | None
    new_hash: str | None
    mode: str  # the policy's `pin:` mode when the gateway saw it, "cli" for toolgate pin
    session: str | None = None

    def to_json(self) -> bytes:
        record: dict[str, Any] = {"v": EVENT_VERSION, "type": "pin"}
        for name in _PIN_FIELDS:
            record[name] = getattr(self, name)
        return orjson.dumps(record)


_PIN_FIELDS = tuple(f.name for f in fields(PinEvent))


def timestamp(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def hash_arguments(arguments: Mapping[str, object], salt: bytes) -> str:
    """A salted SHA-256 of the arguments in canonical form (sorted keys, compact)."""
    canonical = encode(arguments, sort_keys=True)
    return "sha256:" + hashlib.sha256(salt + canonical).hexdigest()


# --- lifecycle event kinds (v1) ---------------------------------------------------------------
# Each serialises as {"v": 1, "type": <kind>, <fields in declaration order>}. The published JSON
# Schema (docs/audit-event-v1.schema.json) is the contract; tests validate real runs against it.


def _record(kind: str, event: object, names: tuple[str, ...]) -> bytes:
    record: dict[str, Any] = {"v": EVENT_VERSION, "type": kind}
    for name in names:
        record[name] = getattr(event, name)
    return orjson.dumps(record)


@dataclass(frozen=True, slots=True)
class StartupEvent:
    """The gateway started (`type: "startup"`): which toolgate, guarding what, with what."""

    ts: str
    instance: str
    version: str
    server: list[str]
    policy_revision: str | None
    store: str  # the store kind: memory, sqlite, redis
    store_url: str  # with any password replaced (see toolgate.audit.redact.redact_url)
    include_args: bool
    server_name: str | None = None  # the named server of `toolgate serve` (absent otherwise)

    def to_json(self) -> bytes:
        if self.server_name is None:
            return _record("startup", self, _STARTUP_FIELDS)
        return _record("startup", self, (*_STARTUP_FIELDS, "server_name"))


@dataclass(frozen=True, slots=True)
class ShutdownEvent:
    """The gateway stopped (`type: "shutdown"`): how, and how many events of each kind it wrote."""

    ts: str
    instance: str
    exit_status: int | None  # the upstream's exit status; null when toolgate itself failed
    decisions: dict[str, int]  # decision events by outcome
    policy_reloads: int
    policy_failures: int
    store_failures: int

    def to_json(self) -> bytes:
        return _record("shutdown", self, _SHUTDOWN_FIELDS)


PolicyLoadKind = Literal["initial", "reload"]


@dataclass(frozen=True, slots=True)
class PolicyLoadEvent:
    """A policy load or reload (`type: "policy_load"`): the new revision, or the located errors
    that kept the previous revision (`in_force`) in force."""

    ts: str
    instance: str
    load: PolicyLoadKind
    ok: bool
    path: str
    revision: str | None  # the loaded revision; null when the load failed
    in_force: str | None  # the revision in force after this event
    errors: list[str]  # rendered, located errors (file:line:col …); empty on success

    def to_json(self) -> bytes:
        return _record("policy_load", self, _POLICY_LOAD_FIELDS)


@dataclass(frozen=True, slots=True)
class StoreFailureEvent:
    """The counter store failed (`type: "store_failure"`) during `operation`."""

    ts: str
    instance: str
    operation: str  # snapshot, reserve, reserve_shadow, rollback
    error: str  # the error message, with credentials in any URL replaced
    store_url: str  # redacted
    fail_mode: str  # closed (the call was denied) or open (it passed unchecked)
    decision_id: str | None

    def to_json(self) -> bytes:
        return _record("store_failure", self, _STORE_FAILURE_FIELDS)


ApprovalChange = Literal["requested", "joined", "approved", "denied", "consumed", "expired"]


@dataclass(frozen=True, slots=True)
class ApprovalEvent:
    """A change in the life of an approval request (`type: "approval"`): asked for, joined by an
    identical request, approved or denied (by whom, why), consumed by the call it allowed, or
    expired unused."""

    ts: str
    instance: str
    approval_id: str
    change: ApprovalChange
    mode: str  # inline, queue or hold
    tool: str
    rule: str
    policy_revision: str
    identity: str | None
    session: str | None
    decision_id: str | None  # the decision that asked (requested) or used it (consumed)
    by: str | None  # who approved or denied
    reason: str | None
    server_name: str | None = None

    def to_json(self) -> bytes:
        if self.server_name is None:
            return _record("approval", self, _APPROVAL_FIELDS)
        return _record("approval", self, (*_APPROVAL_FIELDS, "server_name"))


_APPROVAL_FIELDS = tuple(f.name for f in fields(ApprovalEvent) if f.name != "server_name")
_STARTUP_FIELDS = tuple(f.name for f in fields(StartupEvent) if f.name != "server_name")
_SHUTDOWN_FIELDS = tuple(f.name for f in fields(ShutdownEvent))
_POLICY_LOAD_FIELDS = tuple(f.name for f in fields(PolicyLoadEvent))
_STORE_FAILURE_FIELDS = tuple(f.name for f in fields(StoreFailureEvent))
EVENT_TYPES: Final = (
    "decision", "pin", "startup", "shutdown", "policy_load", "store_failure", "approval",
)  # fmt: skip
