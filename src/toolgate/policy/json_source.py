"""Reading JSON text into the located tree with a small strict parser.

The standard `json` module gives no positions, and running JSON through the YAML parser changes
its meaning in corner cases (YAML 1.1 numbers, tab handling, surrogate escapes). This parser is
strict RFC 8259 JSON, recursive but bounded in depth, and reuses the standard library's
string scanner so escapes decode exactly as `json.loads` decodes them.
"""

from __future__ import annotations

import bisect
import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]  # public, not in typeshed

from toolgate.policy.located import (
    MAX_DEPTH,
    MAX_NODES,
    LMap,
    LNode,
    LScalar,
    LSeq,
    SourceError,
)
from toolgate.policy.yaml_source import number_from_text

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}


class _JsonReader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.nodes = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, index)
        return line, index - self.line_starts[line - 1] + 1

    def fail(self, index: int, message: str) -> SourceError:
        line, column = self.position(index)
        return SourceError(line, column, f"JSON syntax error: {message}")

    def skip(self, index: int) -> int:
        match = _WHITESPACE.match(self.text, index)
        return match.end() if match else index

    def document(self) -> LNode | None:
        start = self.skip(0)
        if start == len(self.text):
            return None
        node, end = self.value(start, 0)
        end = self.skip(end)
        if end != len(self.text):
            raise self.fail(end, "unexpected data after the JSON value")
        return node

    def value(self, index: int, depth: int) -> tuple[LNode, int]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(index, f"document too large (over {MAX_NODES} nodes)")
        line, column = self.position(index)
        char = self.text[index : index + 1]
        if char in ("{", "["):
            if depth >= MAX_DEPTH:
                raise SourceError(line, column, f"nesting deeper than {MAX_DEPTH} levels")
            if char == "{":
                return self.mapping(index, depth, LMap(line, column))
            return self.sequence(index, depth, LSeq(line, column))
        if char == '"':
            text, end = self.string(index)
            return LScalar(text, line, column), end
        number = _NUMBER.match(self.text, index)
        if number and number.end() > index:
            try:
                value = number_from_text(number.group())
            except ValueError as exc:
                raise SourceError(line, column, str(exc)) from None
            return LScalar(value, line, column), number.end()
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, index):
                return LScalar(literal, line, column), index + len(word)
        raise self.fail(index, "expected a JSON value" if char else "unexpected end of input")

    def string(self, index: int) -> tuple[str, int]:
        try:
            decoded: tuple[str, int] = scanstring(self.text, index + 1, True)
            return decoded
        except json.JSONDecodeError as exc:
            raise self.fail(exc.pos, exc.msg) from None

    def mapping(self, index: int, depth: int, node: LMap) -> tuple[LNode, int]:
        index = self.skip(index + 1)
        if self.text.startswith("}", index):
            return node, index + 1
        while True:
            if not self.text.startswith('"', index):
                raise self.fail(index, "expected a string key in double quotes")
            line, column = self.position(index)
            key, index = self.string(index)
            index = self.skip(index)
            if not self.text.startswith(":", index):
                raise self.fail(index, "expected ':' after the key")
            value, index = self.value(self.skip(index + 1), depth + 1)
            node.entries.append((LScalar(key, line, column), value))
            index = self.skip(index)
            if self.text.startswith("}", index):
                return node, index + 1
            if not self.text.startswith(",", index):
                raise self.fail(index, "expected ',' or '}'")
            index = self.skip(index + 1)

    def sequence(self, index: int, depth: int, node: LSeq) -> tuple[LNode, int]:
        index = self.skip(index + 1)
        if self.text.startswith("]", index):
            return node, index + 1
        while True:
            item, index = self.value(index, depth + 1)
            node.items.append(item)
            index = self.skip(index)
            if self.text.startswith("]", index):
                return node, index + 1
            if not self.text.startswith(",", index):
                raise self.fail(index, "expected ',' or ']'")
            index = self.skip(index + 1)


def parse_json(text: str) -> LNode | None:
    """The JSON value of `text` as a located tree; None when the text is only whitespace."""
    return _JsonReader(text).document()
