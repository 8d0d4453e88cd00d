"""Reading a tools/call response as the demo reports it: a label, the deciding rule, a message.

Through toolgate the label is the policy's decision as the agent can tell it from the wire:
`[POLICY DENIED]` results are DENY or LIMIT (LIMIT when the decision in `_meta` says a counter ran
out), a JSON-RPC `-32602 Unknown tool` is HIDDEN, anything else went through (ALLOW). Directly
against the exchange every call arrives: EXECUTED, REFUSED by the exchange, or a protocol ERROR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from toolgate.demo.script import ALLOW, DENY, HIDDEN, LIMIT

DENIED_PREFIX: Final = "[POLICY DENIED]"
APPROVAL_PREFIX: Final = "[APPROVAL REQUIRED]"
DECISION_KEY: Final = "dev.toolgate/decision"
INVALID_PARAMS: Final = -32602

APPROVAL: Final = "APPROVAL"
ERROR: Final = "ERROR"
EXECUTED: Final = "EXECUTED"
REFUSED: Final = "REFUSED"


@dataclass(frozen=True, slots=True)
class Verdict:
    label: str
    rule: str
    message: str


def result_text(result: dict[str, Any]) -> str:
    """The text of a result's first text block ("" when it has none)."""
    for block in result.get("content") or []:
        if isinstance(block, dict) and block.get("type") == "text":
            return str(block.get("text", ""))
    return ""


def _decision(result: dict[str, Any]) -> dict[str, Any]:
    meta = result.get("_meta")
    decision = meta.get(DECISION_KEY) if isinstance(meta, dict) else None
    return decision if isinstance(decision, dict) else {}


def _error_verdict(error: object) -> Verdict:
    if not isinstance(error, dict):
        return Verdict(ERROR, "", f"malformed error: {error!r}")
    message = str(error.get("message", ""))
    if error.get("code") == INVALID_PARAMS and message.startswith("Unknown tool"):
        return Verdict(HIDDEN, "hide", message)
    return Verdict(ERROR, "", f"{error.get('code')}: {message}")


def gateway_verdict(response: dict[str, Any]) -> Verdict:
    """How a call made through toolgate was decided."""
    if "error" in response:
        return _error_verdict(response["error"])
    result = response.get("result")
    if not isinstance(result, dict):
        return Verdict(ERROR, "", "response without result or error")
    text = result_text(result)
    if result.get("isError") and text.startswith(DENIED_PREFIX):
        decision = _decision(result)
        reason = decision.get("reason")
        limited = reason == "limit" if reason is not None else "limit" in text.lower()
        rule = str(decision.get("rule") or "")
        return Verdict(LIMIT if limited else DENY, rule, text.removeprefix(DENIED_PREFIX).strip())
    if result.get("isError") and text.startswith(APPROVAL_PREFIX):
        return Verdict(APPROVAL, str(_decision(result).get("rule") or ""), text)
    if result.get("isError"):
        return Verdict(ALLOW, "", f"exchange refused: {text}")
    return Verdict(ALLOW, "", text)


def direct_verdict(response: dict[str, Any]) -> Verdict:
    """What the exchange did with a call made without toolgate."""
    if "error" in response:
        verdict = _error_verdict(response["error"])
        return Verdict(ERROR, "", verdict.message)
    result = response.get("result")
    if not isinstance(result, dict):
        return Verdict(ERROR, "", "response without result or error")
    return Verdict(REFUSED if result.get("isError") else EXECUTED, "", result_text(result))
