"""Policy regexes anchor like RE2: `$` is the end of the text, not a place before a newline."""

from __future__ import annotations

import re

import pytest

from toolgate.policy.regex import compile_policy_regex


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"^[A-Z]{2,10}USDT$", "BTCUSDT", True),
        (r"^[A-Z]{2,10}USDT$", "BTCUSDT\n", False),
        (r"^a\z", "a\n", False),
        (r"^a\z", "a", True),
        (r"[$]x", "$x", True),
        (r"[]$]", "$", True),
        (r"[^]$]", "$", False),
        (r"\$$", "cost $", True),
        (r"\$$", "cost $\n", False),
        (r"(?m)^a$", "a\nb", True),
        (r"usd|eur$", "eur\n", False),
    ],
)
def test_end_anchors_match_only_at_the_end_of_the_text(
    pattern: str, text: str, matches: bool
) -> None:
    assert (compile_policy_regex(pattern).search(text) is not None) is matches


def test_a_bad_pattern_still_raises() -> None:
    with pytest.raises(re.error):
        compile_policy_regex("(unclosed")
