"""Reading the name and arguments of a tools/call, failing closed on anything malformed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolgate.jsonrpc.message import decode_exact


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BadCall:
    reason: str


def read_tool_call(params: object, raw: bytes | None = None) -> ToolCall | BadCall:
    """`params` must be an object with a non-empty string `name` and, when present, an object
    `arguments`. A missing `arguments` is an empty object (the spec makes it optional).

    Numbers are exact: when the fast decoder turned any argument into a float (a decimal, or an
    integer too large for 64 bits), the arguments are decoded again from `raw` with exact
    decimals, so `0.1` is 0.1 and a 30-digit quantity keeps every digit.
    """
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
    if raw is not None and _has_float(arguments):
        exact = decode_exact(raw)["params"]["arguments"]
        assert isinstance(exact, dict)
        return ToolCall(name, exact)
    return ToolCall(name, arguments)


def _has_float(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
