"""Lints against a tool catalogue: names and arguments the policy uses that no tool has.

A catalogue is a list of tool definitions (`name`, optional `inputSchema`). `catalogue_tools`
accepts a bare list, `{"tools": [...]}` as MCP `tools/list` results and the shared Binance
fixture carry it, and `toolgate scan --format json` output (no schemas there: only names are
checked then).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from toolgate.policy.lint import Finding, rule_segments, walk
from toolgate.policy.model import Condition, Policy
from toolgate.policy.tool_globs import WILDCARD, compile_glob, is_glob


@dataclass(frozen=True, slots=True)
class CatalogueTool:
    name: str
    arguments: frozenset[str] | None  # None: the schema declares no properties (anything goes)


def catalogue_tools(data: object) -> list[CatalogueTool]:
    """The tools of a catalogue document; ValueError when it has no list of named tools."""
    items = data.get("tools") if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise ValueError('expected a list of tools or an object with a "tools" list')
    tools = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ValueError('every tool must be an object with a "name" string')
        schema = item.get("inputSchema")
        props = schema.get("properties") if isinstance(schema, Mapping) else None
        arguments = frozenset(str(k) for k in props) if isinstance(props, Mapping) else None
        tools.append(CatalogueTool(item["name"], arguments))
    return tools


def lint_catalogue(policy: Policy, tools: list[CatalogueTool]) -> list[Finding]:
    names = {tool.name for tool in tools}
    findings = [
        Finding(("hide",), f'hide entry "{name}" matches no tool of the catalogue')
        for name in sorted(policy.hidden)
        if name not in names
    ]
    for key, rules in policy.tools.items():
        if key == WILDCARD:
            continue
        matching = _matching(key, tools)
        if not matching:
            kind = "glob" if is_glob(key) else "tool key"
            findings.append(
                Finding(("tools", key), f'{kind} "{key}" matches no tool of the catalogue')
            )
            continue
        for rule in rules:
            findings.extend(_unknown_arguments(rule_segments(rule), rule.conditions, matching))
    return findings


def _matching(key: str, tools: list[CatalogueTool]) -> list[CatalogueTool]:
    if not is_glob(key):
        return [tool for tool in tools if tool.name == key]
    pattern = compile_glob(key)
    return [tool for tool in tools if pattern.match(tool.name)]


def _unknown_arguments(
    where: tuple[str | int, ...], conditions: tuple[Condition, ...], tools: list[CatalogueTool]
) -> Iterator[Finding]:
    if any(tool.arguments is None for tool in tools):
        return
    known: frozenset[str] = frozenset().union(*(tool.arguments or frozenset() for tool in tools))
    for condition in conditions:
        for member in walk(condition):
            first = member.parts[0] if member.parts else None
            if isinstance(first, str) and first not in known:
                names = ", ".join(sorted(tool.name for tool in tools)[:3])
                yield Finding(
                    where,
                    f"reads args.{first}, an argument no matching tool declares ({names}): "
                    "the condition can never hold",
                )
