"""The run-time classification behind `tool.category` / `tool.risk`: the tool definitions this
session's tools/list responses held, classified on first use by the catalogue's classifier.

Bounded: at most `MAX_TOOLS` definitions are kept (a tool first listed after that stays
unclassified); a definition listed again replaces the kept one and drops its cached verdict. A
tool never listed in this session has no classification, so conditions on it read as missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MAX_TOOLS = 10_000


class ToolClasses:
    def __init__(self, limit: int = MAX_TOOLS) -> None:
        self.limit = limit
        self._definitions: dict[str, Mapping[str, Any]] = {}
        self._verdicts: dict[str, tuple[str, str]] = {}

    def observe(self, response: Mapping[str, Any]) -> None:
        """Keep the named tool definitions of one tools/list response (one page)."""
        result = response.get("result")
        tools = result.get("tools") if isinstance(result, Mapping) else None
        if isinstance(tools, list):
            self.keep(tools)

    def keep(self, tools: Iterable[object]) -> None:
        for tool in tools:
            if not isinstance(tool, Mapping):
                continue
            name = tool.get("name")
            if not isinstance(name, str):
                continue
            if name not in self._definitions and len(self._definitions) >= self.limit:
                continue
            if self._definitions.get(name) != tool:
                self._definitions[name] = tool
                self._verdicts.pop(name, None)

    def classification(self, tool: str) -> tuple[str, str] | None:
        """(category, risk) for a tool listed in this session, else None."""
        found = self._verdicts.get(tool)
        if found is not None:
            return found
        definition = self._definitions.get(tool)
        if definition is None:
            return None
        # The classifier's vocabulary is only loaded by policies that read tool classes.
        from toolgate.catalog.classify import classify_tool  # noqa: PLC0415

        verdict = classify_tool(definition)
        found = (verdict.category.value, verdict.band.value)
        self._verdicts[tool] = found
        return found

    def __len__(self) -> int:
        return len(self._definitions)
