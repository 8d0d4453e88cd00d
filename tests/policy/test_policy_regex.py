"""Policy regexes read as `re` reads them, anchor like RE2, and match on the `regex` engine."""

from __future__ import annotations

import re
import warnings

import pytest

from toolgate.policy.regex import compile_policy_regex


def matches(pattern: str, text: str) -> bool:
    return compile_policy_regex(pattern).matches(text)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"^[A-Z]{2,10}USDT$", "BTCUSDT", True),
        (r"^[A-Z]{2,10}USDT$", "BTCUSDT\n", False),
        (r"^a\z", "a\n", False),
        (r"^a\z", "a", True),
        (r"^a\Z", "a\n", False),
        (r"[$]x", "$x", True),
        (r"[]$]", "$", True),
        (r"[^]$]", "$", False),
        (r"[[]$", "[", True),
        (r"[[]]$", "[]", True),
        (r"\$$", "cost $", True),
        (r"\$$", "cost $\n", False),
        (r"(?m)^a$", "a\nb", True),
        (r"usd|eur$", "eur\n", False),
    ],
)
def test_end_anchors_match_only_at_the_end_of_the_text(
    pattern: str, text: str, expected: bool
) -> None:
    assert matches(pattern, text) is expected


def test_the_match_is_an_unanchored_search() -> None:
    assert matches("USDT", "BTCUSDT") and matches("USDT", "USDTBTC")
    assert not matches("USDT", "BTCUSD")


# Patterns both engines accept but (untranscribed) read differently; the policy means `re`'s.
@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"a{e<=1}", "b"),  # `regex` fuzzy matching; a literal for `re`
        (r"a{e<=1}", "a{e<=1}"),
        (r"^x{1<=e<=2}", "x{1<=e<=2}"),
        (r"[[:alpha:]]", "x"),  # a POSIX class for `regex`; `[`, `:`, `a`… then `]` for `re`
        (r"[[:alpha:]]", ":]"),
        (r"(?x)a{ 2}", "a{2}"),  # verbose: not a repeat for `re`
        (r"(?x)a{ 2}", "aa"),
        (r"a{,3}b", "aab"),
        (r"a{,}b", "aaaab"),
        (r"a{}", "a{}"),
        (r"a{1, 2}", "a{1, 2}"),
        (r"a{2}", "aa"),
        (r"drop\stable", "drop\x1ctable"),  # `re`'s \s has U+001C..U+001F
        (r"drop[\s]table", "drop\x1ftable"),
        (r"^\S+$", "a\x1db"),
        (r"(?i)k", "\u212a"),  # Kelvin sign
        (r"(?i)s", "\u017f"),  # long s
        (r"(?i)ß", "SS"),
        (r"\d", "\u0663"),
        (r"[a&&b]", "&"),
        (r"[a||b]", "|"),
        (r"[a~~b]", "~"),
        (r"(?s)a.b", "a\nb"),
        (r"a.b", "a\nb"),
        (r"(?>a+)b", "aab"),
        (r"a++a", "aaa"),
        (r"(?P<x>a)(?P=x)", "aa"),
        (r"(?<=a)b", "ab"),
        (r"\bword\b", "a word."),
    ],
)
def test_a_pattern_means_what_it_means_to_python_re(pattern: str, text: str) -> None:
    with warnings.catch_warnings():  # `re` warns that `[[`, `&&`… may change meaning one day
        warnings.simplefilter("ignore", FutureWarning)
        expected = re.search(pattern, text) is not None
    assert matches(pattern, text) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"^\w+\Z", "e\u0301", True),  # a combining mark is a word character for `regex`
        (r"\w", "\u00b2", False),  # superscript two is not (it is for `re`)
        (r"\w", "\u203f", True),  # connector punctuation is
        (r"[\S]", "\x1c", True),  # `\S` inside a class: not transcribed
        (r"(?a)^\w+\Z", "e\u0301", False),  # ASCII mode agrees with `re` (and RE2)
        (r"^[A-Za-z0-9_]+\Z", "e\u0301", False),
    ],
)
def test_the_documented_differences_from_re_are_pinned(
    pattern: str, text: str, expected: bool
) -> None:
    assert matches(pattern, text) is expected


@pytest.mark.parametrize(
    "pattern", ["(unclosed", r"\p{L}", r"(?V1)a", r"(?r)a", r"\K", r"(?|a|b)", r"(?R)", r"[\d-z]"]
)
def test_a_pattern_python_re_rejects_is_rejected(pattern: str) -> None:
    with pytest.raises(re.error):
        compile_policy_regex(pattern)


def test_the_error_message_is_re_s_with_the_author_s_positions() -> None:
    with pytest.raises(re.error, match="missing \\), unterminated subpattern at position 2"):
        compile_policy_regex("a$([a-z]+")
