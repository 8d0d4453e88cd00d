"""Policy regular expressions: `re` syntax, RE2 end anchors, and a bounded cost per match.

Syntax. A pattern is accepted exactly when Python's `re` accepts it (`re.error` otherwise, with
`re`'s message), and it means what it means to `re`. Matching runs on the `regex` module (PyPI),
whose matcher takes a per-match `timeout`; the pattern is transcribed first so that `regex` reads
it as `re` does (see `_transcribe`):
- a `{` that does not open a repeat (`{n}`, `{n,}`, `{,m}`, `{n,m}`) is a literal for `re` but
  may be fuzzy matching for `regex` (`a{e<=1}`): it is escaped;
- a `[` inside a class is a literal for `re` but a POSIX class for `regex` (`[[:alpha:]]`): it
  is escaped;
- `\\s` also matches U+001C..U+001F for `re` (`str.isspace`), not for `regex`: added back.
What remains different is documented in docs/policy.md: `regex`'s Unicode `\\w` (and so `\\W`,
`\\b`, `\\B`) also counts combining marks, connector punctuation and format characters as word
characters and no longer counts other-number characters (`²`, `½`); `\\S` inside a class
also matches U+001C..U+001F; and `regex` knows a newer Unicode version.

Anchors. Policies written for Intercept were checked by Go's RE2, where `$` (without the `m`
flag) matches only at the very end of the text. Python's `$` also matches just before a trailing
newline, so `^[A-Z]+USDT$` would admit `"BTCUSDT\\n"` — a bypass. Outside character classes, and
unless the pattern turns on multi-line mode, `$` is compiled as `\\Z`; Go's `\\z` (end of text) is
accepted as `\\Z` too. The match is an unanchored search.

Cost. A backtracking matcher meets some patterns with a cost that grows with the argument's
length: polynomially (`\\s*x$` is quadratic, `a*a*c$` cubic) or exponentially (`(a+)+$`,
`(a|a)*$`, on 30 characters). Two bounds apply, and each refuses the value rather than judging
it, which the evaluator turns into a denial of the call (fail closed, whatever the condition's
polarity, so neither `not` nor `deny_if` can be bypassed):
- a string longer than `REGEX_MAX_CHARS` characters is not examined (`RegexInputTooLong`);
- a match that runs longer than `REGEX_TIMEOUT_SECONDS` stops (`RegexTimedOut`).
The length bound keeps polynomial patterns deterministic: at 4,096 characters a quadratic
pattern finishes in about 40 ms on a laptop core, at 16,384 it would hit the timeout, so a
larger bound would turn legitimate long values into machine-speed-dependent denials.
`toolgate validate` warns about the exponential shapes (`policy.lint_regex`).
"""

from __future__ import annotations

import importlib
import re
import warnings
from typing import Any

# The `regex` module ships no type information; its surface used here is `compile`, `error`
# and `Pattern.search(string, pos, endpos, concurrent, partial, timeout)`.
_regex: Any = importlib.import_module("regex")

_MULTILINE = re.compile(r"\(\?[a-zA-Z]*m")
_REPEAT = re.compile(r"\{[0-9]*(?:,[0-9]*)?\}")
_SPACE_EXTRA = "\\x1c-\\x1f"  # what `re`'s \s matches beyond Unicode White_Space

#: The longest string a regex condition examines (characters); see the module docstring.
REGEX_MAX_CHARS = 4096
#: The longest a single regex match may run (seconds); see the module docstring.
REGEX_TIMEOUT_SECONDS = 0.05


class RegexInputTooLong(Exception):  # noqa: N818 - a refusal, raised through a condition check
    """A regex condition refused to judge a value: too long to examine in bounded time.

    The evaluator and the trace catch this class, so every refusal (`RegexTimedOut` too) is
    one of it.
    """

    def __init__(self, length: int) -> None:
        super().__init__(
            f"a value of {length} characters is longer than the {REGEX_MAX_CHARS} a regex "
            "condition examines"
        )


class RegexTimedOut(RegexInputTooLong):
    """A regex match ran out of its `REGEX_TIMEOUT_SECONDS`."""

    def __init__(self, length: int) -> None:
        Exception.__init__(
            self,
            f"a regex condition ran out of its {REGEX_TIMEOUT_SECONDS * 1000:g} ms time bound "
            f"on a value of {length} characters",
        )


class PolicyRegex:
    """A compiled policy pattern; `matches` searches a string under both bounds."""

    __slots__ = ("_search", "pattern")

    def __init__(self, pattern: str, search: Any) -> None:
        self.pattern = pattern
        self._search = search

    def matches(self, text: str) -> bool:
        """Whether the pattern matches somewhere in `text`; a refusal raises (see the module)."""
        if len(text) > REGEX_MAX_CHARS:
            raise RegexInputTooLong(len(text))
        try:  # positional arguments: the keyword form costs ~0.4 µs more per call
            return self._search(text, None, None, None, False, REGEX_TIMEOUT_SECONDS) is not None
        except TimeoutError:
            raise RegexTimedOut(len(text)) from None

    def __repr__(self) -> str:
        return f"PolicyRegex({self.pattern!r})"


def compile_policy_regex(pattern: str) -> PolicyRegex:
    """Compile `pattern` with end-of-text anchors; raises re.error on a bad pattern."""
    with warnings.catch_warnings():  # `[[`, `--`, `&&` in a class: `re`'s reading, pinned here
        warnings.simplefilter("ignore", FutureWarning)
        # The syntax (and the error message, positions included) is `re`'s, with Go's `\z`.
        re.compile(_transcribe(pattern, keep_dollar=True, for_engine=False))
    anchored = _transcribe(pattern, keep_dollar=bool(_MULTILINE.search(pattern)))
    try:
        compiled = _regex.compile(anchored)
    except _regex.error as exc:  # accepted by `re` but not by `regex`: refused all the same
        raise re.error(f"unsupported by the matching engine: {exc}") from None
    return PolicyRegex(pattern, compiled.search)


def _transcribe(pattern: str, *, keep_dollar: bool, for_engine: bool = True) -> str:
    """`pattern` for the `regex` engine, or (`for_engine=False`) only `\\z` made `\\Z`."""
    out: list[str] = []
    i, class_start = 0, -1  # class_start: where the open character class began, or -1
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            if for_engine:
                pair = _escape(pair, in_class=class_start >= 0)
            elif pair == "\\z" and class_start < 0:
                pair = "\\Z"
            out.append(pair)
            i += 2
            continue
        if class_start >= 0:
            if char == "]" and not _first_member(pattern, class_start, i):
                class_start = -1
            elif char == "[" and for_engine:
                char = "\\["
        elif char == "[":
            class_start = i
        elif char == "$" and not keep_dollar:
            char = "\\Z"
        elif char == "{" and for_engine and not _REPEAT.match(pattern, i):
            char = "\\{"
        out.append(char)
        i += 1
    return "".join(out)


def _escape(pair: str, *, in_class: bool) -> str:
    if pair == "\\s":
        return f"\\s{_SPACE_EXTRA}" if in_class else f"[\\s{_SPACE_EXTRA}]"
    if in_class:
        return pair
    if pair == "\\S":
        return f"[^\\s{_SPACE_EXTRA}]"
    return "\\Z" if pair == "\\z" else pair


def _first_member(pattern: str, start: int, i: int) -> bool:
    """A `]` right after `[` or `[^` is a literal member, not the end of the class."""
    return i == start + 1 or (i == start + 2 and pattern[start + 1] == "^")
