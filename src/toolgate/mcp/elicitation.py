"""Asking the client's user a yes/no question about a call, in both protocol eras.

Handshake era: toolgate sends its own `elicitation/create` request (only to a client that
declared `capabilities.elicitation`) and reads the `ElicitResult` that comes back. 2026-07-28:
toolgate answers the call with an `input_required` result carrying the same question under a
namespaced key, plus a `requestState`; the client retries with `inputResponses` and the state,
and toolgate removes both before the call goes on (keeping any input that is not its own).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

from toolgate.jsonrpc.message import JsonId, Message, result_response
from toolgate.mcp.eras import CLIENT_CAPABILITIES_KEY

APPROVAL_INPUT_KEY: Final = "dev.toolgate/approval"
APPROVE_FIELD: Final = "approve"


class Answer(enum.Enum):
    APPROVED = "approved"
    DECLINED = "declined"  # the user said no (decline, or accept with approve false)
    CANCELLED = "cancelled"  # the user dismissed the question
    INVALID = "invalid"  # an error or a result of the wrong shape


def approval_question(message: str) -> dict[str, Any]:
    """The params of an `elicitation/create` form with one required boolean."""
    return {
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": {
                APPROVE_FIELD: {
                    "type": "boolean",
                    "title": "Approve this call",
                    "description": "Allow this one call to go through",
                    "default": False,
                }
            },
            "required": [APPROVE_FIELD],
        },
    }


def read_answer(result: object) -> Answer:
    """What an `ElicitResult` says (`{"action": "accept", "content": {"approve": true}}`)."""
    if not isinstance(result, Mapping):
        return Answer.INVALID
    action = result.get("action")
    if action == "accept":
        content = result.get("content")
        if isinstance(content, Mapping) and content.get(APPROVE_FIELD) is True:
            return Answer.APPROVED
        if isinstance(content, Mapping) and content.get(APPROVE_FIELD) is False:
            return Answer.DECLINED
        return Answer.INVALID
    if action == "decline":
        return Answer.DECLINED
    if action == "cancel":
        return Answer.CANCELLED
    return Answer.INVALID


def read_response(response: Message | None) -> Answer | None:
    """The answer a client's response to toolgate's `elicitation/create` carries; None when
    there was no response."""
    if response is None:
        return None
    if response.is_error:
        return Answer.INVALID
    return read_answer(response.obj.get("result"))


def modern_client_can_elicit(params: object) -> bool:
    """Whether a 2026-07-28 request declares the elicitation capability in its `_meta`."""
    if not isinstance(params, Mapping):
        return False
    meta = params.get("_meta")
    capabilities = meta.get(CLIENT_CAPABILITIES_KEY) if isinstance(meta, Mapping) else None
    return isinstance(capabilities, Mapping) and isinstance(
        capabilities.get("elicitation"), Mapping
    )


def input_required(msg_id: JsonId, message: str, request_state: str) -> bytes:
    """The interim result that asks a 2026-07-28 client's user first."""
    question = {"method": "elicitation/create", "params": approval_question(message)}
    result = {
        "resultType": "input_required",
        "inputRequests": {APPROVAL_INPUT_KEY: question},
        "requestState": request_state,
    }
    return result_response(msg_id, result)


def own_input_response(params: object) -> object | None:
    """The client's answer to toolgate's question in a retried request, or None when absent."""
    if not isinstance(params, Mapping):
        return None
    responses = params.get("inputResponses")
    if not isinstance(responses, Mapping):
        return None
    return responses.get(APPROVAL_INPUT_KEY)


def request_state(params: object) -> object | None:
    return params.get("requestState") if isinstance(params, Mapping) else None


def without_own_input(params: Mapping[str, Any], inner_state: str | None) -> dict[str, Any]:
    """The params to forward: toolgate's answer removed (other inputs kept), and the state that
    was not toolgate's put back (or none)."""
    forwarded = dict(params)
    responses = forwarded.get("inputResponses")
    if isinstance(responses, Mapping):
        rest = {key: value for key, value in responses.items() if key != APPROVAL_INPUT_KEY}
        if rest:
            forwarded["inputResponses"] = rest
        else:
            del forwarded["inputResponses"]
    if inner_state is None:
        forwarded.pop("requestState", None)
    else:
        forwarded["requestState"] = inner_state
    return forwarded


def is_input_required(result: object) -> bool:
    return isinstance(result, Mapping) and result.get("resultType") == "input_required"
