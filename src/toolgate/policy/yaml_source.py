"""Reading YAML text into the located tree, from the parser's event stream.

Why events rather than `yaml.compose` or `yaml.safe_load`: building the tree ourselves is iterative
(no recursion, so absurd nesting is refused at a fixed depth instead of exhausting the stack), keeps
every duplicate key for the validator, and lets plain scalars follow the YAML 1.2 core schema that
Intercept's Go parser uses (`on`, `yes`, `no` stay strings; `1e3` is a number), not PyYAML's 1.1.
Aliases are supported but their expansion counts against the node limit ("billion laughs").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import yaml

from toolgate.policy.located import (
    MAX_DEPTH,
    MAX_NODES,
    LMap,
    LNode,
    LScalar,
    LSeq,
    Scalar,
    SourceError,
    line_column,
)

try:  # the libyaml parser is much faster; the pure-Python one behaves the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_STANDARD_TAG = "tag:yaml.org,2002:"
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES = frozenset({"true", "True", "TRUE"})
_FALSES = frozenset({"false", "False", "FALSE"})
_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"([-+]?)\.(?:inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)\Z")


MAX_MAGNITUDE = 1000  # decimal exponent; beyond it a policy number is a mistake or an attack


def number_from_text(text: str) -> int | Decimal:
    """An integer literal as `int`, anything else numeric as an exact `Decimal`.

    ValueError when the magnitude is absurd (`1e999999999`), which exact arithmetic cannot bear.
    """
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"number out of range: {text[:40]}") from None
    if number.is_finite() and number and abs(number.adjusted()) > MAX_MAGNITUDE:
        raise ValueError(f"number out of range: {text[:40]}")
    if _INT.match(text) and len(text) <= MAX_MAGNITUDE:
        return int(text)
    return number


def resolve_plain(text: str) -> Scalar:
    """The value of an unquoted scalar under the YAML 1.2 core schema."""
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    if _INT.match(text) or _FLOAT.match(text):
        return number_from_text(text)
    if text.startswith(("0o", "0x")):
        try:
            number = int(text[2:], 8 if text[1] == "o" else 16)
        except ValueError:
            return text
        return number_from_text(str(number)) if len(text) <= MAX_MAGNITUDE else text
    if inf := _INF.match(text):
        return Decimal(f"{inf.group(1)}Infinity")
    if _NAN.match(text):
        return Decimal("NaN")
    return text


@dataclass(slots=True)
class _Frame:
    node: LMap | LSeq
    anchor: str | None
    nodes_at_start: int
    key: LNode | None = None


class _TreeBuilder:
    def __init__(self) -> None:
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[LNode, int]] = {}
        self.nodes = 0
        self.root: LNode | None = None
        self.documents = 0

    def feed(self, event: yaml.Event) -> None:
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise SourceError(line, column, "a policy file must hold a single YAML document")
        elif isinstance(event, yaml.ScalarEvent):
            node = LScalar(_scalar_value(event, line, column), line, column)
            self._count(1, line, column)
            self._remember(event.anchor, node, 1)
            self._add(node)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._open(event, line, column)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            frame = self.stack.pop()
            self._remember(frame.anchor, frame.node, self.nodes - frame.nodes_at_start)
            self._add(frame.node)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event.anchor or "", line, column)

    def _open(self, event: yaml.CollectionStartEvent, line: int, column: int) -> None:
        _check_tag(event.tag, line, column)
        if len(self.stack) >= MAX_DEPTH:
            raise SourceError(line, column, f"nesting deeper than {MAX_DEPTH} levels")
        self._count(1, line, column)
        container: LMap | LSeq
        if isinstance(event, yaml.MappingStartEvent):
            container = LMap(line, column)
        else:
            container = LSeq(line, column)
        self.stack.append(_Frame(container, event.anchor, self.nodes - 1))

    def _alias(self, anchor: str, line: int, column: int) -> None:
        if anchor not in self.anchors:
            raise SourceError(line, column, f'alias "*{anchor}" refers to no finished anchor')
        node, size = self.anchors[anchor]
        self._count(size, line, column)
        self._add(node)

    def _remember(self, anchor: str | None, node: LNode, size: int) -> None:
        if anchor:
            self.anchors[anchor] = (node, size)

    def _count(self, size: int, line: int, column: int) -> None:
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise SourceError(line, column, f"document too large (over {MAX_NODES} nodes)")

    def _add(self, node: LNode) -> None:
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        if isinstance(frame.node, LSeq):
            frame.node.items.append(node)
        elif frame.key is None:
            frame.key = node
        else:
            frame.node.entries.append((frame.key, node))
            frame.key = None


def _check_tag(tag: str | None, line: int, column: int) -> None:
    if tag is not None and tag != "!" and not tag.startswith(_STANDARD_TAG):
        raise SourceError(line, column, f'unsupported YAML tag "{tag}"')


def _scalar_value(event: yaml.ScalarEvent, line: int, column: int) -> Scalar:
    _check_tag(event.tag, line, column)
    if event.tag == _STANDARD_TAG + "str":
        return event.value
    if event.style in (None, "") and (event.implicit[0] or event.tag is not None):
        try:
            return resolve_plain(event.value)
        except ValueError as exc:
            raise SourceError(line, column, str(exc)) from None
    return event.value


def parse_yaml(text: str) -> LNode | None:
    """The single document of `text` as a located tree; None when the file holds no document."""
    builder = _TreeBuilder()
    try:
        for event in yaml.parse(text, Loader=_Loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(text, exc) from None
    except yaml.reader.ReaderError as exc:
        line, column = line_column(text, exc.position)
        raise SourceError(line, column, f"invalid character in YAML: {exc.reason}") from None
    except yaml.YAMLError as exc:  # pragma: no cover - every parser error is one of the above
        raise SourceError(1, 1, f"YAML error: {exc}") from None
    return builder.root


def _syntax_error(text: str, exc: yaml.MarkedYAMLError) -> SourceError:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "invalid YAML"
    message = f"YAML syntax error: {problem}"
    if exc.context:
        message += f" ({exc.context})"
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        message += "; tabs cannot be used for indentation"
    return SourceError(line, column, message)
