"""The approval fingerprint: one short name for exactly the call a human is asked about.

An approval is only ever valid for the call it was given for. The fingerprint binds every field
that changes what would run or who asked: the tool, its arguments as the client sent them, the
rule that asked, the policy revision, the identity and the server. It is the SHA-256 of a
canonical JSON encoding (sorted keys at every depth, no whitespace, UTF-8), so the order of keys
never matters while any change of any value does. Numbers keep the exact form they arrived in
(decimals from `decode_exact` and integers beyond 64 bits included), so `1` and `1.0` are
different calls, as they are to the upstream.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from toolgate.errors import EvaluationError
from toolgate.jsonrpc.message import encode

PREFIX: Final = "sha256:"
_DOMAIN: Final = "toolgate.approval.v1"  # keeps these digests apart from any other sha256 use


def approval_fingerprint(
    *,
    tool: str,
    arguments: Mapping[str, Any],
    rule_id: str,
    policy_revision: str,
    identity: str | None,
    server: str | None,
) -> str:
    """`sha256:<hex>` of the canonical encoding of the six fields. Raises EvaluationError when
    the arguments hold something that is not JSON (a call that cannot be named cannot be
    approved: the caller refuses it)."""
    document = {
        "domain": _DOMAIN,
        "tool": tool,
        "arguments": _plain(arguments, "arguments"),
        "rule_id": rule_id,
        "policy_revision": policy_revision,
        "identity": identity,
        "server": server,
    }
    try:
        canonical = encode(document, sort_keys=True)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError (e.g. lone surrogates)
        raise EvaluationError(
            f"cannot fingerprint the arguments of tool {tool!r} for approval: {exc}"
        ) from None
    return PREFIX + hashlib.sha256(canonical).hexdigest()


def _plain(value: Any, path: str) -> Any:
    """`value` as plain dicts and lists the encoder takes; refuses what JSON cannot carry (so
    no two different values can share an encoding, as NaN and null would)."""
    try:
        return _walk(value, path)
    except RecursionError:
        raise EvaluationError(f"cannot fingerprint {path}: nested too deeply") from None


def _walk(value: Any, path: str) -> Any:
    if value is None or isinstance(value, str | bool | int | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            raise EvaluationError(f"cannot fingerprint {path}: {value} is not a JSON number")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EvaluationError(f"cannot fingerprint {path}: {value} is not a JSON number")
        return value
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EvaluationError(f"cannot fingerprint {path}: key {key!r} is not a string")
            plain[key] = _walk(item, f"{path}.{key}")
        return plain
    if isinstance(value, list | tuple):
        return [_walk(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise EvaluationError(
        f"cannot fingerprint {path}: a {type(value).__name__} is not a JSON value"
    )
