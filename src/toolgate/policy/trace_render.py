"""A trace and its decision as plain JSON data (what `toolgate explain --json` prints).

Decimals become strings (exact), a missing value `{"missing": true}`, counters their owner, name,
window, scope and key, so a reader can find them in the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from toolgate.policy.decision import Charge, CounterRef, Decision
from toolgate.policy.paths import MISSING
from toolgate.policy.trace import RuleStep, Trace
from toolgate.policy.trace_conditions import ConditionStep, Read


def plain(value: object) -> Any:
    """A JSON-ready copy of a value read from arguments, counters or facts."""
    if value is MISSING:
        return {"missing": True}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def counter_data(ref: CounterRef) -> dict[str, Any]:
    data: dict[str, Any] = {
        "owner": ref.owner, "name": ref.name, "window": ref.window.name, "scope": ref.scope,
    }  # fmt: skip
    if ref.scope_value is not None:
        data["scope_value"] = ref.scope_value
    if ref.key_path is not None:
        data["key"] = {"path": ref.key_path, "value": ref.key_value}
    return data


def charge_data(charge: Charge, current: Decimal | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"counter": counter_data(charge.counter), "amount": str(charge.amount)}
    if charge.bound is not None:
        relation = "<=" if charge.bound.inclusive else "<"
        data["limit"] = f"{relation} {charge.bound.limit}"
    if current is not None:
        data["current"] = str(current)
    if charge.shadow:
        data["shadow"] = True
    return data


def decision_data(
    decision: Decision, counters: Mapping[CounterRef, Decimal] | None = None
) -> dict[str, Any]:
    values = counters or {}
    data: dict[str, Any] = {
        "effect": decision.effect.value,
        "reason": decision.reason.value,
        "rule_id": decision.rule_id,
        "rule_name": decision.rule_name,
        "message": decision.message,
        "charges": [charge_data(c, values.get(c.counter, Decimal(0))) for c in decision.charges],
    }
    if decision.would is not None:
        would = decision.would
        data["would"] = {"effect": would.effect.value, "rule_id": would.rule_id,
                         "message": would.message}  # fmt: skip
    return data


def trace_data(trace: Trace) -> dict[str, Any]:
    return {"rules": [rule_data(step) for step in trace.rules], "stop": trace.stop}


def rule_data(step: RuleStep) -> dict[str, Any]:
    return {
        "rule_id": step.rule_id,
        "name": step.name,
        "tool_key": step.tool_key,
        "action": step.action,
        "shadow": step.shadow,
        "outcome": step.outcome,
        "conditions": [condition_data(c) for c in step.conditions],
        "charges": [charge_data(c) for c in step.charges],
    }


def condition_data(step: ConditionStep) -> dict[str, Any]:
    data: dict[str, Any] = {
        "condition": step.text,
        "path": step.path,
        "op": step.op,
        "evaluated": step.evaluated,
        "result": step.result,
        "reads": [read_data(read) for read in step.reads],
    }
    if step.members:
        data["members"] = [condition_data(member) for member in step.members]
    if step.error is not None:
        data["error"] = step.error
    return data


def read_data(read: Read) -> dict[str, Any]:
    return {"source": read.source, "path": read.path, "value": plain(read.value)}
