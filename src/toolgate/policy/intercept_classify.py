"""The optional top-level `classify:` map: tool name or glob -> category (behind `tool.*` paths)."""

from __future__ import annotations

import re

from toolgate.policy.classify import CATEGORIES, NO_CLASSIFICATION, Classifier
from toolgate.policy.located import LScalar, describe
from toolgate.policy.schema import Fields, quoted, suggestion
from toolgate.policy.tool_globs import compile_glob, is_glob


def compile_classify(top: Fields) -> Classifier:
    node = top.mapping("classify")
    if node is None:
        return NO_CLASSIFICATION
    exact: dict[str, str] = {}
    globs: list[tuple[re.Pattern[str], str]] = []
    seen: set[str] = set()
    for key_node, value in node.entries:
        if not isinstance(key_node, LScalar) or not isinstance(key_node.value, str):
            top.issues.add(
                key_node, "classify", f"keys must be tool names, got {describe(key_node)}"
            )
            continue
        key = key_node.value
        path = f"classify.{key}"
        if key in seen:
            top.issues.add(key_node, "classify", f'"{key}" is classified twice')
            continue
        seen.add(key)
        category = value.value if isinstance(value, LScalar) else None
        if not isinstance(category, str) or category not in CATEGORIES:
            shown = f'"{category}"' if isinstance(category, str) else describe(value)
            hint = suggestion(category, CATEGORIES) if isinstance(category, str) else ""
            message = f"category must be one of {quoted(CATEGORIES)}, got {shown}{hint}"
            top.issues.add(value, path, message)
            continue
        if is_glob(key) or key == "*":
            globs.append(
                (compile_glob(key) if key != "*" else re.compile(".*", re.DOTALL), category)
            )
        else:
            exact[key] = category
    return Classifier(exact, tuple(globs))
