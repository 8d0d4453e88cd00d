"""Results and notifications toolgate itself answers with: denials, unknown tools, list_changed."""

from __future__ import annotations

from typing import Any, Final

from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import JsonId, encode, error_response, result_response
from toolgate.mcp.eras import SUBSCRIPTION_ID_KEY

DENIED_PREFIX: Final = "[POLICY DENIED]"
DECISION_META_KEY: Final = "dev.toolgate/decision"
APPROVAL_PREFIX: Final = "[APPROVAL REQUIRED]"
APPROVAL_META_KEY: Final = "dev.toolgate/approval"


def denial(msg_id: JsonId, text: str, *, modern: bool, meta: dict[str, Any] | None = None) -> bytes:
    """A tool result the model can read and adapt to: `isError: true` with a text block."""
    result: dict[str, Any] = {
        "content": [{"type": "text", "text": f"{DENIED_PREFIX} {text}"}],
        "isError": True,
    }
    if modern:
        result["resultType"] = "complete"
    if meta:
        result["_meta"] = meta
    return result_response(msg_id, result)


def approval_pending(
    msg_id: JsonId, text: str, *, modern: bool, meta: dict[str, Any] | None = None
) -> bytes:
    """The answer to a call that waits for a human: `isError: true`, so the model neither takes
    it for a result nor gives up — the text tells it to have a human approve, then retry."""
    result: dict[str, Any] = {
        "content": [{"type": "text", "text": f"{APPROVAL_PREFIX} {text}"}],
        "isError": True,
    }
    if modern:
        result["resultType"] = "complete"
    if meta:
        result["_meta"] = meta
    return result_response(msg_id, result)


def unknown_tool(msg_id: JsonId, name: str) -> bytes:
    """The common shape of a server's answer for a tool it does not have."""
    return error_response(msg_id, codes.INVALID_PARAMS, f"Unknown tool: {name}")


def tools_list_changed(subscription_id: JsonId | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
    if subscription_id is not None:
        message["params"] = {"_meta": {SUBSCRIPTION_ID_KEY: subscription_id}}
    return encode(message)
