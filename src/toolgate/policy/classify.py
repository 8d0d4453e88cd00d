"""The tool classification behind `tool.category` and `tool.risk`.

The policy's optional top-level `classify:` map (tool name or glob -> category) is an explicit
override: an exact name wins over globs; among globs the first in file order wins. A tool the map
does not name takes the classification the gateway computed from its listed definition, which
arrives as data in the call's facts (`CallFacts.tool_classification`). A tool that neither
classifies has no category and no risk: conditions on `tool.category`/`tool.risk` read a missing
value (false, except `exists: false`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

CATEGORIES = ("read", "write", "execute", "destructive", "financial", "other")
RISK_OF: Mapping[str, str] = {
    "read": "low",
    "other": "low",
    "write": "medium",
    "execute": "high",
    "destructive": "critical",
    "financial": "critical",
}
CACHE_SIZE = 4096


class Classifier:
    """Category by tool name; glob results are cached per name (bounded)."""

    def __init__(
        self, exact: Mapping[str, str], globs: tuple[tuple[re.Pattern[str], str], ...]
    ) -> None:
        self._exact = dict(exact)
        self._globs = globs
        self._cache: dict[str, str | None] = {}

    def __bool__(self) -> bool:
        return bool(self._exact or self._globs)

    def category(self, tool: str) -> str | None:
        found = self._exact.get(tool)
        if found is not None or not self._globs:
            return found
        if tool in self._cache:
            return self._cache[tool]
        found = next((cat for pattern, cat in self._globs if pattern.match(tool)), None)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()  # rebuilt on demand; the policy's globs are cheap to rerun
        self._cache[tool] = found
        return found

    def risk(self, tool: str) -> str | None:
        category = self.category(tool)
        return RISK_OF[category] if category is not None else None

    def category_of(self, tool: str, computed: tuple[str, str] | None) -> str | None:
        """The map's category for `tool`, else the computed (category, risk) pair's category."""
        found = self.category(tool)
        if found is not None or computed is None:
            return found
        return computed[0]

    def risk_of(self, tool: str, computed: tuple[str, str] | None) -> str | None:
        """The risk of the map's category for `tool`, else the computed pair's risk."""
        found = self.risk(tool)
        if found is not None or computed is None:
            return found
        return computed[1]


NO_CLASSIFICATION = Classifier({}, ())
