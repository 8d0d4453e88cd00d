from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from toolgate.mcp.calls import BadCall, ToolCall, read_tool_call


def test_arguments_default_to_an_empty_object() -> None:
    assert read_tool_call({"name": "t"}) == ToolCall("t", {})


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ([], "params must be an object"),
        ({"arguments": {}}, "params.name must be a string"),
        ({"name": 3}, "params.name must be a string"),
        ({"name": ""}, "must not be empty"),
        ({"name": "t", "arguments": [1]}, "not an array"),
        ({"name": "t", "arguments": "x"}, "not a string"),
        ({"name": "t", "arguments": None}, "not null"),
        ({"name": "t", "arguments": 5}, "not a number"),
    ],
)
def test_malformed_params_are_refused_with_a_reason(params: object, reason: str) -> None:
    refused = read_tool_call(params)
    assert isinstance(refused, BadCall)
    assert reason in refused.reason


def test_decimal_arguments_are_read_exactly_from_the_raw_bytes() -> None:
    raw = (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"order",'
        b'"arguments":{"qty":0.12345678901234567891,"legs":[{"px":1e-30}],"n":3}}}'
    )
    params = orjson.loads(raw)["params"]
    call = read_tool_call(params, raw)
    assert isinstance(call, ToolCall)
    assert call.arguments == {
        "qty": Decimal("0.12345678901234567891"),
        "legs": [{"px": Decimal("1e-30")}],
        "n": 3,
    }


def test_integer_only_arguments_need_no_second_decoding() -> None:
    params = {"name": "t", "arguments": {"n": 1, "s": "x"}}
    call = read_tool_call(params, b"not even json")
    assert call == ToolCall("t", {"n": 1, "s": "x"})
