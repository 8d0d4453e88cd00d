"""The located document tree: what the YAML and JSON readers produce and the compilers read.

Every node carries the 1-based line and column where it starts, so that every validation error can
point at the exact spot in the policy file. Numbers that are not integers are kept as `Decimal`
built from their source text, so `0.1` in a policy is exactly one tenth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

#: A scalar as written: text, integer, exact decimal, boolean or null.
Scalar = str | int | Decimal | bool | None

#: Limits that keep hostile or broken files from exhausting memory or the stack.
MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_BYTES = 10 * 1024 * 1024


class SourceError(Exception):
    """A file could not be read as a document tree (syntax, encoding, size, nesting)."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


@dataclass(slots=True, eq=False)
class LScalar:
    value: Scalar
    line: int
    column: int


@dataclass(slots=True, eq=False)
class LSeq:
    line: int
    column: int
    items: list[LNode] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class LMap:
    """A mapping in source order; duplicate keys are kept so the validator can report them."""

    line: int
    column: int
    entries: list[tuple[LNode, LNode]] = field(default_factory=list)


LNode = LScalar | LSeq | LMap


def describe(node: LNode) -> str:
    """The kind of a node as a phrase for error messages ("a list", "an integer", ...)."""
    if isinstance(node, LMap):
        return "a mapping"
    if isinstance(node, LSeq):
        return "a list"
    return describe_value(node.value)


def describe_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, Decimal | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple | LSeq):
        return "a list"
    if isinstance(value, dict | LMap):
        return "a mapping"
    return type(value).__name__


def shown_value(node: LNode) -> str:
    """A scalar as it would be written in a message (strings quoted), else its kind."""
    if isinstance(node, LScalar) and isinstance(node.value, str):
        return f'"{node.value}"'
    if isinstance(node, LScalar) and isinstance(node.value, int | Decimal):
        return str(node.value)
    return describe(node)


def to_plain(node: LNode) -> object:
    """The node as plain immutable data (tuples for lists, dicts for mappings)."""
    if isinstance(node, LScalar):
        return node.value
    if isinstance(node, LSeq):
        return tuple(to_plain(item) for item in node.items)
    return {_key_text(k): to_plain(v) for k, v in node.entries}


def _key_text(node: LNode) -> str:
    return node.value if isinstance(node, LScalar) and isinstance(node.value, str) else repr(node)


def line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index into `text`."""
    line = text.count("\n", 0, index) + 1
    start = text.rfind("\n", 0, index) + 1
    return line, index - start + 1
