"""Reading the name and arguments of a tools/call, failing closed on anything malformed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BadCall:
    reason: str


def read_tool_call(params: object) -> ToolCall | BadCall:
    """`params` must be an object with a non-empty string `name` and, when present, an object
    `arguments`. A missing `arguments` is an empty object (the spec makes it optional)."""
    if not isinstance(params, dict):
        return BadCall("tools/call params must be an object")
    name = params.get("name")
    if not isinstance(name, str):
        return BadCall("tools/call params.name must be a string")
    if not name:
        return BadCall("tools/call params.name must not be empty")
    if "arguments" not in params:
        return ToolCall(name, {})
    arguments = params["arguments"]
    if not isinstance(arguments, dict):
        kind = "null" if arguments is None else type(arguments).__name__
        kind = {"list": "an array", "str": "a string", "int": "a number", "float": "a number"}.get(
            kind, kind
        )
        return BadCall(f"tools/call params.arguments must be an object, not {kind}")
    return ToolCall(name, arguments)
