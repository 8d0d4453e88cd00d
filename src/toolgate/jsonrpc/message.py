"""Parsing one wire line into a message view that keeps the original bytes.

The relay forwards `Message.raw` untouched; the decoded object is there only for the few
messages toolgate must inspect. Classification is strict (a request needs a string method and
a string or integer id), so anything toolgate cannot classify is refused, never guessed at.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeAlias

import orjson

from toolgate.jsonrpc import codes

JsonId: TypeAlias = str | int
JsonObject: TypeAlias = dict[str, Any]


class Kind(enum.Enum):
    REQUEST = "request"
    NOTIFICATION = "notification"
    RESPONSE = "response"


@dataclass(frozen=True, slots=True)
class Message:
    """A well-formed JSON-RPC message: its kind, its id and method if any, the decoded object,
    and the exact bytes it arrived as (without the line terminator)."""

    kind: Kind
    raw: bytes
    obj: JsonObject
    id: JsonId | None
    method: str | None

    @property
    def params(self) -> object:
        return self.obj.get("params")

    @property
    def is_error(self) -> bool:
        return "error" in self.obj


@dataclass(frozen=True, slots=True)
class Invalid:
    """A line that is not a message toolgate will forward; `code` and `reason` form the error
    answer, `id` is the request id when it could be read (else None)."""

    code: int
    reason: str
    id: JsonId | None = None


def valid_id(value: object) -> bool:
    """JSON-RPC ids that MCP allows: strings and integers (never null, bool or float)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def parse(raw: bytes) -> Message | Invalid:
    """Classify one line. Never raises on any input."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:  # valid JSON that orjson refuses, such as 1e400: keep it, exactly
            obj = decode_exact(raw)
        except (ValueError, RecursionError):
            return Invalid(codes.PARSE_ERROR, f"Parse error: {exc.msg} at byte {exc.pos}")
    if isinstance(obj, list):
        return Invalid(codes.INVALID_REQUEST, "Invalid Request: JSON-RPC batches are not supported")
    if not isinstance(obj, dict):
        return Invalid(codes.INVALID_REQUEST, "Invalid Request: a message must be a JSON object")
    return classify(raw, obj)


def classify(raw: bytes, obj: JsonObject) -> Message | Invalid:
    raw_id = obj.get("id")
    msg_id = raw_id if valid_id(raw_id) else None
    if obj.get("jsonrpc") != "2.0":
        return Invalid(codes.INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"', msg_id)
    method = obj.get("method")
    if method is not None:
        if not isinstance(method, str) or not method:
            return Invalid(
                codes.INVALID_REQUEST, "Invalid Request: method must be a string", msg_id
            )
        if "id" not in obj:
            return Message(Kind.NOTIFICATION, raw, obj, None, method)
        if msg_id is None:
            return Invalid(
                codes.INVALID_REQUEST, "Invalid Request: id must be a string or an integer"
            )
        return Message(Kind.REQUEST, raw, obj, msg_id, method)
    if ("result" in obj) != ("error" in obj) and ("id" in obj):
        # A response whose id could not be read (id null) is still a response: pass it on.
        return Message(Kind.RESPONSE, raw, obj, msg_id, None)
    return Invalid(
        codes.INVALID_REQUEST, "Invalid Request: not a request, notification or response", msg_id
    )


def decode_exact(raw: bytes | str) -> Any:
    """Decode JSON keeping every number exact: non-integers become Decimal (never float), and
    integers of any size stay integers. NaN and Infinity, which JSON does not have, are refused."""
    return json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _exact_number(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(str(value).encode())
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode(obj: object, *, sort_keys: bool = False) -> bytes:
    """Serialise a message toolgate originates or rewrites (no trailing newline); exact decimals
    from `decode_exact` are written back as the same number, and so are integers of any size."""
    option = orjson.OPT_SORT_KEYS if sort_keys else 0
    try:
        return orjson.dumps(obj, default=_exact_number, option=option)
    except TypeError:  # an integer beyond 64 bits: write it from its digits
        return orjson.dumps(_big_ints_as_text(obj), default=_exact_number, option=option)


def _big_ints_as_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return orjson.Fragment(str(value).encode())
    if isinstance(value, dict):
        return {k: _big_ints_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_big_ints_as_text(v) for v in value]
    return value


def error_response(msg_id: JsonId | None, code: int, message: str, data: object = None) -> bytes:
    error: JsonObject = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return encode({"jsonrpc": "2.0", "id": msg_id, "error": error})


def result_response(msg_id: JsonId, result: object) -> bytes:
    return encode({"jsonrpc": "2.0", "id": msg_id, "result": result})


def id_key(msg_id: JsonId) -> tuple[bool, JsonId]:
    """A hashable key that keeps 1 and "1" apart (they are different JSON-RPC ids)."""
    return (isinstance(msg_id, str), msg_id)
