"""Locating lint findings in the policy's source: the line and column of a document path."""

from __future__ import annotations

from collections.abc import Sequence

from toolgate.policy.json_source import parse_json
from toolgate.policy.located import LMap, LNode, LScalar, LSeq, SourceError
from toolgate.policy.yaml_source import parse_yaml


def source_tree(text: str, file: str) -> LNode | None:
    """The located document (None when it cannot be parsed: then findings sit at 1:1)."""
    try:
        return parse_json(text) if file.lower().endswith(".json") else parse_yaml(text)
    except SourceError:
        return None


def locate(root: LNode | None, segments: Sequence[str | int]) -> tuple[int, int]:
    """The deepest node along `segments` that exists; (1, 1) without a document."""
    if root is None:
        return 1, 1
    node = root
    for segment in segments:
        child = _child(node, segment)
        if child is None:
            break
        node = child
    return node.line, node.column


def _child(node: LNode, segment: str | int) -> LNode | None:
    if isinstance(node, LSeq) and isinstance(segment, int) and 0 <= segment < len(node.items):
        return node.items[segment]
    if isinstance(node, LMap):
        for key, value in node.entries:
            if isinstance(key, LScalar) and key.value == segment:
                return value
    return None
