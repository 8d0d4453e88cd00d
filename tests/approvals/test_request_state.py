"""Sealed request state: what toolgate hands a client comes back unaltered, fresh and its own,
or it is refused with a reason; garbage never raises."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest

from toolgate.approvals.request_state import (
    BAD_SIGNATURE,
    EXPIRED,
    MALFORMED,
    MAX_TOKEN_CHARS,
    NOT_OURS,
    WRONG_VERSION,
    SealedState,
    StateRefusal,
    StateSealer,
    new_nonce,
)
from toolgate.clock import FakeClock

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def state(clock: FakeClock, **changes: Any) -> SealedState:
    fields: dict[str, Any] = {
        "fingerprint": "sha256:" + "ab" * 32,
        "nonce": "00112233445566778899aabbccddeeff",
        "expires_at": clock.now() + 120.0,
        "approved": False,
        "inner": None,
    }
    fields.update(changes)
    return SealedState(**fields)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(payload: bytes, key: bytes = KEY, prefix: str = "tgs1.") -> str:
    """A token signed with the right key around any payload bytes: what a bug or a leaked key
    could produce; `open` must still refuse what is not a well-formed state."""
    body = prefix + b64(payload)
    signature = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return body + "." + b64(signature)


def good_payload(clock: FakeClock, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "v": 1,
        "fp": "sha256:" + "cd" * 32,
        "n": "ff" * 16,
        "exp": clock.now() + 60,
        "ok": True,
        "in": None,
    }
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"approved": True, "inner": "upstream-state-Ω-🙂"},
        {"inner": ""},
        {"expires_at": 1_767_225_600.123456},
    ],
)
def test_a_sealed_state_opens_to_exactly_what_was_sealed(
    clock: FakeClock, changes: dict[str, Any]
) -> None:
    sealer = StateSealer(KEY, clock)
    original = state(clock, **changes)
    token = sealer.seal(original)
    assert token.startswith("tgs1.") and token.isascii()
    assert sealer.is_ours(token)
    assert sealer.open(token) == original


def test_the_format_is_prefix_payload_dot_hmac_of_prefix_and_payload(clock: FakeClock) -> None:
    token = StateSealer(KEY, clock).seal(state(clock))
    body, _, signature = token.rpartition(".")
    expected = hmac.new(KEY, body.encode(), hashlib.sha256).digest()
    assert signature == b64(expected)
    payload = orjson.loads(base64.urlsafe_b64decode(body.removeprefix("tgs1.") + "=="))
    assert payload["fp"] == "sha256:" + "ab" * 32 and payload["v"] == 1


def test_a_forged_token_with_the_right_key_opens_which_proves_the_helper(clock: FakeClock) -> None:
    opened = StateSealer(KEY, clock).open(forged(orjson.dumps(good_payload(clock))))
    assert isinstance(opened, SealedState) and opened.approved


def test_tampering_with_any_single_character_is_refused(clock: FakeClock) -> None:
    sealer = StateSealer(KEY, clock)
    token = sealer.seal(state(clock, approved=True, inner="x"))
    for index, char in enumerate(token):
        replacement = "A" if char != "A" else "B"
        tampered = token[:index] + replacement + token[index + 1 :]
        opened = sealer.open(tampered)
        assert isinstance(opened, StateRefusal), f"tampering at {index} was accepted"
        if index < len("tgs1."):
            assert opened.reason == NOT_OURS
        else:
            assert opened.reason in {BAD_SIGNATURE, MALFORMED}, (index, opened.reason)


def test_the_last_signature_character_has_no_second_spelling(clock: FakeClock) -> None:
    sealer = StateSealer(KEY, clock)
    token = sealer.seal(state(clock))
    # The 43rd base64 digit of a 32-byte MAC carries 2 unused bits: every other digit that
    # decodes to the same bytes must still be refused.
    for char in B64URL:
        if char != token[-1]:
            assert sealer.open(token[:-1] + char) == StateRefusal(BAD_SIGNATURE)


def test_truncated_or_extended_tokens_are_refused(clock: FakeClock) -> None:
    sealer = StateSealer(KEY, clock)
    token = sealer.seal(state(clock))
    for cut in range(len(token)):
        assert isinstance(sealer.open(token[:cut]), StateRefusal)
    for suffix in ["A", "=", ".", ".A", " ", "\n"]:
        assert isinstance(sealer.open(token + suffix), StateRefusal)


def test_a_state_sealed_with_another_key_is_refused(clock: FakeClock) -> None:
    token = StateSealer(OTHER_KEY, clock).seal(state(clock))
    assert StateSealer(KEY, clock).open(token) == StateRefusal(BAD_SIGNATURE)


def test_a_state_with_another_prefix_is_not_ours(clock: FakeClock) -> None:
    token = StateSealer(KEY, clock, prefix="other1.").seal(state(clock))
    sealer = StateSealer(KEY, clock)
    assert not sealer.is_ours(token)
    assert sealer.open(token) == StateRefusal(NOT_OURS)


def test_a_state_is_refused_from_the_moment_it_expires(clock: FakeClock) -> None:
    sealer = StateSealer(KEY, clock)
    token = sealer.seal(state(clock, expires_at=clock.now() + 30))
    clock.advance(29.999)
    assert isinstance(sealer.open(token), SealedState)
    clock.advance(0.001)
    assert sealer.open(token) == StateRefusal(EXPIRED)
    clock.advance(10_000)
    assert sealer.open(token) == StateRefusal(EXPIRED)


@pytest.mark.parametrize(
    "token",
    [
        None,
        0,
        12.5,
        True,
        b"tgs1.abc.def",
        ["tgs1.abc.def"],
        {"state": "tgs1."},
        "",
        "tgs1",
        "TGS1.abc.def",
        "upstream-state",
        "x" * 1_000_000,
    ],
)
def test_what_is_not_ours_is_refused_as_such(clock: FakeClock, token: object) -> None:
    sealer = StateSealer(KEY, clock)
    assert not sealer.is_ours(token)
    assert sealer.open(token) == StateRefusal(NOT_OURS)


@pytest.mark.parametrize(
    "token",
    [
        "tgs1.",
        "tgs1..",
        "tgs1.abc",
        "tgs1.abc.",
        "tgs1..abc",
        "tgs1.a.b.c",
        "tgs1.!!!." + "A" * 43,
        "tgs1.abc.!!!",
        "tgs1.abc=.def",
        "tgs1.é.abc",
        "tgs1.abc.é",
        "tgs1.\x00.\x00",
        "tgs1." + "A" * 1_048_576 + "." + "A" * 43,
    ],
)
def test_malformed_tokens_are_refused_without_raising(clock: FakeClock, token: str) -> None:
    assert StateSealer(KEY, clock).open(token) == StateRefusal(MALFORMED)


@pytest.mark.parametrize("length", [100_000, 1_000_000])
def test_long_garbage_with_our_prefix_is_refused(clock: FakeClock, length: int) -> None:
    opened = StateSealer(KEY, clock).open("tgs1." + "Q" * length + ".sig")
    assert opened == StateRefusal(BAD_SIGNATURE)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"a string"',
        b"null",
        b"1e400",
        b'{"v": 1}',
        orjson.dumps({"v": 1, "fp": "x", "n": "y", "exp": 1e12, "ok": True}),  # "in" missing
    ],
)
def test_signed_payloads_that_are_not_a_state_object_are_malformed(
    clock: FakeClock, payload: bytes
) -> None:
    assert StateSealer(KEY, clock).open(forged(payload)) == StateRefusal(MALFORMED)


@pytest.mark.parametrize(
    "changes",
    [
        {"fp": 1},
        {"fp": None},
        {"n": ["x"]},
        {"exp": "tomorrow"},
        {"exp": None},
        {"exp": True},
        {"ok": "yes"},
        {"ok": 1},
        {"in": 5},
        {"in": {"nested": "state"}},
        {"extra": "field"},
    ],
)
def test_signed_payloads_with_wrong_field_types_are_malformed(
    clock: FakeClock, changes: dict[str, Any]
) -> None:
    payload = orjson.dumps(good_payload(clock, **changes))
    assert StateSealer(KEY, clock).open(forged(payload)) == StateRefusal(MALFORMED)


@pytest.mark.parametrize("version", [0, 2, "1", 1.5, True, None])
def test_a_signed_payload_of_another_version_is_refused(clock: FakeClock, version: object) -> None:
    payload = orjson.dumps(good_payload(clock, v=version))
    assert StateSealer(KEY, clock).open(forged(payload)) == StateRefusal(WRONG_VERSION)


def test_an_integer_expiry_is_accepted_as_seconds(clock: FakeClock) -> None:
    payload = orjson.dumps(good_payload(clock, exp=int(clock.now()) + 60))
    opened = StateSealer(KEY, clock).open(forged(payload))
    assert isinstance(opened, SealedState) and opened.expires_at == int(clock.now()) + 60


def test_refusal_reasons_are_short_and_distinct() -> None:
    reasons = [NOT_OURS, MALFORMED, BAD_SIGNATURE, EXPIRED, WRONG_VERSION]
    assert len(set(reasons)) == len(reasons)
    assert all(0 < len(reason) <= 80 for reason in reasons)


def test_sealing_refuses_states_it_could_not_open_again(clock: FakeClock) -> None:
    sealer = StateSealer(KEY, clock)
    with pytest.raises(ValueError, match="finite expiry"):
        sealer.seal(state(clock, expires_at=float("inf")))
    with pytest.raises(ValueError, match=f"over {MAX_TOKEN_CHARS}"):
        sealer.seal(state(clock, inner="x" * MAX_TOKEN_CHARS))


@pytest.mark.parametrize(
    ("key", "prefix", "expected"),
    [
        (b"short", "tgs1.", "at least 32 bytes"),
        (b"", "tgs1.", "at least 32 bytes"),
        (KEY, "", "prefix"),
        (KEY, "a.b.", "prefix"),
        (KEY, "tg s.", "prefix"),
    ],
)
def test_a_sealer_refuses_a_weak_key_or_an_ambiguous_prefix(
    clock: FakeClock, key: bytes, prefix: str, expected: str
) -> None:
    with pytest.raises(ValueError, match=expected):
        StateSealer(key, clock, prefix=prefix)


def test_nonces_are_sixteen_random_bytes_in_hex() -> None:
    nonces = {new_nonce() for _ in range(100)}
    assert len(nonces) == 100
    assert all(len(n) == 32 and int(n, 16) >= 0 for n in nonces)
