"""Filtering a tools/list result while keeping every other field of it untouched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolgate.jsonrpc.message import encode


def filter_tools_response(response: dict[str, Any], visible: Callable[[str], bool]) -> bytes | None:
    """Drop the tools `visible` rejects from a tools/list response.

    Returns the new bytes, or None when nothing was dropped (forward the original bytes). Every
    other field — `nextCursor`, `_meta`, `ttlMs`, unknown fields, each tool's own fields — stays
    as it was; an entry that is not a named tool object is kept (it is the client's to judge).
    """
    result = response.get("result")
    if not isinstance(result, dict):
        return None
    tools = result.get("tools")
    if not isinstance(tools, list):
        return None
    kept = [t for t in tools if not _is_named(t) or visible(t["name"])]
    if len(kept) == len(tools):
        return None
    result["tools"] = kept
    if "resultType" in result or "cacheScope" in result:
        result["cacheScope"] = "private"  # a filtered 2026 list is not for a shared cache
    return encode(response)


def mark_private(response: dict[str, Any]) -> bytes | None:
    """Mark a 2026-07-28 list result `cacheScope: "private"` (it may differ per caller); None
    when it is not such a result or already says so."""
    result = response.get("result")
    if not isinstance(result, dict) or "resultType" not in result:
        return None
    if result.get("cacheScope") == "private":
        return None
    result["cacheScope"] = "private"
    return encode(response)


def _is_named(tool: object) -> bool:
    return isinstance(tool, dict) and isinstance(tool.get("name"), str)


def tool_names(response: dict[str, Any]) -> list[str]:
    """The names listed in a tools/list response (empty when it is not one)."""
    result = response.get("result")
    tools = result.get("tools") if isinstance(result, dict) else None
    if not isinstance(tools, list):
        return []
    return [t["name"] for t in tools if _is_named(t)]
