"""Answering a call to a hidden tool exactly as the upstream answers a tool it does not have.

Servers word that answer differently ("Unknown tool: x", "Tool x not found", an isError
result…). The first hidden call of each protocol era sends the upstream a call to a tool name
that cannot exist — never the hidden name, never its arguments — and keeps the answer as a
template; later hidden calls are answered from the template without reaching the upstream.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from toolgate.jsonrpc.message import JsonId, Message, encode
from toolgate.mcp.results import unknown_tool
from toolgate.pipeline.types import Forward, Outcome, Respond

PLACEHOLDER = "\x00toolgate-tool-name\x00"


def _replace_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_strings(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replace_strings(v, old, new) for k, v in value.items()}
    return value


class UnknownToolAnswers:
    """Per-upstream memory of how it answers unknown tools, one template per era."""

    def __init__(self) -> None:
        self._templates: dict[bool, dict[str, Any]] = {}
        self.probes = 0

    def answer(self, request: Message, name: str, *, modern: bool) -> Outcome:
        assert request.id is not None
        template = self._templates.get(modern)
        if template is not None:
            return Respond(self._fill(template, request.id, name))
        return self._probe(request, name, modern)

    def _fill(self, template: dict[str, Any], msg_id: JsonId, name: str) -> bytes:
        response = _replace_strings(copy.deepcopy(template), PLACEHOLDER, name)
        response["id"] = msg_id
        return encode(response)

    def _probe(self, request: Message, name: str, modern: bool) -> Outcome:
        self.probes += 1
        probe_name = f"toolgate-no-such-tool-{secrets.token_hex(6)}"
        params = request.params
        assert isinstance(params, dict)
        probe_params = {k: v for k, v in params.items() if k not in ("name", "arguments", "task")}
        probe_params["name"] = probe_name
        probe_params["arguments"] = {}
        probe = dict(request.obj)
        probe["params"] = probe_params
        msg_id = request.id

        async def learn(response: Message) -> bytes | None:
            if "result" in response.obj and not _is_error_result(response.obj["result"]):
                assert msg_id is not None
                return unknown_tool(msg_id, name)  # the upstream "has" it: do not trust it
            template = _replace_strings(response.obj, probe_name, PLACEHOLDER)
            self._templates[modern] = template
            assert msg_id is not None
            return self._fill(template, msg_id, name)

        return Forward(encode(probe), learn)


def _is_error_result(result: object) -> bool:
    return isinstance(result, dict) and result.get("isError") is True
