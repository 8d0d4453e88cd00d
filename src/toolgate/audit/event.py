"""The versioned decision event: the one place an audit record's shape is defined.

Events never carry argument values: only the argument keys and a salted hash of the canonical
arguments, so two identical calls can be correlated without the log revealing what was sent.
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

    def to_json(self) -> bytes:
        # Built field by field: dataclasses.asdict deep-copies every value and cost ten times
        # as much as the rest of writing the event.
        record: dict[str, Any] = {"v": EVENT_VERSION, "type": "decision"}
        for name in _FIELDS:
            record[name] = getattr(self, name)
        return orjson.dumps(record)


_FIELDS = tuple(f.name for f in fields(DecisionEvent))

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
