"""Grant tokens: their shape, parsing anything without raising, and the stored hash."""

from __future__ import annotations

import hashlib

import pytest

from toolgate.identity.tokens import (
    SECRET_CHARS,
    TOKEN_CHARS,
    hashes_equal,
    is_grant_id,
    new_grant_id,
    new_token,
    parse_token,
    token_hash,
)


def test_a_new_token_names_its_grant_and_carries_a_43_character_secret() -> None:
    grant_id = new_grant_id()
    token = new_token(grant_id)
    parsed = parse_token(token)
    assert parsed is not None
    assert parsed.grant_id == grant_id
    assert len(parsed.secret) == SECRET_CHARS == 43
    assert token == f"tg_{grant_id}_{parsed.secret}"
    assert len(token) == TOKEN_CHARS


def test_grant_ids_are_gr_and_twelve_hex_digits() -> None:
    grant_id = new_grant_id()
    assert is_grant_id(grant_id)
    assert grant_id.startswith("gr_")
    assert len(grant_id) == 15
    int(grant_id[3:], 16)


def test_two_tokens_for_one_grant_differ() -> None:
    grant_id = new_grant_id()
    assert new_token(grant_id) != new_token(grant_id)


def test_a_token_for_something_that_is_not_a_grant_id_is_refused() -> None:
    with pytest.raises(ValueError, match="not a grant id"):
        new_token("gr_XYZ")


GOOD = "tg_gr_0123456789ab_" + "A" * 43


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "tg_",
        "Bearer " + GOOD,
        GOOD + "A",
        GOOD[:-1],
        GOOD[:-1] + "é",
        GOOD[:-1] + "=",
        "tg_gr_0123456789AB_" + "A" * 43,  # upper-case hex
        "tg_gr_0123456789a_" + "A" * 44,
        "xx_gr_0123456789ab_" + "A" * 43,
        "tg_gr_0123456789ab-" + "A" * 43,
        " " + GOOD[1:],
        "x" * 10_000,
        "\x00" * 62,
        "\ud800" * 62,
        "é" * 62,
    ],
)
def test_anything_not_shaped_like_a_token_parses_to_none(garbage: str) -> None:
    assert parse_token(garbage) is None


@pytest.mark.parametrize("garbage", [None, 62, b"tg_gr_0123456789ab_" + b"A" * 43, ["x"], object()])
def test_non_text_parses_to_none(garbage: object) -> None:
    assert parse_token(garbage) is None


def test_a_well_formed_token_parses_whatever_its_secret() -> None:
    parsed = parse_token("tg_gr_0123456789ab_" + "-_" * 21 + "Z")
    assert parsed is not None
    assert parsed.grant_id == "gr_0123456789ab"


def test_the_hash_is_the_sha256_of_the_whole_token() -> None:
    token = new_token(new_grant_id())
    assert token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    other = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert token_hash(other) != token_hash(token)


def test_hashes_compare_equal_only_when_equal() -> None:
    one, two = token_hash(GOOD), token_hash(GOOD[:-1] + "B")
    assert hashes_equal(one, token_hash(GOOD))
    assert not hashes_equal(one, two)
    assert not hashes_equal(one, "")
    assert not hashes_equal(one, "é" * 64)
