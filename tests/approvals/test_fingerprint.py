"""The approval fingerprint names exactly one call: every field counts, key order does not."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from toolgate.approvals.fingerprint import approval_fingerprint
from toolgate.errors import EvaluationError
from toolgate.jsonrpc.message import decode_exact

BASE: dict[str, Any] = {
    "tool": "transfer",
    "arguments": {"to": "bob", "amount": 12.5, "memo": {"tags": ["rent", "june"], "n": 1}},
    "rule_id": "r-transfer",
    "policy_revision": "rev-1",
    "identity": "alice",
    "server": "bank",
}


def fp(**changes: Any) -> str:
    return approval_fingerprint(**{**BASE, **changes})


def test_the_fingerprint_is_a_sha256_digest_in_hex() -> None:
    value = fp()
    assert value.startswith("sha256:")
    digest = value.removeprefix("sha256:")
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_the_encoding_is_canonical_json_with_sorted_keys_and_no_spaces() -> None:
    document = {**BASE, "domain": "toolgate.approval.v1", "arguments": {"b": [1, "é"], "a": None}}
    expected = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(expected.encode("utf-8")).hexdigest()
    assert fp(arguments={"b": [1, "é"], "a": None}) == "sha256:" + digest


def test_the_same_call_has_the_same_fingerprint_whatever_the_key_order() -> None:
    reordered = {"memo": {"n": 1, "tags": ["rent", "june"]}, "amount": 12.5, "to": "bob"}
    assert fp(arguments=reordered) == fp()


@pytest.mark.parametrize(
    "changes",
    [
        {"tool": "transfer2"},
        {"rule_id": "r-other"},
        {"policy_revision": "rev-2"},
        {"identity": "mallory"},
        {"identity": None},
        {"identity": ""},
        {"server": "bank-eu"},
        {"server": None},
        {"arguments": {**BASE["arguments"], "to": "mallory"}},
        {"arguments": {**BASE["arguments"], "amount": 12.51}},
        {"arguments": {**BASE["arguments"], "extra": None}},
        {"arguments": {k: v for k, v in BASE["arguments"].items() if k != "memo"}},
        {"arguments": {**BASE["arguments"], "memo": {"tags": ["june", "rent"], "n": 1}}},
        {"arguments": {**BASE["arguments"], "memo": {"tags": ["rent", "june"], "N": 1}}},
        {"arguments": {**BASE["arguments"], "memo": {"tags": ["rent", "june"], "n": 1.0}}},
        {"arguments": {**BASE["arguments"], "memo": {"tags": ["rent", "june"], "n": True}}},
        {"arguments": {**BASE["arguments"], "memo": {"tags": ["rent", "june"], "n": "1"}}},
    ],
)
def test_any_change_of_any_field_changes_the_fingerprint(changes: dict[str, Any]) -> None:
    assert fp(**changes) != fp()


def test_fields_cannot_be_shifted_into_one_another() -> None:
    assert fp(tool="a", rule_id="bc") != fp(tool="ab", rule_id="c")
    assert fp(identity="x", server=None) != fp(identity=None, server="x")


def test_arguments_as_the_client_sent_them_big_ints_exact_decimals_and_unicode() -> None:
    raw = b'{"n":123456789012345678901234567890,"d":0.10,"s":"\\u00e9\\ud83d\\ude00","l":[[1],[]]}'
    exact = decode_exact(raw)
    assert isinstance(exact["d"], Decimal)
    first = fp(arguments=exact)
    assert first == fp(arguments=decode_exact(raw))
    assert first != fp(arguments={**exact, "n": 123456789012345678901234567891})
    assert first != fp(arguments={**exact, "d": Decimal("0.1")})  # 0.10 is not written as 0.1
    assert first != fp(arguments={**exact, "s": "e😀"})


def test_a_read_only_mapping_and_tuples_name_the_same_call_as_dicts_and_lists() -> None:
    arguments = MappingProxyType({"memo": MappingProxyType({"tags": ("rent", "june"), "n": 1})})
    assert fp(arguments=arguments) == fp(arguments={"memo": {"tags": ["rent", "june"], "n": 1}})


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"x": float("nan")}, r"arguments\.x: nan is not a JSON number"),
        ({"x": [float("inf")]}, r"arguments\.x\[0\]: inf is not a JSON number"),
        ({"x": Decimal("NaN")}, "is not a JSON number"),
        ({"x": object()}, r"arguments\.x: a object is not a JSON value"),
        ({"x": b"bytes"}, "a bytes is not a JSON value"),
        ({"x": {1: "a"}}, "key 1 is not a string"),
        ({"x": "\ud800"}, "cannot fingerprint the arguments of tool 'transfer'"),
    ],
)
def test_arguments_that_are_not_json_are_refused_with_where_and_why(
    arguments: dict[str, Any], expected: str
) -> None:
    with pytest.raises(EvaluationError, match=expected):
        fp(arguments=arguments)


@pytest.mark.parametrize("depth", [300, 100_000])
def test_arguments_nested_beyond_reason_are_refused_not_crashed_on(depth: int) -> None:
    deep: Any = []
    for _ in range(depth):
        deep = [deep]
    with pytest.raises(EvaluationError, match="cannot fingerprint"):
        fp(arguments={"x": deep})
