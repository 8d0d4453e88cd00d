"""Compiling policy regular expressions with the anchors policy authors expect.

Policies written for Intercept were checked by Go's RE2, where `$` (without the `m` flag) matches
only at the very end of the text. Python's `$` also matches just before a trailing newline, so
`^[A-Z]+USDT$` would admit `"BTCUSDT\\n"` — a bypass. Outside character classes, and unless the
pattern turns on multi-line mode, `$` is compiled as `\\Z`; Go's `\\z` (end of text) is accepted
as `\\Z` too.

Python's `re` backtracks, so a pattern meets a long argument with a cost that grows with its
length (quadratic for `.*x`, exponential for nested quantifiers such as `(a+)+`). A regex
condition therefore examines at most `REGEX_MAX_CHARS` characters: a longer string raises
`RegexInputTooLong`, which the evaluator turns into a denial of the call (fail closed, whatever
the condition's polarity, so neither `not` nor `deny_if` can be bypassed with a long value).
`toolgate validate` warns about the exponential shapes (`policy.lint_regex`).
"""

from __future__ import annotations

import re

_MULTILINE = re.compile(r"\(\?[a-zA-Z]*m")

#: The longest string a regex condition examines (characters); see the module docstring.
REGEX_MAX_CHARS = 4096


class RegexInputTooLong(Exception):  # noqa: N818 - a refusal, raised through a condition check
    """A string longer than `REGEX_MAX_CHARS` reached a regex condition."""

    def __init__(self, length: int) -> None:
        super().__init__(
            f"a value of {length} characters is longer than the {REGEX_MAX_CHARS} a regex "
            "condition examines"
        )


def compile_policy_regex(pattern: str) -> re.Pattern[str]:
    """Compile `pattern` with end-of-text anchors; raises re.error on a bad pattern."""
    return re.compile(_anchor_end(pattern, keep_dollar=bool(_MULTILINE.search(pattern))))


def _anchor_end(pattern: str, *, keep_dollar: bool) -> str:
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append("\\Z" if pair == "\\z" and not in_class else pair)
            i += 2
            continue
        if in_class:
            in_class = char != "]" or _class_opened_at(pattern, i)
        elif char == "[":
            in_class = True
        elif char == "$" and not keep_dollar:
            char = "\\Z"
        out.append(char)
        i += 1
    return "".join(out)


def _class_opened_at(pattern: str, i: int) -> bool:
    """A `]` right after `[` or `[^` is a literal member, not the end of the class."""
    return pattern[i - 1] == "[" or (pattern[i - 2 : i] == "[^" and i >= 2)
