"""Writing YAML scalars and comments that read back exactly, whatever text a server sent.

Tool names, descriptions and evidence come from the server, so none of them is trusted to be
plain: a key is written plain only when YAML would read it back as the same string; anything else
is double-quoted with every non-printable or line-breaking character escaped. Comment text is
flattened to one printable line, so a description can never end a comment and start YAML.
"""

from __future__ import annotations

import re

PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
# Words YAML 1.1 (PyYAML) or 1.2 resolve to booleans or null when written plain.
RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
BREAKS = frozenset("\x85\u2028\u2029\ufeff")
COMMENT_LIMIT = 240


def printable(char: str) -> bool:
    """Characters YAML allows unescaped inside a double-quoted scalar on one line."""
    code = ord(char)
    if char in BREAKS:
        return False
    return (
        0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quoted(text: str) -> str:
    """A double-quoted YAML scalar that reads back as exactly `text`."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif printable(char):
            out.append(char)
        else:
            out.append(escape(char))
    return '"' + "".join(out) + '"'


def scalar(text: str) -> str:
    """`text` plain when that is safe, else quoted."""
    if PLAIN.match(text) and text.lower() not in RESERVED:
        return text
    return quoted(text)


def one_line(text: str, limit: int = COMMENT_LIMIT) -> str:
    """Text fit for a comment: one line, printable, at most `limit` characters."""
    flat = "".join(char if printable(char) else " " for char in text)
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def comment(text: str, indent: int) -> str:
    return " " * indent + "# " + one_line(text)
