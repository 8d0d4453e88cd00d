"""Sealing the MRTR `requestState` toolgate hands a client when it asks its user in-band.

A 2026-07-28 client that is asked for input echoes the `requestState` back on its retry. That
string passes through the client, so it is attacker-controlled: toolgate signs what it binds
into it and verifies the signature, the version and the expiry before trusting any of it.

    tgs1.<base64url(payload JSON)>.<base64url(HMAC-SHA256(key, "tgs1." + base64url(payload)))>

The payload names the call (its approval fingerprint), a random nonce (single use is enforced by
the caller through the approval store), the expiry, whether the call was approved already, and
the state that was not toolgate's (the upstream's own, or one the client already carried), which
is restored on the retry. The payload is signed, not encrypted: it holds nothing secret.

`open` never raises on any input; it answers what it found or why it refuses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

import orjson

from toolgate.clock import Clock

DEFAULT_PREFIX: Final = "tgs1."
VERSION: Final = 1
MAX_TOKEN_CHARS: Final = 1 << 20  # what `open` reads at most; `seal` refuses to make longer
MIN_KEY_BYTES: Final = 32
NONCE_BYTES: Final = 16

_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+")
_FIELDS: Final = frozenset({"v", "fp", "n", "exp", "ok", "in"})

NOT_OURS: Final = "not a request state made by this gateway"
MALFORMED: Final = "request state is malformed"
BAD_SIGNATURE: Final = "request state signature does not match (altered, or made with another key)"
EXPIRED: Final = "request state has expired; ask again"
WRONG_VERSION: Final = "request state has an unsupported version"


@dataclass(frozen=True, slots=True)
class SealedState:
    """What toolgate binds into a requestState."""

    fingerprint: str  # the call's approval fingerprint
    nonce: str  # random, 16 bytes as hex; single use is enforced by the caller (store)
    expires_at: float  # epoch seconds
    approved: bool  # False: a question is pending; True: an approved call's upstream asked more
    inner: str | None  # a requestState that was not toolgate's, restored on the retry


@dataclass(frozen=True, slots=True)
class StateRefusal:
    """Why a requestState was not accepted; short and fit to show the client."""

    reason: str


def new_nonce() -> str:
    """A fresh nonce for a SealedState."""
    return secrets.token_hex(NONCE_BYTES)


class StateSealer:
    """Signs SealedStates into requestState strings and verifies them on the way back."""

    def __init__(self, key: bytes, clock: Clock, *, prefix: str = DEFAULT_PREFIX) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the request state key must be at least {MIN_KEY_BYTES} bytes")
        if not prefix or "." in prefix[:-1] or _BASE64URL.fullmatch(prefix.rstrip(".")) is None:
            raise ValueError(
                f"request state prefix {prefix!r} must be base64url characters and a dot"
            )
        self._key = key
        self._clock = clock
        self._prefix = prefix

    def seal(self, state: SealedState) -> str:
        """The requestState string for `state`. Raises ValueError for a state `open` would
        refuse anyway (a non-finite expiry, or one too long to be read back)."""
        if not math.isfinite(state.expires_at):
            raise ValueError("a request state needs a finite expiry")
        payload = {
            "v": VERSION,
            "fp": state.fingerprint,
            "n": state.nonce,
            "exp": state.expires_at,
            "ok": state.approved,
            "in": state.inner,
        }
        body = self._prefix + _b64(orjson.dumps(payload))
        token = body + "." + self._signature(body)
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError(
                f"request state would be {len(token)} characters, over {MAX_TOKEN_CHARS}"
            )
        return token

    def is_ours(self, token: object) -> bool:
        """Whether `token` looks like a state this gateway made (a prefix check, not a proof)."""
        return isinstance(token, str) and token.startswith(self._prefix)

    def open(self, token: object) -> SealedState | StateRefusal:
        """The state sealed in `token`, or why it is refused: not ours, malformed, bad
        signature, unsupported version or expired."""
        if not isinstance(token, str) or not token.startswith(self._prefix):
            return StateRefusal(NOT_OURS)
        if len(token) > MAX_TOKEN_CHARS:
            return StateRefusal(MALFORMED)
        body, dot, signature = token.rpartition(".")
        encoded = body[len(self._prefix) :]
        if not dot or not _BASE64URL.fullmatch(encoded) or not _BASE64URL.fullmatch(signature):
            return StateRefusal(MALFORMED)
        # Comparing the text, not the decoded bytes: no second spelling of a signature passes.
        if not hmac.compare_digest(signature.encode("ascii"), self._signature(body).encode()):
            return StateRefusal(BAD_SIGNATURE)
        payload = _load(encoded)
        if payload is None:
            return StateRefusal(MALFORMED)
        if payload.get("v") != VERSION or isinstance(payload.get("v"), bool):
            return StateRefusal(WRONG_VERSION)
        state = _state_of(payload)
        if state is None:
            return StateRefusal(MALFORMED)
        if state.expires_at <= self._clock.now():
            return StateRefusal(EXPIRED)
        return state

    def _signature(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _load(encoded: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        payload = orjson.loads(raw)
    except (binascii.Error, ValueError):  # orjson.JSONDecodeError is a ValueError
        return None
    return payload if isinstance(payload, dict) else None


def _state_of(payload: dict[str, Any]) -> SealedState | None:
    if payload.keys() != _FIELDS:
        return None
    fingerprint, nonce = payload["fp"], payload["n"]
    expires_at, approved, inner = payload["exp"], payload["ok"], payload["in"]
    if not isinstance(fingerprint, str) or not isinstance(nonce, str):
        return None
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        return None
    if not isinstance(approved, bool) or not (inner is None or isinstance(inner, str)):
        return None
    if not math.isfinite(expires_at):
        return None
    return SealedState(fingerprint, nonce, float(expires_at), approved, inner)
