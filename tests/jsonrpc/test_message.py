from __future__ import annotations

from decimal import Decimal

import pytest

from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import (
    Invalid,
    Kind,
    Message,
    decode_exact,
    encode,
    error_response,
    id_key,
    parse,
)


def test_request_keeps_its_original_bytes_and_is_classified() -> None:
    raw = b'{"jsonrpc":"2.0", "id": 7, "method":"tools/call","params":{"x":1},"extra":true}'
    message = parse(raw)
    assert isinstance(message, Message)
    assert message.kind is Kind.REQUEST
    assert message.raw is raw
    assert (message.id, message.method) == (7, "tools/call")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b'{"jsonrpc":"2.0","method":"notifications/initialized"}', Kind.NOTIFICATION),
        (b'{"jsonrpc":"2.0","id":"a","result":{}}', Kind.RESPONSE),
        (b'{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"m"}}', Kind.RESPONSE),
        (b'{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"m"}}', Kind.RESPONSE),
    ],
)
def test_notifications_and_responses_are_classified(raw: bytes, kind: Kind) -> None:
    message = parse(raw)
    assert isinstance(message, Message)
    assert message.kind is kind


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", codes.PARSE_ERROR),
        (b"\xff\xfe\x00garbage", codes.PARSE_ERROR),
        (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', codes.INVALID_REQUEST),
        (b'"a string"', codes.INVALID_REQUEST),
        (b"42", codes.INVALID_REQUEST),
        (b'{"id":1,"method":"ping"}', codes.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', codes.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', codes.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', codes.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":7}', codes.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1}', codes.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"result":1,"error":{}}', codes.INVALID_REQUEST),
    ],
)
def test_garbage_is_refused_with_the_right_error_code(raw: bytes, code: int) -> None:
    invalid = parse(raw)
    assert isinstance(invalid, Invalid)
    assert invalid.code == code
    assert invalid.reason


def test_refused_request_keeps_a_readable_id_for_its_error_answer() -> None:
    invalid = parse(b'{"id":5,"method":"ping"}')
    assert isinstance(invalid, Invalid)
    assert invalid.id == 5


def test_integer_and_string_ids_with_the_same_text_are_different_keys() -> None:
    assert id_key(1) != id_key("1")


def test_error_response_is_compact_json_rpc() -> None:
    assert error_response(3, -32602, "bad") == (
        b'{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad"}}'
    )


def test_valid_json_the_fast_decoder_refuses_is_still_accepted_exactly() -> None:
    raw = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"x":1e400}}}'
    message = parse(raw)
    assert isinstance(message, Message)
    assert message.raw is raw
    assert message.obj["params"]["arguments"]["x"] == Decimal("1e400")


@pytest.mark.parametrize("raw", [b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}'])
def test_non_json_constants_are_refused(raw: bytes) -> None:
    invalid = parse(raw)
    assert isinstance(invalid, Invalid)
    assert invalid.code == codes.PARSE_ERROR


def test_exact_decoding_keeps_every_digit_and_encoding_writes_it_back() -> None:
    value = decode_exact(b'{"q":0.12345678901234567891,"n":123456789012345678901234567890}')
    assert value == {"q": Decimal("0.12345678901234567891"), "n": 123456789012345678901234567890}
    assert encode(value) == b'{"q":0.12345678901234567891,"n":123456789012345678901234567890}'
