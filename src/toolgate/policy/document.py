"""What both dialects share at the top of a document: the version check, `hide`, and turning the
compiled tool entries into the per-tool plans and glob table the evaluator reads."""

from __future__ import annotations

from toolgate.policy.located import LNode, LScalar, describe, shown_value
from toolgate.policy.model import GlobEntry, Rule, ToolPlan, build_plans
from toolgate.policy.schema import Fields
from toolgate.policy.tool_globs import WILDCARD, compile_glob, is_glob


def check_version(top: Fields) -> None:
    """`version` is required and must be "1" (an unquoted `version: 1` is read as "1", as
    Intercept's Go loader reads it)."""
    version = top.require("version")
    if version is not None and not _is_version_one(version):
        top.error("version", f'version must be "1", got {shown_value(version)}')


def _is_version_one(node: LNode) -> bool:
    value = node.value if isinstance(node, LScalar) else None
    return value == "1" or (value == 1 and not isinstance(value, bool))


def compile_hide(top: Fields) -> frozenset[str]:
    """The `hide` list: tool names, each non-empty and listed once."""
    items = top.sequence("hide")
    names: set[str] = set()
    for index, item in enumerate(items.items if items else ()):
        where = f"hide[{index}]"
        if not isinstance(item, LScalar) or not isinstance(item.value, str):
            top.issues.add(item, where, f"must be a tool name, got {describe(item)}")
        elif not item.value.strip():
            top.issues.add(item, where, "must not be empty")
        elif item.value in names:
            top.issues.add(item, where, f'"{item.value}" is listed twice')
        else:
            names.add(item.value)
    return frozenset(names)


def tool_index(
    tools: dict[str, tuple[Rule, ...]],
) -> tuple[tuple[GlobEntry, ...], dict[str, ToolPlan], ToolPlan]:
    """(glob entries in file order, plans by exact tool name, the plan of unlisted tools).

    Without globs every plan is built now; with globs a tool's plan depends on which globs match
    its name, so plans are built (and cached) by the evaluator on first use.
    """
    globs = tuple(
        GlobEntry(key, compile_glob(key), rules) for key, rules in tools.items() if is_glob(key)
    )
    plans, unlisted = build_plans({} if globs else tools)
    if globs:
        unlisted = build_plans({WILDCARD: tools.get(WILDCARD, ())})[1]
    return globs, plans, unlisted
