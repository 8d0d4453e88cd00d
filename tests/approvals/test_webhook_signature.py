"""verify_signature: what a webhook receiver runs; anything malformed is False, never an error."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from toolgate.approvals.webhook import sign, verify_signature

SECRET = b"webhook-secret-for-tests"
BODY = b'{"event":"approval_requested"}'
NOW = 1_767_225_600.0
STAMP = str(int(NOW))


def test_a_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() -> None:
    expected = hmac.new(SECRET, f"{STAMP}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, STAMP, BODY) == "sha256=" + expected


def test_a_fresh_signature_of_the_body_verifies() -> None:
    header = sign(SECRET, STAMP, BODY)
    assert verify_signature(SECRET, STAMP, BODY, header, now=NOW)
    assert verify_signature(SECRET, STAMP, BODY, header, now=NOW + 300)
    assert verify_signature(SECRET, STAMP, BODY, header, now=NOW - 300)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body"),
    [
        (b"another-secret", STAMP, BODY),
        (SECRET, str(int(NOW) + 1), BODY),
        (SECRET, STAMP, BODY + b" "),
        (SECRET, STAMP, b""),
    ],
)
def test_a_signature_over_anything_else_does_not_verify(
    secret: bytes, timestamp: str, body: bytes
) -> None:
    header = sign(SECRET, STAMP, BODY)
    assert not verify_signature(secret, timestamp, body, header, now=NOW)


@pytest.mark.parametrize("offset", [301, -301, 86_400, -86_400])
def test_a_stale_or_future_timestamp_does_not_verify(offset: float) -> None:
    header = sign(SECRET, STAMP, BODY)
    assert not verify_signature(SECRET, STAMP, BODY, header, now=NOW + offset)


def test_the_tolerance_can_be_narrowed() -> None:
    header = sign(SECRET, STAMP, BODY)
    assert not verify_signature(SECRET, STAMP, BODY, header, now=NOW + 31, tolerance=30)


@pytest.mark.parametrize(
    "timestamp",
    ["", "abc", "12.5", "-5", "+1767225600", " 1767225600", "1767225600 ", "١٧٦٧٢٢٥٦٠٠", "9" * 400],
)
def test_a_timestamp_that_is_not_plain_unix_seconds_does_not_verify(timestamp: str) -> None:
    header = sign(SECRET, timestamp, BODY)  # even correctly signed
    assert not verify_signature(SECRET, timestamp, BODY, header, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "sha256=",
        "sha1=" + "0" * 40,
        hmac.new(SECRET, f"{STAMP}.".encode() + BODY, hashlib.sha256).hexdigest(),  # no prefix
        "SHA256=" + hmac.new(SECRET, f"{STAMP}.".encode() + BODY, hashlib.sha256).hexdigest(),
        "sha256=" + "é" * 64,
        "sha256=" + "0" * 64,
        "sha256=" + "0" * 10_000,
    ],
)
def test_a_header_that_is_not_our_signature_does_not_verify(header: str) -> None:
    assert not verify_signature(SECRET, STAMP, BODY, header, now=NOW)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "header", "now"),
    [
        (b"", STAMP, BODY, "sha256=x", NOW),
        ("text-secret", STAMP, BODY, "sha256=x", NOW),
        (SECRET, None, BODY, "sha256=x", NOW),
        (SECRET, 1767225600, BODY, "sha256=x", NOW),
        (SECRET, STAMP, "text body", "sha256=x", NOW),
        (SECRET, STAMP, BODY, None, NOW),
        (SECRET, STAMP, BODY, b"sha256=x", NOW),
        (SECRET, STAMP, BODY, "sha256=x", float("nan")),
    ],
)
def test_arguments_of_the_wrong_type_do_not_verify_and_do_not_raise(
    secret: object, timestamp: object, body: object, header: object, now: float
) -> None:
    assert not verify_signature(secret, timestamp, body, header, now=now)  # type: ignore[arg-type]
