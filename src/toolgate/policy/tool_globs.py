"""Tool-name patterns: which keys are globs, and matching a tool name against one.

A key is a glob when it contains `*` or `?` and is not the lone `"*"` (which keeps its Dialect A
meaning: every tool, without listing any). `*` matches any run of characters (dots included),
`?` exactly one; everything else, brackets included, is literal, so tool names that contain `[`
never turn into character classes by accident. Matching is case-sensitive and whole-name.
"""

from __future__ import annotations

import re

WILDCARD = "*"


def is_glob(key: str) -> bool:
    return key != WILDCARD and ("*" in key or "?" in key)


def compile_glob(key: str) -> re.Pattern[str]:
    """The whole-name, case-sensitive regular expression for a glob key."""
    pieces: list[str] = []
    for char in key:
        if char == "*":
            if not pieces or pieces[-1] != ".*":  # `**` is `*`: no needless backtracking
                pieces.append(".*")
        elif char == "?":
            pieces.append(".")
        else:
            pieces.append(re.escape(char))
    return re.compile("".join(pieces) + r"\Z", re.DOTALL)
